package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

var errBoom = errors.New("boom: the function failed on purpose")

func testTxErrorRollsBack(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var siteID int64
	err := s.InTx(ctx, func(tx store.Tx) error {
		site := newSite(t, tx, "doomed")
		siteID = site.ID
		m := textMsg(b.conv.ID, "doomed", at(time.Hour))
		noErr(t, "AppendMessage", tx.AppendMessage(ctx, &m))
		noErr(t, "SetTags", tx.SetTags(ctx, b.conv.ID, []string{"doomed"}))
		return errBoom
	})
	if err != errBoom { //nolint:errorlint // InTx returns fn's error unchanged
		t.Fatalf("InTx returned %v, want fn's error unchanged", err)
	}
	_, err = s.GetSite(ctx, siteID)
	wantCode(t, "site of a failed transaction", err, "site_not_found")
	c := must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, b.conv.ID))
	eq(t, "LastSeq after failed append", c.LastSeq, int64(0))
	eq(t, "Tags after failed SetTags", c.Tags, []string{})
	eq(t, "UpdatedAt after failed append", c.UpdatedAt, b.conv.UpdatedAt)

	// A typed error is returned unchanged too, and the next append still
	// gets seq 1.
	m := appendMsg(t, s, textMsg(b.conv.ID, "ok", at(time.Minute)))
	eq(t, "seq after failed transaction", m.Seq, int64(1))
}

// testTxErrorIsolatedInBatch: concurrent transactions, half of them failing
// after writing; only the failing ones' writes vanish, whatever batches an
// implementation forms.
func testTxErrorIsolatedInBatch(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	const n = 64
	var wg sync.WaitGroup
	type result struct {
		seq int64
		err error
	}
	results := make([]result, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fail := fmt.Errorf("call %d fails: %w", i, errBoom)
			var seq int64
			err := s.InTx(ctx, func(tx store.Tx) error {
				m := textMsg(b.conv.ID, fmt.Sprintf("call %d", i), at(time.Duration(i)*time.Second))
				m.ClientID = fmt.Sprintf("call-%d", i)
				if err := tx.AppendMessage(ctx, &m); err != nil {
					return err
				}
				c := model.Contact{SiteID: b.site.ID, Name: fmt.Sprintf("call-%d", i)}
				if err := tx.CreateContact(ctx, &c); err != nil {
					return err
				}
				seq = m.Seq
				if i%2 == 1 {
					return fail
				}
				return nil
			})
			if i%2 == 1 {
				if err != fail { //nolint:errorlint // unchanged
					t.Errorf("call %d: InTx returned %v, want its fn's error", i, err)
				}
				return
			}
			results[i] = result{seq: seq, err: err}
		}()
	}
	close(start)
	wg.Wait()

	var acked []int64
	for i := 0; i < n; i += 2 {
		if results[i].err != nil {
			t.Fatalf("call %d: %v", i, results[i].err)
		}
		acked = append(acked, results[i].seq)
	}
	slices.Sort(acked)
	want := make([]int64, n/2)
	for i := range want {
		want[i] = int64(i + 1)
	}
	eq(t, "acked seqs are exactly 1..n/2", acked, want)

	ms := must[[]model.Message](t, "ListMessages")(s.ListMessages(ctx, store.MessageQuery{ConversationID: b.conv.ID, Limit: 1000}))
	eq(t, "stored messages", len(ms), n/2)
	for i, m := range ms {
		var call int
		if _, err := fmt.Sscanf(m.ClientID, "call-%d", &call); err != nil || call%2 == 1 {
			t.Errorf("stored message %q from a failed call", m.ClientID)
		}
		if m.Seq != int64(i+1) {
			t.Errorf("gap: message %d has seq %d", i, m.Seq)
		}
	}
	eq(t, "LastSeq", must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, b.conv.ID)).LastSeq, int64(n/2))
	for i := range n {
		_, err := s.GetMessageByClientID(ctx, b.conv.ID, model.PartyVisitor, 1, fmt.Sprintf("call-%d", i))
		if i%2 == 1 {
			wantCode(t, "message of a failed call", err, "message_not_found")
		} else if err != nil {
			t.Errorf("message of call %d: %v", i, err)
		}
	}
}

func testOnCommit(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)

	// Callbacks run after commit (the data is visible to readers), before
	// InTx returns, in registration order.
	var order []string
	var visible bool
	var m model.Message
	inTx(t, s, func(tx store.Tx) error {
		m = textMsg(b.conv.ID, "x", t0)
		if err := tx.AppendMessage(ctx, &m); err != nil {
			return err
		}
		tx.OnCommit(func() {
			order = append(order, "first")
			ms, err := s.ListMessages(context.Background(), store.MessageQuery{ConversationID: b.conv.ID})
			visible = err == nil && len(ms) == 1 && ms[0].ID == m.ID
		})
		tx.OnCommit(func() { order = append(order, "second") })
		if len(order) != 0 {
			t.Errorf("OnCommit callback ran before the function returned")
		}
		return nil
	})
	eq(t, "callbacks ran, in order, before InTx returned", order, []string{"first", "second"})
	if !visible {
		t.Errorf("the committed message was not visible to readers from the OnCommit callback")
	}

	// Never for a failed function.
	var ran atomic.Bool
	err := s.InTx(ctx, func(tx store.Tx) error {
		tx.OnCommit(func() { ran.Store(true) })
		return errBoom
	})
	if err != errBoom { //nolint:errorlint // unchanged
		t.Fatalf("InTx returned %v, want errBoom", err)
	}
	// Nor for a failed one batched with successful ones.
	var wg sync.WaitGroup
	var okRuns atomic.Int64
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.InTx(ctx, func(tx store.Tx) error {
				if i%2 == 0 {
					tx.OnCommit(func() { okRuns.Add(1) })
					return nil
				}
				tx.OnCommit(func() { ran.Store(true) })
				return errBoom
			})
		}()
	}
	wg.Wait()
	if ran.Load() {
		t.Errorf("an OnCommit callback of a failed function ran")
	}
	eq(t, "callbacks of successful functions", okRuns.Load(), int64(10))
}

// testOnCommitOrder: callbacks run in commit order, so publishing from them
// publishes a conversation's messages in seq order.
func testOnCommitOrder(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	const writers, each = 16, 20
	var mu sync.Mutex
	var published []int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := s.InTx(ctx, func(tx store.Tx) error {
					m := textMsg(b.conv.ID, fmt.Sprintf("w%d-%d", w, i), t0)
					if err := tx.AppendMessage(ctx, &m); err != nil {
						return err
					}
					tx.OnCommit(func() {
						mu.Lock()
						published = append(published, m.Seq)
						mu.Unlock()
					})
					return nil
				})
				if err != nil {
					t.Errorf("InTx: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want := make([]int64, writers*each)
	for i := range want {
		want[i] = int64(i + 1)
	}
	eq(t, "published in seq order", published, want)
}

func testContextCancelled(t *testing.T, s store.Store) {
	b := newBase(t, s)
	ctx, cancel := context.WithCancel(ctxOf(t))
	cancel()
	var ran atomic.Bool
	err := s.InTx(ctx, func(tx store.Tx) error {
		ran.Store(true)
		m := textMsg(b.conv.ID, "never", t0)
		return tx.AppendMessage(context.Background(), &m)
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("InTx with a cancelled context returned %v, want context.Canceled", err)
	}
	if ran.Load() {
		t.Errorf("fn ran although the context was cancelled")
	}
	dctx, dcancel := context.WithDeadline(ctxOf(t), time.Now().Add(-time.Second))
	defer dcancel()
	err = s.InTx(dctx, func(tx store.Tx) error { ran.Store(true); return nil })
	if !errors.Is(err, context.DeadlineExceeded) || ran.Load() {
		t.Errorf("InTx with an expired context: err %v, ran %v", err, ran.Load())
	}
	eq(t, "LastSeq", must[model.Conversation](t, "GetConversation")(s.GetConversation(ctxOf(t), b.conv.ID)).LastSeq, int64(0))
}

func testReadYourWrites(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	inTx(t, s, func(tx store.Tx) error {
		site := newSite(t, tx, "fresh")
		eq(t, "GetSite inside tx", try[model.Site](t, "GetSite")(tx.GetSite(ctx, site.ID)), site)
		eq(t, "GetSiteByKey inside tx", try[model.Site](t, "GetSiteByKey")(tx.GetSiteByKey(ctx, "fresh")), site)
		// Readers outside see committed data only.
		_, err := s.GetSite(ctx, site.ID)
		wantCode(t, "GetSite outside the tx before commit", err, "site_not_found")

		noErr(t, "SetTags", tx.SetTags(ctx, b.conv.ID, []string{"seen"}))
		m := textMsg(b.conv.ID, "mine", at(time.Minute))
		noErr(t, "AppendMessage", tx.AppendMessage(ctx, &m))
		c := try[model.Conversation](t, "GetConversation")(tx.GetConversation(ctx, b.conv.ID))
		eq(t, "LastSeq inside tx", c.LastSeq, int64(1))
		eq(t, "Tags inside tx", c.Tags, []string{"seen"})
		ms := try[[]model.Message](t, "ListMessages")(tx.ListMessages(ctx, store.MessageQuery{ConversationID: b.conv.ID}))
		eq(t, "ListMessages inside tx", ms, []model.Message{m})
		p := try[store.ConversationPage](t, "ListConversations")(tx.ListConversations(ctx, store.ConversationFilter{Tag: "seen"}))
		if len(p.Conversations) != 1 || p.Conversations[0].ID != b.conv.ID {
			t.Errorf("ListConversations inside tx: %+v", p.Conversations)
		}
		u := newUser(t, tx, "Fresh@Example.com")
		eq(t, "GetUserByEmail inside tx", try[model.User](t, "GetUserByEmail")(tx.GetUserByEmail(ctx, "fresh@example.com")), u)
		return nil
	})
	must[model.Site](t, "GetSite after commit")(s.GetSite(ctx, must[model.Site](t, "GetSiteByKey")(s.GetSiteByKey(ctx, "fresh")).ID))
}

func testEpochAndPing(t *testing.T, s store.Store) {
	e := s.Epoch()
	if len(e) < 16 {
		t.Errorf("Epoch %q: want a long random identifier", e)
	}
	b := newBase(t, s)
	appendMsg(t, s, textMsg(b.conv.ID, "x", t0))
	if s.Epoch() != e {
		t.Errorf("Epoch changed from %q to %q", e, s.Epoch())
	}
	if err := s.Ping(ctxOf(t)); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

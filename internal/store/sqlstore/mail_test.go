package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore/pgtest"
)

// enqueueMails queues n mails of conv, all due at due, with keys prefix-i.
func enqueueMails(t *testing.T, s store.Store, convID int64, prefix string, n int, due time.Time) []int64 {
	t.Helper()
	ids := make([]int64, 0, n)
	err := s.InTx(context.Background(), func(tx store.Tx) error {
		for i := range n {
			m := model.OutboxMail{ConversationID: convID, Kind: "reply", DedupeKey: fmt.Sprintf("%s-%d", prefix, i),
				From: "bounces@example.com", To: "ada@example.com", Body: []byte("body"), NextAttemptAt: due}
			if err := tx.EnqueueMail(context.Background(), &m); err != nil {
				return err
			}
			ids = append(ids, m.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return ids
}

// TestClaimDueMailUsesIndex: the claim reads the due range of outbox_due in
// order, up to the limit, without sorting the outbox.
func TestClaimDueMailUsesIndex(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "switchboard.db"), Options{})
	plan := strings.Join(sqlitePlan(t, s.r, dueMailQuery, "email", "pending", 1, 1, 10), "\n")
	if !strings.Contains(plan, "USING INDEX outbox_due (transport=? AND state=? AND next_attempt_at<?)") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan of the claim:\n%s\nwant an ordered range of outbox_due", plan)
	}
	plan = strings.Join(sqlitePlan(t, s.r, "SELECT "+outboxCols+" FROM outbox WHERE conversation_id = ? ORDER BY id", 1), "\n")
	if !strings.Contains(plan, "outbox_conversation") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan of ListMail:\n%s\nwant outbox_conversation in order", plan)
	}
}

// TestPostgresClaimSkipsLocked: while node A's transaction holds the mails
// it is claiming, node B claims the others at once, without waiting for A,
// and never one of A's.
func TestPostgresClaimSkipsLocked(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	_, conv := fixture(t, a)
	now := time.Now().UTC().Truncate(time.Microsecond)
	all := enqueueMails(t, a, conv.ID, "m", 6, now)

	claimed := make(chan []int64, 1)
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseA := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseA)
	aDone := make(chan error, 1)
	go func() {
		aDone <- a.InTx(ctx, func(tx store.Tx) error {
			ms, err := tx.ClaimDueMail(ctx, "email", "A", now, now.Add(time.Hour), 3)
			if err != nil {
				return err
			}
			ids := []int64{}
			for _, m := range ms {
				ids = append(ids, m.ID)
			}
			claimed <- ids
			<-release
			return nil
		})
	}()
	idsA := <-claimed

	var idsB []int64
	err := b.InTx(ctx, func(tx store.Tx) error {
		ms, err := tx.ClaimDueMail(ctx, "email", "B", now, now.Add(time.Hour), 10)
		for _, m := range ms {
			idsB = append(idsB, m.ID)
		}
		return err
	})
	releaseA()
	if err != nil {
		t.Fatalf("node B claims while A holds its rows: %v", err)
	}
	if err := <-aDone; err != nil {
		t.Fatalf("node A: %v", err)
	}
	if !slices.Equal(idsA, all[:3]) || !slices.Equal(idsB, all[3:]) {
		t.Errorf("claims: node A %v, node B %v; want %v and %v", idsA, idsB, all[:3], all[3:])
	}
	// A committed its leases: nothing is left for anyone.
	var left []model.OutboxMail
	if err := b.InTx(ctx, func(tx store.Tx) error {
		var err error
		left, err = tx.ClaimDueMail(ctx, "email", "C", now, now.Add(time.Hour), 10)
		return err
	}); err != nil || len(left) != 0 {
		t.Errorf("claim after both: %d mails, %v; want none", len(left), err)
	}
}

// TestPostgresClaimConcurrent: several senders on two nodes claim the same
// outbox at once until it is empty; every mail is claimed exactly once.
func TestPostgresClaimConcurrent(t *testing.T) {
	ctx := context.Background()
	a, b := twoNodes(t)
	_, conv := fixture(t, a)
	now := time.Now().UTC().Truncate(time.Microsecond)
	const n = 400
	all := enqueueMails(t, a, conv.ID, "c", n, now)

	var mu sync.Mutex
	owner := map[int64]string{}
	var dups []string
	var wg sync.WaitGroup
	for node, s := range map[string]*Store{"a": a, "b": b} {
		for g := range 4 {
			by := fmt.Sprintf("%s%d", node, g)
			wg.Go(func() {
				for {
					var ms []model.OutboxMail
					err := s.InTx(ctx, func(tx store.Tx) error {
						var err error
						ms, err = tx.ClaimDueMail(ctx, "email", by, now, now.Add(time.Hour), 7)
						return err
					})
					if err != nil {
						t.Errorf("%s: ClaimDueMail: %v", by, err)
						return
					}
					if len(ms) == 0 {
						return
					}
					mu.Lock()
					for _, m := range ms {
						if m.LeaseBy != by {
							t.Errorf("%s: mail %d leased by %q", by, m.ID, m.LeaseBy)
						}
						if prev, ok := owner[m.ID]; ok {
							dups = append(dups, fmt.Sprintf("mail %d: %s and %s", m.ID, prev, by))
						}
						owner[m.ID] = by
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(dups) > 0 {
		t.Fatalf("mails claimed twice while leased:\n%s", strings.Join(dups, "\n"))
	}
	if len(owner) != n {
		t.Errorf("%d of %d mails claimed", len(owner), n)
	}
	// The store agrees with the claimers.
	ms, err := a.ListMail(ctx, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	byNode := map[string]int{}
	for _, m := range ms {
		if owner[m.ID] != m.LeaseBy {
			t.Errorf("mail %d: stored lease %q, claimed by %q", m.ID, m.LeaseBy, owner[m.ID])
		}
		if m.LeaseBy != "" {
			byNode[m.LeaseBy[:1]]++
		}
	}
	if len(ms) != len(all) {
		t.Errorf("ListMail: %d mails, want %d", len(ms), len(all))
	}
	t.Logf("claimed per node: %v", byNode)
}

// TestPostgresEnqueueDuplicateAcrossNodes: node B queues a mail with the
// dedupe key of a mail that node A is queuing in a transaction still open.
// B waits for A; if A commits, B is told mail_already_queued with its
// transaction intact (its later writes commit); if A rolls back, B's mail
// is queued.
func TestPostgresEnqueueDuplicateAcrossNodes(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("first commits %v", commit), func(t *testing.T) {
			ctx := context.Background()
			a, b := twoNodes(t)
			_, conv := fixture(t, a)
			mail := func(to string) model.OutboxMail {
				return model.OutboxMail{ConversationID: conv.ID, Kind: "transcript", DedupeKey: "transcript:1",
					From: "bounces@example.com", To: to, Body: []byte("x")}
			}
			errRollback := errors.New("roll back")
			queued := make(chan struct{})
			release := make(chan struct{})
			var releaseOnce sync.Once
			releaseA := func() { releaseOnce.Do(func() { close(release) }) }
			t.Cleanup(releaseA)
			aDone := make(chan error, 1)
			go func() {
				aDone <- a.InTx(ctx, func(tx store.Tx) error {
					m := mail("a@example.com")
					if err := tx.EnqueueMail(ctx, &m); err != nil {
						return err
					}
					close(queued)
					<-release
					if !commit {
						return errRollback
					}
					return nil
				})
			}()
			<-queued
			var enqueueErr error
			bDone := make(chan error, 1)
			go func() {
				bDone <- b.InTx(ctx, func(tx store.Tx) error {
					m := mail("b@example.com")
					enqueueErr = tx.EnqueueMail(ctx, &m)
					if enqueueErr != nil && !apperr.IsConflict(enqueueErr) {
						return enqueueErr
					}
					// The transaction is usable either way.
					other := model.OutboxMail{ConversationID: conv.ID, Kind: "reply", DedupeKey: "reply:1",
						From: "bounces@example.com", To: "b@example.com", Body: []byte("y")}
					return tx.EnqueueMail(ctx, &other)
				})
			}()
			waitForLockWait(t, a)
			releaseA()
			if err := <-aDone; commit && err != nil || !commit && !errors.Is(err, errRollback) {
				t.Fatalf("node A: %v", err)
			}
			if err := <-bDone; err != nil {
				t.Fatalf("node B: %v", err)
			}
			ms, err := a.ListMail(ctx, conv.ID)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.DedupeKey+" "+m.To)
			}
			want := []string{"transcript:1 a@example.com", "reply:1 b@example.com"}
			if commit {
				if apperr.CodeOf(enqueueErr) != "mail_already_queued" {
					t.Errorf("node B's duplicate: %v, want mail_already_queued", enqueueErr)
				}
			} else {
				if enqueueErr != nil {
					t.Errorf("node B after A rolled back: %v", enqueueErr)
				}
				want = []string{"transcript:1 b@example.com", "reply:1 b@example.com"}
			}
			if !slices.Equal(got, want) {
				t.Errorf("outbox: %q, want %q", got, want)
			}
		})
	}
}

// TestPostgresClaimDueMailUsesIndex: with sequential scans and sorts
// disabled, as on a large outbox, the claim reads outbox_due in order.
func TestPostgresClaimDueMailUsesIndex(t *testing.T) {
	ctx := context.Background()
	s := openPG(t, pgtest.NewDatabase(t), PostgresOptions{})
	conn, err := s.r.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off; SET enable_sort = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.QueryContext(ctx, "EXPLAIN "+postgresDialect.rebind(dueMailQuery), "email", "pending", 1, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, "outbox_due") || strings.Contains(text, "Sort") || strings.Contains(text, "Seq Scan") {
		t.Errorf("plan of the claim:\n%s\nwant outbox_due in order", text)
	}
}

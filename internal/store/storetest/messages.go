package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

func testChats(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	want := model.Chat{ConversationID: b.conv.ID, State: model.ChatEnded, RequestedAt: at(1 * time.Second),
		OfferedAt: at(2 * time.Second), FirstJoinedAt: at(3 * time.Second), FirstResponseAt: at(4 * time.Second),
		EndedAt: at(5 * time.Second), EndedBy: model.PartyAgent, EndedByUserID: b.user.ID, EndReason: model.EndCompleted,
		Rating: 4, RatingComment: "quick and kind", RatedAt: at(6 * time.Second)}
	fresh := model.Chat{ConversationID: b.conv.ID, State: model.ChatBot, RequestedAt: t0}
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateChat", tx.CreateChat(ctx, &want))
		noErr(t, "CreateChat", tx.CreateChat(ctx, &fresh))
		return nil
	})
	if want.ID <= 0 || fresh.ID <= want.ID {
		t.Fatalf("ids not assigned ascending: %d %d", want.ID, fresh.ID)
	}
	eq(t, "GetChat", must[model.Chat](t, "GetChat")(s.GetChat(ctx, want.ID)), want)
	eq(t, "GetChat fresh", must[model.Chat](t, "GetChat")(s.GetChat(ctx, fresh.ID)), fresh)

	// UpdateChat writes every field but ID and ConversationID.
	var other model.Conversation
	inTx(t, s, func(tx store.Tx) error {
		other = newConversation(t, tx, b.site.ID, b.contact.ID)
		return nil
	})
	upd := model.Chat{ID: fresh.ID, ConversationID: other.ID, State: model.ChatEnded, RequestedAt: at(time.Minute),
		OfferedAt: at(2 * time.Minute), FirstJoinedAt: at(3 * time.Minute), FirstResponseAt: at(4 * time.Minute),
		EndedAt: at(5 * time.Minute), EndedBy: model.PartyVisitor, EndedByUserID: 0, EndReason: model.EndVisitorLeft,
		Rating: 2, RatingComment: "slow", RatedAt: at(6 * time.Minute)}
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateChat(ctx, upd) })
	upd.ConversationID = fresh.ConversationID
	eq(t, "GetChat after update", must[model.Chat](t, "GetChat")(s.GetChat(ctx, fresh.ID)), upd)
	// ... including back to zero times.
	back := model.Chat{ID: fresh.ID, ConversationID: fresh.ConversationID, State: model.ChatWaiting}
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateChat(ctx, back) })
	eq(t, "GetChat after reset", must[model.Chat](t, "GetChat")(s.GetChat(ctx, fresh.ID)), back)

	_, err := s.GetChat(ctx, 987654)
	wantCode(t, "GetChat unknown", err, "chat_not_found")
	err = txErr(t, s, func(tx store.Tx) error { return tx.UpdateChat(ctx, model.Chat{ID: 987654, State: model.ChatBot}) })
	wantCode(t, "UpdateChat unknown", err, "chat_not_found")
}

func testParticipants(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var ch model.Chat
	var u2 model.User
	inTx(t, s, func(tx store.Tx) error {
		u2 = newUser(t, tx, "second@example.com")
		ch = model.Chat{ConversationID: b.conv.ID, State: model.ChatActive, RequestedAt: t0}
		return tx.CreateChat(ctx, &ch)
	})
	eq(t, "ListParticipants empty", must[[]model.Participant](t, "ListParticipants")(s.ListParticipants(ctx, ch.ID)),
		[]model.Participant{})

	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "AddParticipant u2", tx.AddParticipant(ctx, ch.ID, u2.ID, at(2*time.Second)))
		noErr(t, "AddParticipant u1", tx.AddParticipant(ctx, ch.ID, b.user.ID, at(1*time.Second)))
		return nil
	})
	eq(t, "ListParticipants ordered by JoinedAt", must[[]model.Participant](t, "ListParticipants")(s.ListParticipants(ctx, ch.ID)),
		[]model.Participant{
			{ChatID: ch.ID, UserID: b.user.ID, JoinedAt: at(1 * time.Second)},
			{ChatID: ch.ID, UserID: u2.ID, JoinedAt: at(2 * time.Second)},
		})

	inTx(t, s, func(tx store.Tx) error { return tx.RemoveParticipant(ctx, ch.ID, b.user.ID, at(3*time.Second)) })
	eq(t, "ListParticipants keeps those who left", must[[]model.Participant](t, "ListParticipants")(s.ListParticipants(ctx, ch.ID)),
		[]model.Participant{
			{ChatID: ch.ID, UserID: b.user.ID, JoinedAt: at(1 * time.Second), LeftAt: at(3 * time.Second)},
			{ChatID: ch.ID, UserID: u2.ID, JoinedAt: at(2 * time.Second)},
		})

	// Removing someone not present.
	err := txErr(t, s, func(tx store.Tx) error { return tx.RemoveParticipant(ctx, ch.ID, b.user.ID, at(4*time.Second)) })
	wantCode(t, "RemoveParticipant after leaving", err, "participant_not_found")
	err = txErr(t, s, func(tx store.Tx) error { return tx.RemoveParticipant(ctx, ch.ID, 987654, at(4*time.Second)) })
	wantCode(t, "RemoveParticipant never joined", err, "participant_not_found")

	// Rejoining: a fresh JoinedAt and a zero LeftAt.
	inTx(t, s, func(tx store.Tx) error { return tx.AddParticipant(ctx, ch.ID, b.user.ID, at(5*time.Second)) })
	eq(t, "ListParticipants after rejoin", must[[]model.Participant](t, "ListParticipants")(s.ListParticipants(ctx, ch.ID)),
		[]model.Participant{
			{ChatID: ch.ID, UserID: u2.ID, JoinedAt: at(2 * time.Second)},
			{ChatID: ch.ID, UserID: b.user.ID, JoinedAt: at(5 * time.Second)},
		})

	err = txErr(t, s, func(tx store.Tx) error { return tx.AddParticipant(ctx, 987654, b.user.ID, t0) })
	wantCode(t, "AddParticipant unknown chat", err, "chat_not_found")
}

func testAppendMessage(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var ch model.Chat
	inTx(t, s, func(tx store.Tx) error {
		ch = model.Chat{ConversationID: b.conv.ID, State: model.ChatActive, RequestedAt: t0}
		return tx.CreateChat(ctx, &ch)
	})
	conv := func() model.Conversation {
		return must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, b.conv.ID))
	}

	// A public text: seq 1, and the conversation's LastSeq, UpdatedAt,
	// LastMessageAt and Preview follow.
	m1 := model.Message{ConversationID: b.conv.ID, ChatID: ch.ID, AuthorKind: model.PartyVisitor, AuthorID: b.contact.ID,
		AuthorName: "Ada", ClientID: "c-1", Kind: model.KindText, Visibility: model.Public, Body: "hello there",
		CreatedAt: at(time.Minute)}
	m1 = appendMsg(t, s, m1)
	if m1.ID <= 0 || m1.Seq != 1 {
		t.Fatalf("first message: ID %d Seq %d, want an id and seq 1", m1.ID, m1.Seq)
	}
	c := conv()
	eq(t, "LastSeq", c.LastSeq, int64(1))
	eq(t, "UpdatedAt", c.UpdatedAt, at(time.Minute))
	eq(t, "LastMessageAt", c.LastMessageAt, at(time.Minute))
	eq(t, "Preview", c.Preview, "hello there")

	// An internal note and an event: LastSeq and UpdatedAt move, the
	// preview and LastMessageAt do not.
	note := model.Message{ConversationID: b.conv.ID, ChatID: ch.ID, AuthorKind: model.PartyAgent, AuthorID: b.user.ID,
		AuthorName: "Agent", Kind: model.KindNote, Visibility: model.Internal, Body: "secret note",
		CreatedAt: at(2 * time.Minute)}
	note = appendMsg(t, s, note)
	event := model.Message{ConversationID: b.conv.ID, ChatID: ch.ID, AuthorKind: model.PartySystem, Kind: model.KindEvent,
		Visibility: model.Public, Event: model.EventJoined, Body: "Agent joined", CreatedAt: at(3 * time.Minute)}
	event = appendMsg(t, s, event)
	eq(t, "seqs", []int64{note.Seq, event.Seq}, []int64{2, 3})
	c = conv()
	eq(t, "LastSeq after note+event", c.LastSeq, int64(3))
	eq(t, "UpdatedAt after note+event", c.UpdatedAt, at(3*time.Minute))
	eq(t, "LastMessageAt after note+event", c.LastMessageAt, at(time.Minute))
	eq(t, "Preview after note+event", c.Preview, "hello there")

	// Preview: the first 140 runes.
	long := strings.Repeat("é", 150) + "🙂"
	appendMsg(t, s, textMsg(b.conv.ID, long, at(4*time.Minute)))
	eq(t, "Preview truncated to 140 runes", conv().Preview, strings.Repeat("é", 140))
	short := strings.Repeat("ü", 140)
	appendMsg(t, s, textMsg(b.conv.ID, short, at(5*time.Minute)))
	eq(t, "Preview of exactly 140 runes", conv().Preview, short)
	// An internal text does not touch the preview either.
	internal := textMsg(b.conv.ID, "internal text", at(6*time.Minute))
	internal.Visibility = model.Internal
	appendMsg(t, s, internal)
	eq(t, "Preview after internal text", conv().Preview, short)
	eq(t, "LastMessageAt after internal text", conv().LastMessageAt, at(5*time.Minute))

	// Round trip of every field.
	got := must[[]model.Message](t, "ListMessages")(s.ListMessages(ctx, store.MessageQuery{ConversationID: b.conv.ID,
		IncludeInternal: true, Limit: 3}))
	eq(t, "messages round trip", got, []model.Message{m1, note, event})

	// GetMessageByClientID.
	eq(t, "GetMessageByClientID", must[model.Message](t, "GetMessageByClientID")(
		s.GetMessageByClientID(ctx, b.conv.ID, model.PartyVisitor, b.contact.ID, "c-1")), m1)
	_, err := s.GetMessageByClientID(ctx, b.conv.ID, model.PartyVisitor, b.contact.ID, "c-unknown")
	wantCode(t, "GetMessageByClientID unknown", err, "message_not_found")
	_, err = s.GetMessageByClientID(ctx, b.conv.ID, model.PartyAgent, b.contact.ID, "c-1")
	wantCode(t, "GetMessageByClientID other author kind", err, "message_not_found")

	// Unknown conversation.
	err = txErr(t, s, func(tx store.Tx) error {
		m := textMsg(987654, "x", t0)
		return tx.AppendMessage(ctx, &m)
	})
	wantCode(t, "AppendMessage unknown conversation", err, "conversation_not_found")
}

func testAppendToConversation(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	send := func(clientID, body string, created time.Time) (model.Message, model.Conversation, error) {
		t.Helper()
		m := model.Message{ConversationID: b.conv.ID, ChatID: 987654, AuthorKind: model.PartyVisitor,
			AuthorID: b.contact.ID, AuthorName: "Ada", ClientID: clientID, Kind: model.KindText,
			Visibility: model.Public, Body: body, CreatedAt: created}
		var c model.Conversation
		err := txErr(t, s, func(tx store.Tx) error {
			var err error
			c, err = tx.AppendToConversation(ctx, &m)
			return err
		})
		return m, c, err
	}
	get := func() model.Conversation {
		return must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, b.conv.ID))
	}

	// No chat yet: the message has none (the ChatID given is ignored), and
	// the conversation comes back as the append left it.
	m1, c1, err := send("c-1", "hello", at(time.Minute))
	noErr(t, "AppendToConversation without a chat", err)
	eq(t, "seq and chat", []int64{m1.Seq, m1.ChatID}, []int64{1, 0})
	want := get()
	eq(t, "returned conversation", c1, want)
	eq(t, "its seq and preview", []any{c1.LastSeq, c1.Preview, c1.UpdatedAt}, []any{int64(1), "hello", at(time.Minute)})

	// With a chat: the conversation's current one.
	var ch model.Chat
	inTx(t, s, func(tx store.Tx) error {
		ch = model.Chat{ConversationID: b.conv.ID, State: model.ChatActive, RequestedAt: t0}
		if err := tx.CreateChat(ctx, &ch); err != nil {
			return err
		}
		c := want
		c.ChatID, c.ChatState = ch.ID, model.ChatActive
		return tx.UpdateConversation(ctx, c)
	})
	m2, c2, err := send("c-2", "again", at(2*time.Minute))
	noErr(t, "AppendToConversation with a chat", err)
	eq(t, "seq and chat", []int64{m2.Seq, m2.ChatID}, []int64{2, ch.ID})
	eq(t, "returned conversation with a chat", c2, get())
	eq(t, "its chat", []any{c2.ChatID, c2.ChatState}, []any{ch.ID, model.ChatActive})
	got := must[[]model.Message](t, "ListMessages")(s.ListMessages(ctx, store.MessageQuery{ConversationID: b.conv.ID}))
	eq(t, "stored", got, []model.Message{m1, m2})

	// The same client id: refused, nothing written, no seq burnt.
	_, _, err = send("c-2", "retry", at(3*time.Minute))
	wantCode(t, "AppendToConversation duplicate", err, "duplicate_client_id")
	eq(t, "LastSeq after the duplicate", get().LastSeq, int64(2))
	// An unknown conversation.
	err = txErr(t, s, func(tx store.Tx) error {
		m := textMsg(987654, "x", t0)
		_, err := tx.AppendToConversation(ctx, &m)
		return err
	})
	wantCode(t, "AppendToConversation unknown conversation", err, "conversation_not_found")
	m3, _, err := send("c-3", "next", at(4*time.Minute))
	noErr(t, "AppendToConversation after refusals", err)
	eq(t, "next seq", m3.Seq, int64(3))
}

func testListMessages(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	// 150 entries; every third is an internal note.
	inTx(t, s, func(tx store.Tx) error {
		for i := range 150 {
			m := textMsg(b.conv.ID, fmt.Sprintf("m%d", i+1), at(time.Duration(i)*time.Second))
			if i%3 == 2 {
				m.Kind, m.Visibility, m.AuthorKind = model.KindNote, model.Internal, model.PartyAgent
			}
			noErr(t, "AppendMessage", tx.AppendMessage(ctx, &m))
		}
		return nil
	})
	seqs := func(q store.MessageQuery) []int64 {
		t.Helper()
		q.ConversationID = b.conv.ID
		ms := must[[]model.Message](t, "ListMessages")(s.ListMessages(ctx, q))
		out := []int64{}
		for _, m := range ms {
			out = append(out, m.Seq)
		}
		return out
	}
	span := func(from, to int64, skipInternal bool) []int64 {
		out := []int64{}
		for i := from; i <= to; i++ {
			if skipInternal && i%3 == 0 {
				continue
			}
			out = append(out, i)
		}
		return out
	}
	eq(t, "default limit 100, with internal", seqs(store.MessageQuery{IncludeInternal: true}), span(1, 100, false))
	eq(t, "after 120, with internal", seqs(store.MessageQuery{IncludeInternal: true, AfterSeq: 120}), span(121, 150, false))
	eq(t, "public only", seqs(store.MessageQuery{AfterSeq: 90, Limit: 1000}), span(91, 150, true))
	eq(t, "public only, limit 5", seqs(store.MessageQuery{AfterSeq: 10, Limit: 5}), []int64{11, 13, 14, 16, 17})
	eq(t, "after the end", seqs(store.MessageQuery{AfterSeq: 150, IncludeInternal: true}), []int64{})
	eq(t, "unknown conversation", must[[]model.Message](t, "ListMessages")(s.ListMessages(ctx,
		store.MessageQuery{ConversationID: 987654})), []model.Message{})

	// Limit is clamped to 1000.
	inTx(t, s, func(tx store.Tx) error {
		for i := range 900 {
			m := textMsg(b.conv.ID, "bulk", at(time.Hour+time.Duration(i)*time.Millisecond))
			noErr(t, "AppendMessage", tx.AppendMessage(ctx, &m))
		}
		return nil
	})
	eq(t, "limit clamped to 1000", len(seqs(store.MessageQuery{IncludeInternal: true, Limit: 5000})), 1000)
}

func testAttachments(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	want := model.Attachment{ConversationID: b.conv.ID, UploaderKind: model.PartyVisitor, UploaderID: b.contact.ID,
		Name: "screenshot.png", ContentType: "image/png", Size: 123456, BlobKey: "blobs/ab/cdef", CreatedAt: at(time.Second)}
	inTx(t, s, func(tx store.Tx) error { return tx.CreateAttachment(ctx, &want) })
	if want.ID <= 0 {
		t.Fatalf("id not assigned")
	}
	eq(t, "GetAttachment", must[model.Attachment](t, "GetAttachment")(s.GetAttachment(ctx, want.ID)), want)
	_, err := s.GetAttachment(ctx, 987654)
	wantCode(t, "GetAttachment unknown", err, "attachment_not_found")
	err = txErr(t, s, func(tx store.Tx) error {
		return tx.CreateAttachment(ctx, &model.Attachment{ConversationID: 987654, Name: "x"})
	})
	wantCode(t, "CreateAttachment unknown conversation", err, "conversation_not_found")

	plain := appendMsg(t, s, textMsg(b.conv.ID, "before", at(time.Minute)))
	withFile := textMsg(b.conv.ID, "", at(2*time.Minute))
	withFile.AttachmentID = want.ID
	withFile.ClientID = "file-1"
	withFile = appendMsg(t, s, withFile)

	got := must[[]model.Message](t, "ListMessages")(s.ListMessages(ctx, store.MessageQuery{ConversationID: b.conv.ID}))
	if len(got) != 2 {
		t.Fatalf("ListMessages: %d messages, want 2", len(got))
	}
	if got[0].Attachment != nil {
		t.Errorf("message without attachment has Attachment %+v", got[0].Attachment)
	}
	eq(t, "message without attachment", got[0], plain)
	if got[1].Attachment == nil {
		t.Fatalf("message with AttachmentID %d has no Attachment", want.ID)
	}
	eq(t, "filled attachment", *got[1].Attachment, want)
	got[1].Attachment = nil
	eq(t, "message with attachment", got[1], withFile)
	byClient := must[model.Message](t, "GetMessageByClientID")(s.GetMessageByClientID(ctx, b.conv.ID,
		withFile.AuthorKind, withFile.AuthorID, "file-1"))
	if byClient.Attachment == nil || *byClient.Attachment != want {
		t.Errorf("GetMessageByClientID attachment = %+v, want %+v", byClient.Attachment, want)
	}
}

func testIdempotencyKey(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var conv2 model.Conversation
	inTx(t, s, func(tx store.Tx) error {
		conv2 = newConversation(t, tx, b.site.ID, b.contact.ID)
		return nil
	})
	mk := func(convID int64, kind model.Party, authorID int64, clientID string) model.Message {
		m := textMsg(convID, "hi "+clientID, at(time.Minute))
		m.AuthorKind, m.AuthorID, m.ClientID = kind, authorID, clientID
		return m
	}
	first := appendMsg(t, s, mk(b.conv.ID, model.PartyVisitor, 7, "k1"))

	// The same author retrying the same client id: duplicate_client_id, and
	// the first one is found by GetMessageByClientID.
	dup := mk(b.conv.ID, model.PartyVisitor, 7, "k1")
	err := txErr(t, s, func(tx store.Tx) error { return tx.AppendMessage(ctx, &dup) })
	wantCode(t, "AppendMessage duplicate", err, "duplicate_client_id")
	// The duplicate can be handled inside the transaction, as callers do.
	var found model.Message
	inTx(t, s, func(tx store.Tx) error {
		m := mk(b.conv.ID, model.PartyVisitor, 7, "k1")
		err := tx.AppendMessage(ctx, &m)
		wantCode(t, "AppendMessage duplicate inside tx", err, "duplicate_client_id")
		found, err = tx.GetMessageByClientID(ctx, b.conv.ID, model.PartyVisitor, 7, "k1")
		return err
	})
	eq(t, "first ack found", found, first)

	// Scoped per author (kind and id) and per conversation; empty ids are
	// never duplicates.
	a := appendMsg(t, s, mk(b.conv.ID, model.PartyVisitor, 8, "k1"))
	c := appendMsg(t, s, mk(b.conv.ID, model.PartyAgent, 7, "k1"))
	d := appendMsg(t, s, mk(conv2.ID, model.PartyVisitor, 7, "k1"))
	e := appendMsg(t, s, mk(b.conv.ID, model.PartyVisitor, 7, ""))
	f := appendMsg(t, s, mk(b.conv.ID, model.PartyVisitor, 7, ""))
	// No seq was burnt by the rejected duplicates.
	eq(t, "seqs", []int64{first.Seq, a.Seq, c.Seq, e.Seq, f.Seq, d.Seq}, []int64{1, 2, 3, 4, 5, 1})
	eq(t, "LastSeq", must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, b.conv.ID)).LastSeq, int64(5))
}

// testSeqConcurrent: many concurrent writers on one conversation get exactly
// the seqs 1..N, each once.
func testSeqConcurrent(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	const writers, each = 32, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[int64]string{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				m := textMsg(b.conv.ID, fmt.Sprintf("w%d-%d", w, i), at(time.Duration(i)*time.Millisecond))
				m.ClientID = fmt.Sprintf("w%d-%d", w, i)
				if err := s.InTx(ctx, func(tx store.Tx) error { return tx.AppendMessage(ctx, &m) }); err != nil {
					t.Errorf("AppendMessage: %v", err)
					return
				}
				mu.Lock()
				if prev, dup := acked[m.Seq]; dup {
					t.Errorf("seq %d acked twice: %s and %s", m.Seq, prev, m.ClientID)
				}
				acked[m.Seq] = m.ClientID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const n = writers * each
	ms := must[[]model.Message](t, "ListMessages")(s.ListMessages(ctx, store.MessageQuery{ConversationID: b.conv.ID, Limit: 1000}))
	if len(ms) != n {
		t.Fatalf("%d messages stored, want %d", len(ms), n)
	}
	for i, m := range ms {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d, want %d", i, m.Seq, i+1)
		}
		if acked[m.Seq] != m.ClientID {
			t.Fatalf("seq %d stored for %s, acked for %s", m.Seq, m.ClientID, acked[m.Seq])
		}
	}
	eq(t, "LastSeq", must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, b.conv.ID)).LastSeq, int64(n))
}

func testReadMarks(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	set := func(m model.ReadMark) {
		t.Helper()
		inTx(t, s, func(tx store.Tx) error { return tx.SetReadMark(ctx, m) })
	}
	list := func() []model.ReadMark {
		t.Helper()
		ms := must[[]model.ReadMark](t, "ListReadMarks")(s.ListReadMarks(ctx, b.conv.ID))
		slices.SortFunc(ms, func(a, b model.ReadMark) int {
			if c := strings.Compare(string(a.ReaderKind), string(b.ReaderKind)); c != 0 {
				return c
			}
			return int(a.ReaderID - b.ReaderID)
		})
		return ms
	}
	eq(t, "no marks", list(), []model.ReadMark{})

	agent := model.ReadMark{ConversationID: b.conv.ID, ReaderKind: model.PartyAgent, ReaderID: b.user.ID, Seq: 5, At: at(5 * time.Second)}
	visitor := model.ReadMark{ConversationID: b.conv.ID, ReaderKind: model.PartyVisitor, ReaderID: b.user.ID, Seq: 2, At: at(2 * time.Second)}
	set(agent)
	set(visitor)
	eq(t, "marks", list(), []model.ReadMark{agent, visitor})

	// Older or equal seqs are ignored, At included.
	set(model.ReadMark{ConversationID: b.conv.ID, ReaderKind: model.PartyAgent, ReaderID: b.user.ID, Seq: 3, At: at(time.Hour)})
	set(model.ReadMark{ConversationID: b.conv.ID, ReaderKind: model.PartyAgent, ReaderID: b.user.ID, Seq: 5, At: at(time.Hour)})
	eq(t, "marks after older seq", list(), []model.ReadMark{agent, visitor})

	// Newer seqs move forward.
	agent.Seq, agent.At = 9, at(9*time.Second)
	set(agent)
	eq(t, "marks after newer seq", list(), []model.ReadMark{agent, visitor})

	err := txErr(t, s, func(tx store.Tx) error {
		return tx.SetReadMark(ctx, model.ReadMark{ConversationID: 987654, ReaderKind: model.PartyAgent, ReaderID: 1, Seq: 1})
	})
	wantCode(t, "SetReadMark unknown conversation", err, "conversation_not_found")
}

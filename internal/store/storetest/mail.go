package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

// Email: a site's email settings, raw mails of messages, the outbox, mail
// references and the conversation search (ConversationFilter.Query).

func testSiteEmail(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	email := model.EmailSettings{Transcript: "always", FromName: "Acme Support", AccentColor: "#12ab34"}
	want := model.Site{Key: "mailed", Name: "Mailed", AllowedOrigins: []string{}, WidgetMode: model.ModeLive,
		Routing: model.RoutingSettings{Strategy: "round_robin"}, Email: email, CreatedAt: t0}
	plain := model.Site{Key: "plain", Name: "Plain", AllowedOrigins: []string{}, WidgetMode: model.ModeLive}
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateSite", tx.CreateSite(ctx, &want))
		noErr(t, "CreateSite plain", tx.CreateSite(ctx, &plain))
		eq(t, "GetSite inside tx", try[model.Site](t, "GetSite")(tx.GetSite(ctx, want.ID)), want)
		return nil
	})
	eq(t, "GetSite", must[model.Site](t, "GetSite")(s.GetSite(ctx, want.ID)), want)
	eq(t, "GetSiteByKey", must[model.Site](t, "GetSiteByKey")(s.GetSiteByKey(ctx, "mailed")), want)
	eq(t, "GetSite plain (zero email settings)", must[model.Site](t, "GetSite")(s.GetSite(ctx, plain.ID)), plain)
	eq(t, "ListSites", must[[]model.Site](t, "ListSites")(s.ListSites(ctx)), []model.Site{want, plain})

	// UpdateSite writes the email settings, and clears them.
	upd := plain
	upd.Email = model.EmailSettings{Transcript: "never"}
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateSite(ctx, upd) })
	eq(t, "GetSite after update", must[model.Site](t, "GetSite")(s.GetSite(ctx, plain.ID)), upd)
	cleared := want
	cleared.Email = model.EmailSettings{}
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateSite(ctx, cleared) })
	eq(t, "GetSite after clearing", must[model.Site](t, "GetSite")(s.GetSite(ctx, want.ID)), cleared)
}

func testRawAttachment(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	raw := model.Attachment{ConversationID: b.conv.ID, UploaderKind: model.PartyVisitor, UploaderID: b.contact.ID,
		Name: "message.eml", ContentType: "message/rfc822", Size: 2048, BlobKey: "blobs/raw/1", CreatedAt: t0}
	file := model.Attachment{ConversationID: b.conv.ID, UploaderKind: model.PartyVisitor, UploaderID: b.contact.ID,
		Name: "invoice.pdf", ContentType: "application/pdf", Size: 4096, BlobKey: "blobs/file/1", CreatedAt: t0}
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateAttachment raw", tx.CreateAttachment(ctx, &raw))
		noErr(t, "CreateAttachment file", tx.CreateAttachment(ctx, &file))
		return nil
	})

	fromMail := textMsg(b.conv.ID, "Thanks, that works.", at(time.Minute))
	fromMail.RawAttachmentID = raw.ID
	fromMail.ClientID = "mail-1"
	fromMail = appendMsg(t, s, fromMail)
	withBoth := textMsg(b.conv.ID, "", at(2*time.Minute))
	withBoth.RawAttachmentID = raw.ID
	withBoth.AttachmentID = file.ID
	withBoth = appendMsg(t, s, withBoth)
	plain := appendMsg(t, s, textMsg(b.conv.ID, "plain", at(3*time.Minute)))

	got := must[[]model.Message](t, "ListMessages")(s.ListMessages(ctx, store.MessageQuery{ConversationID: b.conv.ID}))
	if len(got) != 3 {
		t.Fatalf("ListMessages: %d messages, want 3", len(got))
	}
	eq(t, "message with raw mail", got[0], fromMail)
	if got[1].Attachment == nil || *got[1].Attachment != file {
		t.Errorf("message with both: Attachment %+v, want %+v", got[1].Attachment, file)
	}
	got[1].Attachment = nil
	eq(t, "message with raw mail and attachment", got[1], withBoth)
	eq(t, "message without raw mail", got[2], plain)
	byClient := must[model.Message](t, "GetMessageByClientID")(s.GetMessageByClientID(ctx, b.conv.ID,
		fromMail.AuthorKind, fromMail.AuthorID, "mail-1"))
	eq(t, "GetMessageByClientID", byClient, fromMail)

	// An unknown raw attachment is refused before anything is written: the
	// transaction goes on, and no seq is burnt.
	inTx(t, s, func(tx store.Tx) error {
		bad := textMsg(b.conv.ID, "x", at(4*time.Minute))
		bad.RawAttachmentID = 987654
		wantCode(t, "AppendMessage unknown raw attachment", tx.AppendMessage(ctx, &bad), "attachment_not_found")
		next := textMsg(b.conv.ID, "after", at(5*time.Minute))
		noErr(t, "AppendMessage after refusal", tx.AppendMessage(ctx, &next))
		eq(t, "seq after refusal", next.Seq, int64(4))
		return nil
	})
}

// newMail is an outgoing mail of a conversation (0: none) due at next.
func newMail(convID int64, key string, next time.Time) model.OutboxMail {
	return model.OutboxMail{ConversationID: convID, Kind: "reply", DedupeKey: key, From: "bounces@support.example",
		To: "ada@example.com", MessageID: key + "@support.example",
		Body: []byte("From: Support <support@example>\r\nSubject: Re: help\r\n\r\nHello \x00\xff"), NextAttemptAt: next,
		CreatedAt: t0}
}

func enqueue(t *testing.T, s store.Store, mails ...*model.OutboxMail) {
	t.Helper()
	inTx(t, s, func(tx store.Tx) error {
		for _, m := range mails {
			noErr(t, "EnqueueMail "+m.DedupeKey, tx.EnqueueMail(ctxOf(t), m))
		}
		return nil
	})
}

func mailIDs(ms []model.OutboxMail) []int64 {
	ids := []int64{}
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

func testEnqueueMail(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var other model.Conversation
	inTx(t, s, func(tx store.Tx) error {
		other = newConversation(t, tx, b.site.ID, b.contact.ID)
		return nil
	})
	eq(t, "ListMail of a conversation without mail", must[[]model.OutboxMail](t, "ListMail")(s.ListMail(ctx, b.conv.ID)),
		[]model.OutboxMail{})

	first := newMail(b.conv.ID, "transcript:1", at(time.Minute))
	// Whatever the caller set, a new mail is pending, never tried, not leased.
	first.State, first.Attempts, first.LeaseBy, first.LastError = model.MailSent, 7, "someone", "old"
	first.LeaseUntil, first.SentAt = at(time.Hour), at(time.Hour)
	noMessage := newMail(0, "confirmation:1", time.Time{}) // no conversation; due at once
	noMessage.Body = nil
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "EnqueueMail", tx.EnqueueMail(ctx, &first))
		noErr(t, "EnqueueMail without conversation", tx.EnqueueMail(ctx, &noMessage))
		eq(t, "ListMail inside tx", try[[]model.OutboxMail](t, "ListMail")(tx.ListMail(ctx, b.conv.ID)),
			[]model.OutboxMail{first})
		return nil
	})
	if first.ID <= 0 || noMessage.ID <= first.ID {
		t.Fatalf("ids not assigned ascending: %d %d", first.ID, noMessage.ID)
	}
	if first.State != model.MailPending || first.Attempts != 0 || first.LeaseBy != "" || !first.LeaseUntil.IsZero() ||
		first.LastError != "" || !first.SentAt.IsZero() {
		t.Errorf("EnqueueMail left %+v", first)
	}
	eq(t, "ListMail", must[[]model.OutboxMail](t, "ListMail")(s.ListMail(ctx, b.conv.ID)), []model.OutboxMail{first})

	// A duplicate dedupe key is refused, changes nothing, and leaves the
	// transaction usable: later writes in it commit.
	second := newMail(b.conv.ID, "reply:2", at(2*time.Minute))
	var msg model.Message
	inTx(t, s, func(tx store.Tx) error {
		dup := newMail(other.ID, first.DedupeKey, at(time.Hour))
		dup.To = "someone-else@example.com"
		wantCode(t, "EnqueueMail duplicate", tx.EnqueueMail(ctx, &dup), "mail_already_queued")
		if dup.ID != 0 {
			t.Errorf("refused mail got id %d", dup.ID)
		}
		noErr(t, "EnqueueMail after duplicate", tx.EnqueueMail(ctx, &second))
		again := newMail(b.conv.ID, second.DedupeKey, at(time.Hour))
		wantCode(t, "EnqueueMail duplicate of this tx", tx.EnqueueMail(ctx, &again), "mail_already_queued")
		msg = textMsg(b.conv.ID, "after the duplicate", at(3*time.Minute))
		noErr(t, "AppendMessage after duplicate", tx.AppendMessage(ctx, &msg))
		return nil
	})
	eq(t, "ListMail after duplicates", must[[]model.OutboxMail](t, "ListMail")(s.ListMail(ctx, b.conv.ID)),
		[]model.OutboxMail{first, second})
	eq(t, "ListMail of the duplicate's conversation", must[[]model.OutboxMail](t, "ListMail")(s.ListMail(ctx, other.ID)),
		[]model.OutboxMail{})
	if got := must[[]model.Message](t, "ListMessages")(s.ListMessages(ctx, store.MessageQuery{ConversationID: b.conv.ID})); len(got) != 1 || got[0].ID != msg.ID {
		t.Errorf("message appended after the duplicate: %+v", got)
	}

	// The mail without a conversation is in the outbox all the same, with
	// an empty body read back empty.
	claimed := must[[]model.OutboxMail](t, "ClaimDueMail")(claim(t, s, "n1", at(time.Minute), at(time.Hour), 10))
	noMessage.Body = []byte{}
	noMessage.LeaseBy, noMessage.LeaseUntil = "n1", at(time.Hour)
	first.LeaseBy, first.LeaseUntil = "n1", at(time.Hour)
	eq(t, "claimed mails", claimed, []model.OutboxMail{noMessage, first})

	err := txErr(t, s, func(tx store.Tx) error {
		m := newMail(987654, "unknown", t0)
		return tx.EnqueueMail(ctx, &m)
	})
	wantCode(t, "EnqueueMail unknown conversation", err, "conversation_not_found")
}

// claim runs ClaimDueMail in its own transaction.
func claim(t *testing.T, s store.Store, by string, now, until time.Time, limit int) ([]model.OutboxMail, error) {
	var out []model.OutboxMail
	err := s.InTx(ctxOf(t), func(tx store.Tx) error {
		var err error
		out, err = tx.ClaimDueMail(ctxOf(t), "email", by, now, until, limit)
		return err
	})
	return out, err
}

func testClaimDueMail(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	m1 := newMail(b.conv.ID, "m1", at(time.Minute))
	m2 := newMail(b.conv.ID, "m2", t0)
	m3 := newMail(b.conv.ID, "m3", at(time.Minute))
	m4 := newMail(b.conv.ID, "m4", at(2*time.Minute)) // due exactly at the first claim
	later := newMail(b.conv.ID, "later", at(time.Hour))
	enqueue(t, s, &m1, &m2, &m3, &m4, &later)
	ids := func(ms []model.OutboxMail, err error) []int64 {
		t.Helper()
		if err != nil {
			t.Fatalf("ClaimDueMail: %v", err)
		}
		return mailIDs(ms)
	}
	now := at(2 * time.Minute)
	leaseA := at(7 * time.Minute)

	eq(t, "limit 0 claims nothing", ids(claim(t, s, "A", now, leaseA, 0)), []int64{})
	// Oldest due first (ties by id), up to the limit, with the new lease.
	gotA := must[[]model.OutboxMail](t, "ClaimDueMail")(claim(t, s, "A", now, leaseA, 3))
	eq(t, "first claim", mailIDs(gotA), []int64{m2.ID, m1.ID, m3.ID})
	for _, m := range gotA {
		if m.LeaseBy != "A" || !m.LeaseUntil.Equal(leaseA) || m.State != model.MailPending {
			t.Errorf("claimed mail %d: lease %q until %v, state %s", m.ID, m.LeaseBy, m.LeaseUntil, m.State)
		}
	}
	// A second claimer gets only what is not leased, and not what is not due.
	eq(t, "second claimer", ids(claim(t, s, "B", now, at(10*time.Minute), 10)), []int64{m4.ID})
	eq(t, "nothing left", ids(claim(t, s, "C", at(6*time.Minute), at(10*time.Minute), 10)), []int64{})
	// The lease is live until its end; then the mails are due again.
	eq(t, "just before A's lease ends", ids(claim(t, s, "C", leaseA.Add(-time.Microsecond), at(20*time.Minute), 10)),
		[]int64{})
	eq(t, "A's lease ended", ids(claim(t, s, "C", leaseA, at(20*time.Minute), 2)), []int64{m2.ID, m1.ID})
	eq(t, "B's lease ended", ids(claim(t, s, "D", at(10*time.Minute), at(30*time.Minute), 10)), []int64{m3.ID, m4.ID})
	eq(t, "later mail due", ids(claim(t, s, "D", at(time.Hour), at(2*time.Hour), 10)),
		[]int64{m2.ID, m1.ID, m3.ID, m4.ID, later.ID})

	// ListMail shows the leases.
	var leased []string
	for _, m := range must[[]model.OutboxMail](t, "ListMail")(s.ListMail(ctx, b.conv.ID)) {
		leased = append(leased, m.LeaseBy)
	}
	eq(t, "lease holders", leased, []string{"D", "D", "D", "D", "D"})
}

func testMarkMail(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	sent := newMail(b.conv.ID, "sent", t0)
	retried := newMail(b.conv.ID, "retried", t0)
	taken := newMail(b.conv.ID, "taken", t0)
	enqueue(t, s, &sent, &retried, &taken)
	get := func(id int64) model.OutboxMail {
		t.Helper()
		for _, m := range must[[]model.OutboxMail](t, "ListMail")(s.ListMail(ctx, b.conv.ID)) {
			if m.ID == id {
				return m
			}
		}
		t.Fatalf("mail %d not listed", id)
		return model.OutboxMail{}
	}
	mark := func(f func(tx store.Tx) error) error { return txErr(t, s, f) }
	eq(t, "claim", mailIDs(must[[]model.OutboxMail](t, "ClaimDueMail")(claim(t, s, "A", at(time.Minute), at(10*time.Minute), 10))),
		[]int64{sent.ID, retried.ID, taken.ID})

	// Only the lease holder records an attempt.
	wantCode(t, "MarkMailSent by another", mark(func(tx store.Tx) error {
		return tx.MarkMailSent(ctx, sent.ID, "B", at(2*time.Minute))
	}), "mail_not_found")
	wantCode(t, "MarkMailSent without holder", mark(func(tx store.Tx) error {
		return tx.MarkMailSent(ctx, sent.ID, "", at(2*time.Minute))
	}), "mail_not_found")
	wantCode(t, "MarkMailRetry by another", mark(func(tx store.Tx) error {
		return tx.MarkMailRetry(ctx, retried.ID, "B", at(time.Hour), "nope", false)
	}), "mail_not_found")
	wantCode(t, "MarkMailSent unknown", mark(func(tx store.Tx) error {
		return tx.MarkMailSent(ctx, 987654, "A", at(2*time.Minute))
	}), "mail_not_found")
	wantCode(t, "MarkMailRetry unknown", mark(func(tx store.Tx) error {
		return tx.MarkMailRetry(ctx, 987654, "A", at(time.Hour), "x", false)
	}), "mail_not_found")
	if m := get(sent.ID); m.State != model.MailPending || m.LeaseBy != "A" || m.Attempts != 0 {
		t.Errorf("refused marks changed the mail: %+v", m)
	}

	// Sent: the lease is released, and the mail is done.
	inTx(t, s, func(tx store.Tx) error { return tx.MarkMailSent(ctx, sent.ID, "A", at(2*time.Minute)) })
	want := sent
	want.State, want.SentAt = model.MailSent, at(2*time.Minute)
	eq(t, "sent mail", get(sent.ID), want)
	wantCode(t, "MarkMailSent twice", mark(func(tx store.Tx) error {
		return tx.MarkMailSent(ctx, sent.ID, "A", at(3*time.Minute))
	}), "mail_not_found")
	wantCode(t, "MarkMailRetry of a sent mail", mark(func(tx store.Tx) error {
		return tx.MarkMailRetry(ctx, sent.ID, "A", at(time.Hour), "x", false)
	}), "mail_not_found")

	// Retry: one more attempt, the error (cut to 1000 bytes on a character
	// boundary), the next attempt time; pending and unleased.
	long := strings.Repeat("é", 600) // 1200 bytes
	inTx(t, s, func(tx store.Tx) error {
		return tx.MarkMailRetry(ctx, retried.ID, "A", at(30*time.Minute), "451 try later: "+long, false)
	})
	m := get(retried.ID)
	if m.State != model.MailPending || m.Attempts != 1 || m.LeaseBy != "" || !m.LeaseUntil.IsZero() ||
		!m.NextAttemptAt.Equal(at(30*time.Minute)) || !m.SentAt.IsZero() {
		t.Errorf("after a retry: %+v", m)
	}
	if len(m.LastError) > 1000 || !strings.HasPrefix(m.LastError, "451 try later: éé") ||
		strings.Trim(strings.TrimPrefix(m.LastError, "451 try later: "), "é") != "" {
		t.Errorf("LastError (%d bytes) = %q", len(m.LastError), m.LastError)
	}
	if len(m.LastError) < 990 {
		t.Errorf("LastError cut to %d bytes, want about 1000", len(m.LastError))
	}
	// Not due before its next attempt; then claimed again.
	eq(t, "claim before the retry is due", mailIDs(must[[]model.OutboxMail](t, "ClaimDueMail")(
		claim(t, s, "B", at(29*time.Minute), at(time.Hour), 10))), []int64{taken.ID})
	eq(t, "claim when the retry is due", mailIDs(must[[]model.OutboxMail](t, "ClaimDueMail")(
		claim(t, s, "C", at(30*time.Minute), at(time.Hour), 10))), []int64{retried.ID})
	// Giving up: failed, never claimed again.
	inTx(t, s, func(tx store.Tx) error {
		return tx.MarkMailRetry(ctx, retried.ID, "C", at(2*time.Hour), "550 no such user", true)
	})
	m = get(retried.ID)
	if m.State != model.MailFailed || m.Attempts != 2 || m.LastError != "550 no such user" || m.LeaseBy != "" {
		t.Errorf("after giving up: %+v", m)
	}
	wantCode(t, "MarkMailRetry of a failed mail", mark(func(tx store.Tx) error {
		return tx.MarkMailRetry(ctx, retried.ID, "C", at(3*time.Hour), "x", false)
	}), "mail_not_found")

	// A lease taken over after it expired: the first holder records nothing.
	// ("taken" was claimed by B above, until 1h.)
	eq(t, "take over", mailIDs(must[[]model.OutboxMail](t, "ClaimDueMail")(
		claim(t, s, "D", at(2*time.Hour), at(3*time.Hour), 10))), []int64{taken.ID})
	wantCode(t, "MarkMailSent by the expired holder", mark(func(tx store.Tx) error {
		return tx.MarkMailSent(ctx, taken.ID, "B", at(2*time.Hour))
	}), "mail_not_found")
	inTx(t, s, func(tx store.Tx) error { return tx.MarkMailSent(ctx, taken.ID, "D", at(2*time.Hour)) })
	eq(t, "nothing left to claim", mailIDs(must[[]model.OutboxMail](t, "ClaimDueMail")(
		claim(t, s, "E", at(100*time.Hour), at(101*time.Hour), 10))), []int64{})
}

func testMailRefs(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var other model.Conversation
	inTx(t, s, func(tx store.Tx) error {
		other = newConversation(t, tx, b.site.ID, b.contact.ID)
		noErr(t, "PutMailRef", tx.PutMailRef(ctx, "a@mail.example", b.conv.ID))
		noErr(t, "PutMailRef again", tx.PutMailRef(ctx, "a@mail.example", b.conv.ID))
		noErr(t, "PutMailRef other", tx.PutMailRef(ctx, "b@mail.example", other.ID))
		eq(t, "ConversationByMailRef inside tx", try[int64](t, "ConversationByMailRef")(
			tx.ConversationByMailRef(ctx, []string{"a@mail.example"})), b.conv.ID)
		return nil
	})
	// Idempotent, also across transactions; the first conversation stays,
	// and the transaction goes on.
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "PutMailRef existing", tx.PutMailRef(ctx, "a@mail.example", b.conv.ID))
		noErr(t, "PutMailRef existing, other conversation", tx.PutMailRef(ctx, "a@mail.example", other.ID))
		noErr(t, "PutMailRef after", tx.PutMailRef(ctx, "c@mail.example", other.ID))
		return nil
	})
	find := func(ids ...string) (int64, error) { return s.ConversationByMailRef(ctx, ids) }
	eq(t, "kept the first", must[int64](t, "ConversationByMailRef")(find("a@mail.example")), b.conv.ID)
	eq(t, "c", must[int64](t, "ConversationByMailRef")(find("c@mail.example")), other.ID)
	// The first known id in the given order wins.
	eq(t, "order b, a", must[int64](t, "ConversationByMailRef")(find("b@mail.example", "a@mail.example")), other.ID)
	eq(t, "order a, b", must[int64](t, "ConversationByMailRef")(find("a@mail.example", "b@mail.example")), b.conv.ID)
	eq(t, "unknown first", must[int64](t, "ConversationByMailRef")(find("zz@mail.example", "", "b@mail.example", "a@mail.example")),
		other.ID)
	many := make([]string, 0, 301)
	for i := range 300 {
		many = append(many, "unknown-"+strings.Repeat("x", i%7)+"-"+string(rune('a'+i%26))+"@mail.example")
	}
	many = append(many, "a@mail.example")
	eq(t, "known after many unknown", must[int64](t, "ConversationByMailRef")(find(many...)), b.conv.ID)

	for name, ids := range map[string][]string{
		"nil": nil, "empty": {}, "unknown": {"zz@mail.example"}, "empty id": {""},
		"odd bytes": {"\x00\xff@mail.example"},
	} {
		_, err := find(ids...)
		wantCode(t, "ConversationByMailRef "+name, err, "mail_ref_not_found")
	}
	err := txErr(t, s, func(tx store.Tx) error { return tx.PutMailRef(ctx, "d@mail.example", 987654) })
	wantCode(t, "PutMailRef unknown conversation", err, "conversation_not_found")
	_, err = find("d@mail.example")
	wantCode(t, "ref of an unknown conversation", err, "mail_ref_not_found")
}

func testConversationQuery(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	type spec struct {
		name, email string // contact ("" and "": none)
		public      []string
		internal    []string
	}
	specs := []spec{
		{name: "Ada Lovelace", email: "ada@example.com"},                         // 0
		{name: "Grace Hopper", email: "grace@navy.mil"},                          // 1
		{public: []string{"Invoice number 42 is WRONG", "and again: invoice"}},   // 2
		{internal: []string{"secret invoice note"}, public: []string{"hello"}},   // 3
		{name: "Sale 50% off_deal", email: "deals@shop.example"},                 // 4
		{public: []string{"discount 50 percent", "offXdeal"}},                    // 5
		{public: []string{`path C:\temp\new`}},                                   // 6
		{name: "Bob", email: "bob@example.com", public: []string{"hello there"}}, // 7
	}
	var site, otherSite model.Site
	convs := make([]model.Conversation, len(specs))
	inTx(t, s, func(tx store.Tx) error {
		site, otherSite = newSite(t, tx, "q"), newSite(t, tx, "q2")
		for i, sp := range specs {
			siteID := site.ID
			if i == 7 {
				siteID = otherSite.ID
			}
			var contactID int64
			if sp.name != "" || sp.email != "" {
				c := model.Contact{SiteID: siteID, Name: sp.name, Email: sp.email, CreatedAt: t0}
				noErr(t, "CreateContact", tx.CreateContact(ctx, &c))
				contactID = c.ID
			}
			convs[i] = newConversation(t, tx, siteID, contactID)
			for j, body := range sp.public {
				m := textMsg(convs[i].ID, body, at(time.Duration(i*10+j)*time.Second))
				noErr(t, "AppendMessage", tx.AppendMessage(ctx, &m))
			}
			for j, body := range sp.internal {
				m := textMsg(convs[i].ID, body, at(time.Duration(i*10+5+j)*time.Second))
				m.Visibility, m.AuthorKind, m.Kind = model.Internal, model.PartyAgent, model.KindNote
				noErr(t, "AppendMessage note", tx.AppendMessage(ctx, &m))
			}
		}
		return nil
	})
	// The expected conversations, in the list's order.
	all, _ := listAll(t, s, store.ConversationFilter{})
	expect := func(idx ...int) []int64 {
		want := map[int64]bool{}
		for _, i := range idx {
			want[convs[i].ID] = true
		}
		out := []int64{}
		for _, id := range all {
			if want[id] {
				out = append(out, id)
			}
		}
		return out
	}
	for _, c := range []struct {
		query string
		want  []int
	}{
		{"ada", []int{0}},                 // name, case-insensitive
		{"LOVELACE", []int{0}},            // name
		{"NAVY.mil", []int{1}},            // email
		{"example", []int{0, 4, 7}},       // emails
		{"wrong", []int{2}},               // public message body
		{"invoice", []int{2}},             // twice in 2; an internal note of 3 is not searched
		{"secret", nil},                   // internal notes only
		{"hello", []int{3, 7}},            // public messages
		{"50%", []int{4}},                 // % is literal: not "discount 50 percent"
		{"off_deal", []int{4}},            // _ is literal: not "offXdeal"
		{"%", []int{4}},                   // literal %
		{"_", []int{4}},                   // literal _
		{`C:\temp`, []int{6}},             // \ is literal
		{`\`, []int{6}},                   // literal \
		{`\%`, nil},                       // literal \%
		{"nothing like this", nil},        // no match
		{"' OR 1=1 --", nil},              // just text
		{"\x00", nil},                     // odd bytes are harmless
		{"\xff\xfe", nil},                 //
		{strings.Repeat("a", 300), nil},   // long
		{"o", []int{0, 1, 2, 3, 4, 5, 7}}, // many
	} {
		got, _ := listAll(t, s, store.ConversationFilter{Query: c.query, Limit: 2})
		eq(t, "Query "+c.query, got, expect(c.want...))
	}
	// With other filters, and inside a transaction, which stays usable.
	got, _ := listAll(t, s, store.ConversationFilter{Query: "hello", SiteID: site.ID})
	eq(t, "Query with SiteID", got, expect(3))
	got, _ = listAll(t, s, store.ConversationFilter{Query: "o", SiteIDs: []int64{otherSite.ID}, Limit: 1})
	eq(t, "Query with SiteIDs", got, expect(7))
	inTx(t, s, func(tx store.Tx) error {
		for _, q := range []string{"\x00\xff", `50%`, "ada"} {
			_, err := tx.ListConversations(ctx, store.ConversationFilter{Query: q})
			noErr(t, "ListConversations in tx", err)
		}
		p := try[store.ConversationPage](t, "ListConversations")(tx.ListConversations(ctx, store.ConversationFilter{Query: "Grace"}))
		ids := []int64{}
		for _, c := range p.Conversations {
			ids = append(ids, c.ID)
		}
		eq(t, "Query in tx", ids, expect(1))
		m := textMsg(convs[1].ID, "a new clue", at(time.Hour))
		noErr(t, "AppendMessage after searching", tx.AppendMessage(ctx, &m))
		return nil
	})
	got, _ = listAll(t, s, store.ConversationFilter{Query: "CLUE"})
	if !slices.Equal(got, []int64{convs[1].ID}) {
		t.Errorf("Query of a new message: %v, want [%d]", got, convs[1].ID)
	}
}

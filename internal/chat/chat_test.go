package chat_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/blob"
	"switchboard/internal/bus"
	"switchboard/internal/chat"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/store"
	"switchboard/internal/store/sqlstore"
)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	clk   *clock.Fake
	svc   *chat.Service
	site  model.Site
	admin chat.Actor
	agent chat.Actor
	bob   chat.Actor
	sup   chat.Actor

	mu     sync.Mutex
	events []bus.Event

	prevHeld map[int64]int     // routing invariants: load at the previous step
	members  map[int64][]int64 // routing invariants: department → members
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with the service's configuration adjusted.
func newFixtureWith(t *testing.T, adjust func(*chat.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	blobs, err := blob.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := bus.NewMemory()
	t.Cleanup(func() { b.Close() })
	clk := clock.NewFake(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	f := &fixture{t: t, ctx: ctx, st: st, clk: clk}
	cfg := chat.Config{Store: st, Bus: b, Blobs: blobs, Clock: clk, NodeID: "test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if adjust != nil {
		adjust(&cfg)
	}
	f.svc = chat.New(cfg)
	t.Cleanup(f.svc.StopRouting)
	if _, err := b.Subscribe(func(e bus.Event) {
		f.mu.Lock()
		f.events = append(f.events, e)
		f.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	f.admin = chat.Actor{Party: model.PartyAgent, User: model.User{ID: 0, Role: model.RoleAdmin, Name: "root"}}
	name := "Shop"
	f.site, err = f.svc.CreateSite(ctx, f.admin, chat.SiteInput{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	f.agent = f.user("alice@x.test", "Alice", model.RoleAgent)
	f.bob = f.user("bob@x.test", "Bob", model.RoleAgent)
	f.sup = f.user("sue@x.test", "Sue", model.RoleSupervisor)
	return f
}

func (f *fixture) user(email, name string, role model.Role) chat.Actor {
	f.t.Helper()
	u := model.User{Email: email, Name: name, Role: role, Availability: model.Offline, Capacity: 5, CreatedAt: f.clk.Now(), UpdatedAt: f.clk.Now()}
	err := f.st.InTx(f.ctx, func(tx store.Tx) error {
		if err := tx.CreateUser(f.ctx, &u); err != nil {
			return err
		}
		return tx.SetUserSites(f.ctx, u.ID, []int64{f.site.ID})
	})
	if err != nil {
		f.t.Fatal(err)
	}
	a, err := f.svc.StaffActor(f.ctx, u)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) visitor() chat.Actor {
	f.t.Helper()
	vs, err := f.svc.StartVisitor(f.ctx, f.site.Key, "")
	if err != nil {
		f.t.Fatal(err)
	}
	a, _, err := f.svc.AuthenticateVisitor(f.ctx, vs.Token)
	if err != nil {
		f.t.Fatal(err)
	}
	return a
}

func (f *fixture) online(a chat.Actor) {
	f.t.Helper()
	if _, err := f.svc.SetAvailability(f.ctx, a, model.Available); err != nil {
		f.t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("error %v (code %q), want code %q", err, got, code)
	}
}

// must unwraps a (value, error) pair. Go cannot pass a multi-value call
// together with t, so a failure panics: the test binary reports it with the
// stack, which names the failing call.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestLifecycleRecordsAnalyticsTimestamps(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	req := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Body: "help", ClientID: "q1"}))
	conv := req.Conversation.ID
	if req.Chat.Chat.State != model.ChatWaiting {
		t.Fatalf("state %s", req.Chat.Chat.State)
	}
	requested := f.clk.Now()

	// Asking again while live returns the same chat and appends the new question once.
	again := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Body: "help", ClientID: "q1"}))
	if again.Conversation.ID != conv || again.Chat.Chat.ID != req.Chat.Chat.ID {
		t.Fatal("a second request created another chat")
	}

	f.clk.Advance(42 * time.Second)
	f.online(f.agent)
	joined := must(f.svc.Join(f.ctx, f.agent, conv))
	if got := joined.Chat.Chat.FirstJoinedAt.Sub(requested); got != 42*time.Second {
		t.Fatalf("wait time %v, want 42s", got)
	}
	f.clk.Advance(8 * time.Second)
	must(f.svc.Send(f.ctx, f.agent, chat.SendInput{ConversationID: conv, ClientID: "a1", Body: "hi"}))
	f.clk.Advance(5 * time.Second)
	must(f.svc.Send(f.ctx, f.agent, chat.SendInput{ConversationID: conv, ClientID: "a2", Body: "still there?"}))
	f.clk.Advance(60 * time.Second)
	ended := must(f.svc.End(f.ctx, v, conv))
	c := ended.Chat.Chat
	if got := c.FirstResponseAt.Sub(requested); got != 50*time.Second {
		t.Fatalf("first response time %v, want 50s (the first reply, not the second)", got)
	}
	if got := c.EndedAt.Sub(c.FirstJoinedAt); got != 73*time.Second {
		t.Fatalf("duration %v, want 73s", got)
	}
	if c.EndedBy != model.PartyVisitor || c.EndReason != model.EndCompleted {
		t.Fatalf("ended by %s because %s", c.EndedBy, c.EndReason)
	}
	if ended.Conversation.Status != model.StatusClosed || ended.Conversation.AssigneeID != f.agent.User.ID {
		t.Fatalf("ticket %+v", ended.Conversation)
	}
	for _, p := range ended.Chat.Participants {
		if p.LeftAt.IsZero() {
			t.Fatalf("participant %d still in an ended chat", p.UserID)
		}
	}
	// Writing again reopens the closed ticket (no live chat needed).
	must(f.svc.Send(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "later", Body: "one more thing"}))
	got := must(f.st.GetConversation(f.ctx, conv))
	if got.Status != model.StatusOpen {
		t.Fatalf("ticket not reopened: %s", got.Status)
	}
	// A new request after a closed ticket starts a new chat in the reopened
	// conversation (it is open again).
	next := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{}))
	if next.Conversation.ID != conv || next.Chat.Chat.ID == c.ID {
		t.Fatalf("new request: conversation %d chat %d", next.Conversation.ID, next.Chat.Chat.ID)
	}
}

func TestUnansweredEndsLeaveOpenUnassignedTickets(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{})).Conversation.ID
	ended := must(f.svc.End(f.ctx, v, conv))
	if ended.Chat.Chat.EndReason != model.EndVisitorLeft || ended.Conversation.Status != model.StatusOpen || ended.Conversation.AssigneeID != 0 {
		t.Fatalf("visitor left while waiting: %+v / %+v", ended.Chat.Chat, ended.Conversation)
	}
	_, err := f.svc.End(f.ctx, v, conv)
	wantCode(t, err, "chat_ended")
	// A closed ticket gets a new conversation on the next request.
	v2 := f.visitor()
	c2 := must(f.svc.RequestChat(f.ctx, v2, chat.RequestChatInput{})).Conversation.ID
	f.online(f.agent)
	must(f.svc.Join(f.ctx, f.agent, c2))
	must(f.svc.End(f.ctx, f.agent, c2))
	c3 := must(f.svc.RequestChat(f.ctx, v2, chat.RequestChatInput{})).Conversation.ID
	if c3 == c2 {
		t.Fatal("a request after a closed ticket reused it")
	}
}

func TestJoinLeaveRules(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{})).Conversation.ID

	_, err := f.svc.Join(f.ctx, f.agent, conv)
	wantCode(t, err, "agent_offline")
	_, err = f.svc.Join(f.ctx, f.sup, conv)
	wantCode(t, err, "supervisor_read_only")
	_, err = f.svc.Send(f.ctx, f.agent, chat.SendInput{ConversationID: conv, ClientID: "x", Body: "hi"})
	wantCode(t, err, "not_a_participant")

	f.online(f.agent)
	f.online(f.bob)
	must(f.svc.Join(f.ctx, f.agent, conv))
	must(f.svc.Join(f.ctx, f.agent, conv)) // idempotent for the one who is in
	_, err = f.svc.Join(f.ctx, f.bob, conv)
	wantCode(t, err, "chat_already_taken")
	_, err = f.svc.Leave(f.ctx, f.bob, conv)
	wantCode(t, err, "not_a_participant")
	_, err = f.svc.End(f.ctx, f.bob, conv)
	wantCode(t, err, "not_a_participant")

	// The last agent leaving puts the chat back in the queue, unassigned.
	left := must(f.svc.Leave(f.ctx, f.agent, conv))
	if left.Chat.Chat.State != model.ChatWaiting || left.Conversation.AssigneeID != 0 {
		t.Fatalf("after leave: %s assignee %d", left.Chat.Chat.State, left.Conversation.AssigneeID)
	}
	must(f.svc.Join(f.ctx, f.bob, conv))

	// Supervisors write notes, never to the customer.
	_, err = f.svc.Send(f.ctx, f.sup, chat.SendInput{ConversationID: conv, ClientID: "s", Body: "hi"})
	wantCode(t, err, "supervisor_read_only")
	must(f.svc.Note(f.ctx, f.sup, chat.SendInput{ConversationID: conv, ClientID: "s", Body: "@bob careful"}))
	// Visitors cannot write notes.
	_, err = f.svc.Note(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "v", Body: "x"})
	wantCode(t, err, "conversation_not_found")
}

func TestVisibilityOfPublishedEvents(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{})).Conversation.ID
	f.online(f.agent)
	must(f.svc.Join(f.ctx, f.agent, conv))
	note := must(f.svc.Note(f.ctx, f.agent, chat.SendInput{ConversationID: conv, ClientID: "n", Body: "internal"}))
	msg := must(f.svc.Send(f.ctx, f.agent, chat.SendInput{ConversationID: conv, ClientID: "m", Body: "public"}))
	if err := f.svc.Typing(f.ctx, v, conv, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Typing(f.ctx, f.sup, conv, true, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Typing(f.ctx, f.agent, conv, true, ""); err != nil {
		t.Fatal(err)
	}
	must(f.svc.SetTags(f.ctx, f.agent, conv, []string{"b", " A ", "b"}))

	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.events)
		f.mu.Unlock()
		if n >= 12 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var typing []model.Visibility
	for _, e := range f.events {
		switch {
		case e.Type == bus.TypeMessage && e.Seq == note.Seq && e.Visibility != model.Internal:
			t.Fatal("note published as public")
		case e.Type == bus.TypeMessage && e.Seq == msg.Seq && e.Visibility != model.Public:
			t.Fatal("message published as internal")
		case e.Type == bus.TypeConversation && e.Visibility != model.Internal:
			t.Fatal("ticket fields published to visitors")
		case e.Type == bus.TypeConversation && strings.Contains(string(e.Frame), `"tags":["a","b"]`):
		case e.Type == bus.TypeTyping:
			typing = append(typing, e.Visibility)
		}
		if e.Type == bus.TypeMessage && e.ContactID != v.ContactID {
			t.Fatalf("message event routed to contact %d", e.ContactID)
		}
	}
	want := []model.Visibility{model.Internal, model.Internal, model.Public} // visitor, supervisor, agent
	if len(typing) != 3 || typing[0] != want[0] || typing[1] != want[1] || typing[2] != want[2] {
		t.Fatalf("typing visibilities %v, want %v", typing, want)
	}
}

func TestValidation(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{})).Conversation.ID
	cases := []struct {
		in   chat.SendInput
		code string
	}{
		{chat.SendInput{ConversationID: conv, ClientID: "a", Body: "   "}, "empty_message"},
		{chat.SendInput{ConversationID: conv, ClientID: "a", Body: strings.Repeat("x", 8<<10+1)}, "message_too_long"},
		{chat.SendInput{ConversationID: conv, ClientID: "a", Body: "bad \xff"}, "invalid_utf8"},
		{chat.SendInput{ConversationID: conv, ClientID: "a", Body: "nul \x00 byte"}, "invalid_character"},
		{chat.SendInput{ConversationID: conv, Body: "x"}, "client_id_required"},
		{chat.SendInput{ConversationID: conv, ClientID: "a b", Body: "x"}, "invalid_client_id"},
		{chat.SendInput{ConversationID: conv + 1000, ClientID: "a", Body: "x"}, "conversation_not_found"},
		{chat.SendInput{ConversationID: conv, ClientID: "a", Body: "x", AttachmentID: 999}, "attachment_not_found"},
	}
	for _, c := range cases {
		_, err := f.svc.Send(f.ctx, v, c.in)
		wantCode(t, err, c.code)
	}
	_, err := f.svc.SetTags(f.ctx, f.agent, conv, []string{"a,b"})
	wantCode(t, err, "invalid_tag")
	_, err = f.svc.SetTags(f.ctx, f.agent, conv, make([]string, 21))
	wantCode(t, err, "too_many_tags")
	_, err = f.svc.SetPriority(f.ctx, f.agent, conv, "asap")
	wantCode(t, err, "invalid_priority")
	_, err = f.svc.SetAvailability(f.ctx, f.agent, "sleeping")
	wantCode(t, err, "invalid_availability")
	_, err = f.svc.MarkRead(f.ctx, v, conv, 999)
	wantCode(t, err, "seq_out_of_range")
	_, err = f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Email: "not an email"})
	wantCode(t, err, "invalid_email")
	_, err = f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Name: "Ve\x00ra"})
	wantCode(t, err, "invalid_name")
	_, err = f.svc.StartVisitor(f.ctx, "../etc", "")
	wantCode(t, err, "invalid_site_key")
	_, err = f.svc.StartVisitor(f.ctx, "nosuchsite", "")
	wantCode(t, err, "site_not_found")
	// Nothing of that was written: only the request's system line is there.
	msgs := must(f.svc.History(f.ctx, f.agent, conv, 0, 0))
	if len(msgs) != 1 || msgs[0].Event != model.EventChatRequested {
		t.Fatalf("timeline after bad input: %+v", msgs)
	}
}

func TestOrigins(t *testing.T) {
	site := model.Site{AllowedOrigins: []string{"https://shop.test", "https://*.brand.test"}}
	for origin, ok := range map[string]bool{
		"https://shop.test":       true,
		"https://SHOP.test/":      true,
		"https://eu.brand.test":   true,
		"https://brand.test":      false,
		"http://shop.test":        false,
		"https://shop.test.evil":  false,
		"https://evilbrand.test":  false,
		"":                        false,
		"null":                    false,
		"https://x.eu.brand.test": true,
	} {
		if err := chat.CheckOrigin(site, origin); (err == nil) != ok {
			t.Errorf("origin %q: allowed=%v, want %v", origin, err == nil, ok)
		}
	}
	if err := chat.CheckOrigin(model.Site{}, "https://anything.test"); err != nil {
		t.Errorf("a site without origins refused: %v", err)
	}
}

func TestForeignConversationsAreInvisible(t *testing.T) {
	f := newFixture(t)
	a := f.visitor()
	b := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, a, chat.RequestChatInput{})).Conversation.ID
	_, err := f.svc.History(f.ctx, b, conv, 0, 0)
	wantCode(t, err, "conversation_not_found")
	_, err = f.svc.Send(f.ctx, b, chat.SendInput{ConversationID: conv, ClientID: "x", Body: "hi"})
	wantCode(t, err, "conversation_not_found")
	_, err = f.svc.End(f.ctx, b, conv)
	wantCode(t, err, "conversation_not_found")
	// An agent of another site.
	name := "Other"
	other := must(f.svc.CreateSite(f.ctx, f.admin, chat.SiteInput{Name: &name}))
	outsider := f.user("out@x.test", "Out", model.RoleAgent)
	if err := f.st.InTx(f.ctx, func(tx store.Tx) error { return tx.SetUserSites(f.ctx, outsider.User.ID, []int64{other.ID}) }); err != nil {
		t.Fatal(err)
	}
	outsider = must(f.svc.StaffActor(f.ctx, outsider.User))
	_, err = f.svc.GetConversation(f.ctx, outsider, conv)
	wantCode(t, err, "conversation_not_found")
	page := must(f.svc.ListConversations(f.ctx, outsider, store.ConversationFilter{}))
	if len(page.Conversations) != 0 {
		t.Fatalf("outsider lists %d conversations", len(page.Conversations))
	}
}

func TestReadMarksOnlyMoveForward(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Body: "a", ClientID: "a"})).Conversation.ID
	must(f.svc.Send(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "b", Body: "b"}))
	if m := must(f.svc.MarkRead(f.ctx, v, conv, 3)); m.Seq != 3 {
		t.Fatalf("mark %d", m.Seq)
	}
	countReads := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := 0
		for _, e := range f.events {
			if e.Type == bus.TypeRead {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(5 * time.Second); countReads() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the first read was not announced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if m := must(f.svc.MarkRead(f.ctx, v, conv, 1)); m.Seq != 3 {
		t.Fatalf("an older read moved the mark back to %d", m.Seq)
	}
	// A wrongly published event would come before this marker.
	must(f.svc.Send(f.ctx, v, chat.SendInput{ConversationID: conv, ClientID: "c", Body: "c"}))
	must(f.svc.MarkRead(f.ctx, v, conv, 4))
	for deadline := time.Now().Add(5 * time.Second); countReads() < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the newer read was not announced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := countReads(); n != 2 {
		t.Fatalf("%d read events, want 2: the older read was announced", n)
	}
}

func TestRequestChatShowsJoinedAgents(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{})).Conversation.ID
	f.online(f.agent)
	must(f.svc.Join(f.ctx, f.agent, conv))
	again := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{}))
	if again.Chat == nil || len(again.Chat.Participants) != 1 || again.Chat.Participants[0].Name != "Alice" {
		t.Fatalf("existing live chat returned without its agent: %+v", again.Chat)
	}
}

func TestAvailabilityIsPublishedPerSharedSite(t *testing.T) {
	f := newFixture(t)
	f.online(f.agent)
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		var got []bus.Event
		for _, e := range f.events {
			if e.Type == bus.TypeAvailability {
				got = append(got, e)
			}
		}
		f.mu.Unlock()
		if len(got) == 1 {
			if got[0].SiteID != f.site.ID || got[0].UserID != f.agent.User.ID {
				t.Fatalf("availability event %+v", got[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d availability events", len(got))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTypingOfStaffOutsideTheChatStaysInternal(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{})).Conversation.ID
	f.online(f.agent)
	must(f.svc.Join(f.ctx, f.agent, conv))
	if err := f.svc.Typing(f.ctx, f.bob, conv, true, ""); err != nil { // bob is not in the chat
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		var vis []model.Visibility
		for _, e := range f.events {
			if e.Type == bus.TypeTyping {
				vis = append(vis, e.Visibility)
			}
		}
		f.mu.Unlock()
		if len(vis) == 1 {
			if vis[0] != model.Internal {
				t.Fatal("a colleague outside the chat showed as typing to the customer")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no typing event")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAgentRetryAfterEndReturnsFirstAck: an agent's send that was accepted,
// retried after the chat ended, returns the first message instead of
// not_a_participant; a new message after the end is refused.
func TestAgentRetryAfterEndReturnsFirstAck(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{})).Conversation.ID
	f.online(f.agent)
	must(f.svc.Join(f.ctx, f.agent, conv))
	first := must(f.svc.Send(f.ctx, f.agent, chat.SendInput{ConversationID: conv, ClientID: "r1", Body: "hello"}))
	must(f.svc.End(f.ctx, f.agent, conv))
	again := must(f.svc.Send(f.ctx, f.agent, chat.SendInput{ConversationID: conv, ClientID: "r1", Body: "hello"}))
	if again.ID != first.ID || again.Seq != first.Seq {
		t.Fatalf("retry after end: %+v, want %+v", again, first)
	}
	_, err := f.svc.Send(f.ctx, f.agent, chat.SendInput{ConversationID: conv, ClientID: "r2", Body: "new"})
	wantCode(t, err, "no_live_chat")
}

func TestRating(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	conv := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{}))
	chatID := conv.Chat.Chat.ID
	_, err := f.svc.Rate(f.ctx, v, conv.Conversation.ID, chatID, 5, "")
	wantCode(t, err, "chat_not_ended")
	f.online(f.agent)
	must(f.svc.Join(f.ctx, f.agent, conv.Conversation.ID))
	must(f.svc.End(f.ctx, f.agent, conv.Conversation.ID))
	for _, bad := range []struct {
		score   int
		comment string
		code    string
	}{{0, "", "invalid_rating"}, {6, "", "invalid_rating"}, {3, strings.Repeat("x", 2001), "invalid_comment"}, {3, "a\x00b", "invalid_comment"}} {
		_, err := f.svc.Rate(f.ctx, v, conv.Conversation.ID, chatID, bad.score, bad.comment)
		wantCode(t, err, bad.code)
	}
	_, err = f.svc.Rate(f.ctx, f.agent, conv.Conversation.ID, chatID, 5, "")
	wantCode(t, err, "visitors_only")
	other := f.visitor()
	_, err = f.svc.Rate(f.ctx, other, conv.Conversation.ID, chatID, 5, "")
	wantCode(t, err, "conversation_not_found")
	_, err = f.svc.Rate(f.ctx, v, conv.Conversation.ID, chatID+999, 5, "")
	wantCode(t, err, "chat_not_found")

	rated := must(f.svc.Rate(f.ctx, v, conv.Conversation.ID, chatID, 4, "  quick and kind "))
	if rated.Chat.Rating != 4 || rated.Chat.RatingComment != "quick and kind" || rated.Chat.RatedAt.IsZero() {
		t.Fatalf("rated chat %+v", rated.Chat)
	}
	_, err = f.svc.Rate(f.ctx, v, conv.Conversation.ID, chatID, 1, "changed my mind")
	wantCode(t, err, "already_rated")
	got := must(f.st.GetChat(f.ctx, chatID))
	if got.Rating != 4 {
		t.Fatalf("stored rating %d", got.Rating)
	}
}

func TestLeaveMessageCreatesAnOpenUnassignedTicketOnce(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	in := chat.LeaveMessageInput{Name: "Nora", Email: "Nora@Example.com", Body: "Do you ship to Norway?", ClientID: "off-1"}
	first := must(f.svc.LeaveMessage(f.ctx, v, in))
	again := must(f.svc.LeaveMessage(f.ctx, v, in))
	if again.Conversation.ID != first.Conversation.ID {
		t.Fatal("a resubmitted form created a second ticket")
	}
	c := must(f.st.GetConversation(f.ctx, first.Conversation.ID))
	if c.Status != model.StatusOpen || c.AssigneeID != 0 || c.ChatID != 0 || c.Preview != "Do you ship to Norway?" {
		t.Fatalf("ticket %+v", c)
	}
	contact := must(f.st.GetContact(f.ctx, v.ContactID))
	if contact.Email != "nora@example.com" || contact.Name != "Nora" {
		t.Fatalf("contact %+v", contact)
	}
	_, err := f.svc.LeaveMessage(f.ctx, v, chat.LeaveMessageInput{Body: "hi", ClientID: "off-2"})
	wantCode(t, err, "invalid_email")
	_, err = f.svc.LeaveMessage(f.ctx, v, chat.LeaveMessageInput{Email: "a@b.test", Body: " ", ClientID: "off-3"})
	wantCode(t, err, "empty_message")
	_, err = f.svc.LeaveMessage(f.ctx, f.agent, in)
	wantCode(t, err, "visitors_only")
}

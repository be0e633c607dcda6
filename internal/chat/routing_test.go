package chat_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"switchboard/internal/bus"
	"switchboard/internal/chat"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// route sets the site's routing settings.
func (f *fixture) route(rs model.RoutingSettings) {
	f.t.Helper()
	if _, err := f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Routing: &rs}); err != nil {
		f.t.Fatal(err)
	}
	f.site.Routing = rs
	f.svc.SettleRouting()
}

// request starts a chat for a new visitor and lets routing settle.
func (f *fixture) request() (chat.Actor, int64, int64) {
	f.t.Helper()
	v := f.visitor()
	view := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{}))
	f.svc.SettleRouting()
	return v, view.Conversation.ID, view.Chat.Chat.ID
}

func (f *fixture) capacity(a chat.Actor, n int) {
	f.t.Helper()
	must(f.svc.SetCapacity(f.ctx, a, n))
	f.svc.SettleRouting()
}

func (f *fixture) goOnline(a chat.Actor) {
	f.t.Helper()
	f.online(a)
	f.svc.SettleRouting()
}

// pending returns the users a chat is offered to now.
func (f *fixture) pending(chatID int64) []int64 {
	f.t.Helper()
	os := must(f.st.ListOffers(f.ctx, store.OfferQuery{ChatID: chatID, PendingOnly: true}))
	var out []int64
	for _, o := range os {
		out = append(out, o.UserID)
	}
	return out
}

func (f *fixture) chatState(chatID int64) model.ChatState {
	f.t.Helper()
	return must(f.st.GetChat(f.ctx, chatID)).State
}

// eventsOf returns the data of published events of a type.
func eventsOf[T any](f *fixture, typ string) []T {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []T
	for _, e := range f.events {
		if e.Type != typ {
			continue
		}
		var fr struct {
			Data T `json:"data"`
		}
		if err := json.Unmarshal(e.Frame, &fr); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, fr.Data)
	}
	return out
}

func TestRoundRobinOffersInTurnWithinCapacity(t *testing.T) {
	f := newFixture(t)
	f.route(model.RoutingSettings{Strategy: "round_robin"})
	f.capacity(f.agent, 1)
	f.capacity(f.bob, 1)
	f.goOnline(f.agent)
	f.clk.Advance(time.Second)
	f.goOnline(f.bob)

	_, _, c1 := f.request()
	f.clk.Advance(time.Second)
	_, _, c2 := f.request()
	f.clk.Advance(time.Second)
	_, _, c3 := f.request()
	o1, o2 := f.pending(c1), f.pending(c2)
	if len(o1) != 1 || len(o2) != 1 || o1[0] == o2[0] {
		t.Fatalf("offers %v and %v: want one each, to different agents", o1, o2)
	}
	if f.chatState(c1) != model.ChatPending || f.chatState(c2) != model.ChatPending {
		t.Fatal("offered chats are not pending")
	}
	// Both are at capacity (an offer counts): the third waits.
	if got := f.pending(c3); len(got) != 0 || f.chatState(c3) != model.ChatWaiting {
		t.Fatalf("third chat offered %v / %s beyond capacity", got, f.chatState(c3))
	}
	// The first agent's offer is joined, then the chat ends: room again,
	// and the waiting chat is offered at once (event-driven, no timer).
	var who chat.Actor
	if o1[0] == f.agent.User.ID {
		who = f.agent
	} else {
		who = f.bob
	}
	conv1 := must(f.st.GetChat(f.ctx, c1)).ConversationID
	must(f.svc.Join(f.ctx, who, conv1))
	f.svc.SettleRouting()
	if got := f.pending(c3); len(got) != 0 {
		t.Fatalf("offered %v while its agent is still at capacity", got)
	}
	must(f.svc.End(f.ctx, who, conv1))
	f.svc.SettleRouting()
	if got := f.pending(c3); !slices.Equal(got, []int64{who.User.ID}) {
		t.Fatalf("after the end, third chat offered to %v, want %d", got, who.User.ID)
	}
}

func TestLeastBusyPrefersTheFreestAgent(t *testing.T) {
	f := newFixture(t)
	f.route(model.RoutingSettings{Strategy: "least_busy"})
	f.capacity(f.agent, 3)
	f.capacity(f.bob, 3)
	f.goOnline(f.agent)
	// Alice takes two chats while Bob is away.
	for range 2 {
		_, conv, _ := f.request()
		must(f.svc.Join(f.ctx, f.agent, conv))
	}
	f.goOnline(f.bob)
	_, _, c := f.request()
	if got := f.pending(c); !slices.Equal(got, []int64{f.bob.User.ID}) {
		t.Fatalf("offered to %v, want bob (0 chats) over alice (2)", got)
	}
}

func TestPriorityStrategyServesUrgentFirst(t *testing.T) {
	f := newFixture(t)
	f.route(model.RoutingSettings{Strategy: "priority"})
	f.capacity(f.agent, 1)
	var convs, chats []int64
	for range 3 {
		_, conv, c := f.request()
		convs, chats = append(convs, conv), append(chats, c)
		f.clk.Advance(time.Second)
	}
	must(f.svc.SetPriority(f.ctx, f.admin, convs[2], model.PriorityUrgent))
	must(f.svc.SetPriority(f.ctx, f.admin, convs[0], model.PriorityLow))
	f.svc.SettleRouting()
	f.goOnline(f.agent)
	if got := f.pending(chats[2]); !slices.Equal(got, []int64{f.agent.User.ID}) {
		t.Fatalf("urgent chat offered to %v; the others: %v %v", got, f.pending(chats[0]), f.pending(chats[1]))
	}
	// Positions follow the serving order: normal (1) before low (2).
	st := must(f.svc.VisitorConversation(f.ctx, f.visitorOf(convs[1]), convs[1]))
	if st.Queue == nil || st.Queue.Position != 2 {
		t.Fatalf("normal chat queue status %+v, want position 2 (behind the pending urgent one)", st.Queue)
	}
}

// visitorOf returns an actor for the contact of a conversation.
func (f *fixture) visitorOf(convID int64) chat.Actor {
	c := must(f.st.GetConversation(f.ctx, convID))
	return chat.Actor{Party: model.PartyVisitor, SiteID: c.SiteID, ContactID: c.ContactID}
}

func TestOfferTimeoutMovesOnAndSetsAwayAfterMisses(t *testing.T) {
	f := newFixture(t)
	f.route(model.RoutingSettings{Strategy: "round_robin", OfferTimeoutSeconds: 10, MaxMisses: 1})
	f.goOnline(f.agent)
	f.clk.Advance(time.Second)
	f.goOnline(f.bob)
	_, conv, c := f.request()
	first := f.pending(c)
	if len(first) != 1 {
		t.Fatalf("offers %v", first)
	}
	f.clk.Advance(9 * time.Second)
	f.svc.SettleRouting()
	if got := f.pending(c); !slices.Equal(got, first) {
		t.Fatalf("offer moved before its timeout: %v", got)
	}
	f.clk.Advance(time.Second)
	f.svc.SettleRouting()
	second := f.pending(c)
	if len(second) != 1 || second[0] == first[0] {
		t.Fatalf("after the timeout offered to %v (first was %v)", second, first)
	}
	missed := must(f.st.GetUser(f.ctx, first[0]))
	if missed.Availability != model.Away || missed.MissedOffers != 1 {
		t.Fatalf("agent who missed: %s, %d misses; want away after 1", missed.Availability, missed.MissedOffers)
	}
	// The agent who missed it cannot join on the stale offer's behalf of
	// the other: the second agent joins and the miss streak of theirs is 0.
	var second2 chat.Actor
	if second[0] == f.agent.User.ID {
		second2 = f.agent
	} else {
		second2 = f.bob
	}
	must(f.svc.Join(f.ctx, second2, conv))
	if got := f.pending(c); len(got) != 0 {
		t.Fatalf("offers left after the join: %v", got)
	}
}

func TestDeclinedChatGoesToTheNextAgentAndNotBack(t *testing.T) {
	f := newFixture(t)
	f.route(model.RoutingSettings{Strategy: "round_robin"})
	f.goOnline(f.agent)
	f.clk.Advance(time.Second)
	f.goOnline(f.bob)
	_, conv, c := f.request()
	first := f.pending(c)[0]
	decliner, other := f.agent, f.bob
	if first == f.bob.User.ID {
		decliner, other = f.bob, f.agent
	}
	if err := f.svc.Decline(f.ctx, decliner, conv); err != nil {
		t.Fatal(err)
	}
	f.svc.SettleRouting()
	if got := f.pending(c); !slices.Equal(got, []int64{other.User.ID}) {
		t.Fatalf("after decline offered to %v", got)
	}
	if err := f.svc.Decline(f.ctx, other, conv); err != nil {
		t.Fatal(err)
	}
	f.svc.SettleRouting()
	if got := f.pending(c); len(got) != 0 || f.chatState(c) != model.ChatWaiting {
		t.Fatalf("declined by everyone: offers %v, state %s; want waiting", got, f.chatState(c))
	}
	wantCode(t, f.svc.Decline(f.ctx, other, conv), "no_offer")
}

func TestMaxWaitEndsUnansweredWithTheSiteMessage(t *testing.T) {
	f := newFixture(t)
	f.route(model.RoutingSettings{MaxWaitSeconds: 120, UnansweredMessage: "We are swamped, sorry."})
	v, conv, c := f.request()
	f.clk.Advance(119 * time.Second)
	f.svc.SettleRouting()
	if f.chatState(c) != model.ChatWaiting {
		t.Fatal("ended before the max wait")
	}
	f.clk.Advance(time.Second)
	f.svc.SettleRouting()
	got := must(f.st.GetChat(f.ctx, c))
	if got.State != model.ChatEnded || got.EndReason != model.EndUnanswered || got.EndedBy != model.PartySystem {
		t.Fatalf("after max wait: %+v", got)
	}
	cv := must(f.st.GetConversation(f.ctx, conv))
	if cv.Status != model.StatusOpen || cv.AssigneeID != 0 {
		t.Fatalf("ticket %s assignee %d, want open and unassigned", cv.Status, cv.AssigneeID)
	}
	msgs := must(f.svc.History(f.ctx, v, conv, 0, 100))
	last := msgs[len(msgs)-1]
	if last.Event != model.EventUnanswered || last.Body != "We are swamped, sorry." {
		t.Fatalf("last line %+v", last)
	}
	if _, err := f.st.GetQueueEntry(f.ctx, c); err == nil {
		t.Fatal("an ended chat is still queued")
	}
}

func TestQueuePositionsArePushedWhenTheyChange(t *testing.T) {
	f := newFixture(t)
	var convs []int64
	for range 3 {
		_, conv, _ := f.request()
		convs = append(convs, conv)
		f.clk.Advance(time.Second)
	}
	latest := func() map[int64]int {
		out := map[int64]int{}
		for _, q := range eventsOf[chat.QueueStatus](f, bus.TypeQueue) {
			out[q.ChatID] = q.Position
		}
		return out
	}
	// The bus delivers asynchronously: wait for the events to arrive.
	eventually(t, func() bool { return len(latest()) == 3 }, func() string { return fmt.Sprint(latest()) })
	v0 := f.visitorOf(convs[0])
	must(f.svc.End(f.ctx, v0, convs[0]))
	f.svc.SettleRouting()
	c1 := must(f.st.GetConversation(f.ctx, convs[1])).ChatID
	c2 := must(f.st.GetConversation(f.ctx, convs[2])).ChatID
	eventually(t, func() bool { p := latest(); return p[c1] == 1 && p[c2] == 2 }, func() string { return fmt.Sprint(latest()) })
	// The estimate appears once waits have been seen.
	f.goOnline(f.agent)
	f.clk.Advance(30 * time.Second)
	must(f.svc.Join(f.ctx, f.agent, convs[1]))
	f.svc.SettleRouting()
	// (Waits reach every node's estimator over the bus, asynchronously.)
	var st chat.VisitorView
	eventually(t, func() bool {
		st = must(f.svc.VisitorConversation(f.ctx, f.visitorOf(convs[2]), convs[2]))
		return st.Queue != nil && st.Queue.Position == 1 && st.Queue.EstimateSeconds > 0
	}, func() string { return fmt.Sprintf("%+v, want position 1 with an estimate", st.Queue) })
	// The site may hide both.
	f.route(model.RoutingSettings{QueueDisplay: "none"})
	st = must(f.svc.VisitorConversation(f.ctx, f.visitorOf(convs[2]), convs[2]))
	if st.Queue == nil || st.Queue.Position != 0 || st.Queue.EstimateSeconds != 0 {
		t.Fatalf("hidden queue status %+v", st.Queue)
	}
}

func TestOutsideBusinessHoursRequestsBecomeTickets(t *testing.T) {
	f := newFixture(t)
	// The fake clock is Monday 2026-05-04 10:00 UTC = 12:00 in Paris.
	hours := json.RawMessage(`{"time_zone":"Europe/Paris","weekly":[[],[{"start":"13:00","end":"18:00"}],[],[],[],[],[]]}`)
	rs := model.RoutingSettings{AfterHoursMessage: "Back at 1pm", AutoReply: "Thanks, we will write back."}
	must(f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Routing: &rs, Hours: &hours}))
	v := f.visitor()
	_, err := f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{})
	wantCode(t, err, "outside_business_hours")
	view := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Body: "is the shop open?", ClientID: "q1"}))
	if view.Offline == nil || view.Offline.Message != "Back at 1pm" || view.Chat != nil {
		t.Fatalf("after-hours view %+v", view)
	}
	if want := time.Date(2026, 5, 4, 11, 0, 0, 0, time.UTC); !view.Offline.NextOpen.Equal(want) {
		t.Fatalf("next open %v, want %v", view.Offline.NextOpen, want)
	}
	must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{Body: "hello?", ClientID: "q2"}))
	msgs := must(f.svc.History(f.ctx, v, view.Conversation.ID, 0, 100))
	replies := 0
	for _, m := range msgs {
		if m.Event == model.EventAutoReply {
			replies++
		}
	}
	if len(msgs) != 3 || replies != 1 {
		t.Fatalf("timeline %d entries with %d auto-replies, want 2 questions and 1 auto-reply", len(msgs), replies)
	}
	conv := must(f.st.GetConversation(f.ctx, view.Conversation.ID))
	if conv.Status != model.StatusOpen || conv.ChatID != 0 {
		t.Fatalf("ticket %+v", conv)
	}
	// The site description tells the widget before it asks.
	vs := must(f.svc.StartVisitor(f.ctx, f.site.Key, ""))
	if vs.Site.Open || vs.Site.AfterHoursMessage != "Back at 1pm" {
		t.Fatalf("public site while closed: %+v", vs.Site)
	}
	// At 13:00 Paris the site opens: chats start again.
	f.clk.Advance(time.Hour)
	must(f.svc.RequestChat(f.ctx, f.visitor(), chat.RequestChatInput{}))
	// Hours set to null: always open again.
	f.clk.Advance(6 * time.Hour)
	_, err = f.svc.RequestChat(f.ctx, f.visitor(), chat.RequestChatInput{})
	wantCode(t, err, "outside_business_hours")
	null := json.RawMessage("null")
	must(f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Hours: &null}))
	must(f.svc.RequestChat(f.ctx, f.visitor(), chat.RequestChatInput{}))
}

func TestTransferInviteAndAssign(t *testing.T) {
	f := newFixture(t)
	sales := must(f.svc.CreateDepartment(f.ctx, f.admin, chat.DepartmentInput{SiteID: f.site.ID, Name: ptr("Sales"),
		MemberIDs: &[]int64{f.bob.User.ID}}))
	f.goOnline(f.agent)
	v, conv, _ := f.request()
	must(f.svc.Join(f.ctx, f.agent, conv))

	// Nobody available in Sales yet: refused, nothing changed.
	_, err := f.svc.Transfer(f.ctx, f.agent, conv, chat.TransferInput{DepartmentID: sales.ID})
	wantCode(t, err, "nobody_available")
	_, err = f.svc.Transfer(f.ctx, f.agent, conv, chat.TransferInput{DepartmentID: 9999})
	wantCode(t, err, "department_not_found")
	_, err = f.svc.Transfer(f.ctx, f.agent, conv, chat.TransferInput{UserID: 9999})
	wantCode(t, err, "agent_not_found")
	_, err = f.svc.Transfer(f.ctx, f.agent, conv, chat.TransferInput{UserID: f.bob.User.ID})
	wantCode(t, err, "agent_unavailable")
	if got := must(f.st.GetConversation(f.ctx, conv)); got.AssigneeID != f.agent.User.ID || got.ChatState != model.ChatActive {
		t.Fatalf("a refused transfer changed the chat: %+v", got)
	}
	targets := must(f.svc.Targets(f.ctx, f.agent, conv))
	if len(targets.Agents) != 0 || len(targets.Departments) != 0 {
		t.Fatalf("targets with nobody available: %+v", targets)
	}

	// Invite: both talk; leaving after the other joined completes a hand-over.
	f.goOnline(f.bob)
	targets = must(f.svc.Targets(f.ctx, f.agent, conv))
	if len(targets.Agents) != 1 || targets.Agents[0].ID != f.bob.User.ID || len(targets.Departments) != 1 {
		t.Fatalf("targets %+v", targets)
	}
	must(f.svc.Invite(f.ctx, f.agent, conv, f.bob.User.ID))
	joined := must(f.svc.Join(f.ctx, f.bob, conv))
	if activeCount(joined.Chat) != 2 {
		t.Fatalf("after invite both should be in: %+v", joined.Chat.Participants)
	}
	must(f.svc.Send(f.ctx, f.bob, chat.SendInput{ConversationID: conv, ClientID: "b1", Body: "hi, Bob here"}))
	must(f.svc.Leave(f.ctx, f.agent, conv))
	if got := must(f.st.GetConversation(f.ctx, conv)); got.AssigneeID != f.bob.User.ID || got.ChatState != model.ChatActive {
		t.Fatalf("after alice left: %+v", got)
	}

	// Transfer to Alice: Bob leaves when she joins; the visitor sees a line.
	must(f.svc.Transfer(f.ctx, f.bob, conv, chat.TransferInput{UserID: f.agent.User.ID}))
	done := must(f.svc.Join(f.ctx, f.agent, conv))
	if activeCount(done.Chat) != 1 || !inChat(done.Chat, f.agent.User.ID) || done.Conversation.AssigneeID != f.agent.User.ID {
		t.Fatalf("after transfer: %+v", done)
	}
	msgs := must(f.svc.History(f.ctx, v, conv, 0, 100))
	if last := msgs[len(msgs)-1]; last.Event != model.EventTransferred || last.Body != "Bob transferred the chat to Alice" {
		t.Fatalf("visitor's last line %+v", last)
	}

	// Transfer to Sales: back to that queue, offered to Bob (broadcast).
	must(f.svc.Transfer(f.ctx, f.agent, conv, chat.TransferInput{DepartmentID: sales.ID}))
	f.svc.SettleRouting()
	got := must(f.st.GetConversation(f.ctx, conv))
	if got.DepartmentID != sales.ID || got.ChatState != model.ChatPending || got.AssigneeID != 0 {
		t.Fatalf("after transfer to Sales: %+v", got)
	}

	// A supervisor assigns it to Bob: offered to him alone, never undone.
	must(f.svc.Assign(f.ctx, f.sup, conv, f.bob.User.ID))
	if p := f.pending(got.ChatID); !slices.Equal(p, []int64{f.bob.User.ID}) {
		t.Fatalf("assigned offer to %v", p)
	}
	f.clk.Advance(time.Hour)
	f.svc.SettleRouting()
	if p := f.pending(got.ChatID); !slices.Equal(p, []int64{f.bob.User.ID}) {
		t.Fatalf("an assignment was undone: %v", p)
	}
	_, err = f.svc.Assign(f.ctx, f.agent, conv, f.bob.User.ID)
	wantCode(t, err, "supervisors_only")
	// The supervisor still cannot write to the customer.
	_, err = f.svc.Send(f.ctx, f.sup, chat.SendInput{ConversationID: conv, ClientID: "s1", Body: "hello"})
	wantCode(t, err, "supervisor_read_only")
}

func ptr[T any](v T) *T { return &v }

// eventually waits up to 10 s for cond (events cross the bus asynchronously).
func eventually(t *testing.T, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met; state: %s", state())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDisconnectedAgentGoesOfflineAfterGraceAndChatsRequeue(t *testing.T) {
	f := newFixture(t)
	f.route(model.RoutingSettings{DisconnectGraceSeconds: 30, RequeueAfterMinutes: 2})
	f.goOnline(f.agent)
	_, conv, _ := f.request()
	must(f.svc.Join(f.ctx, f.agent, conv))
	f.svc.StaffConnected(f.agent.User.ID)
	f.svc.StaffDisconnected(f.agent.User.ID)
	f.svc.SettleRouting()
	// A reload within the grace period changes nothing.
	f.clk.Advance(20 * time.Second)
	f.svc.StaffConnected(f.agent.User.ID)
	f.clk.Advance(20 * time.Second)
	f.svc.SettleRouting()
	if u := must(f.st.GetUser(f.ctx, f.agent.User.ID)); u.Availability != model.Available {
		t.Fatalf("after a reload: %s", u.Availability)
	}
	f.svc.StaffDisconnected(f.agent.User.ID)
	f.svc.SettleRouting()
	f.clk.Advance(30 * time.Second)
	f.svc.SettleRouting()
	if u := must(f.st.GetUser(f.ctx, f.agent.User.ID)); u.Availability != model.Offline {
		t.Fatalf("after the grace period: %s", u.Availability)
	}
	if got := must(f.st.GetConversation(f.ctx, conv)); got.ChatState != model.ChatActive {
		t.Fatal("the chat was lost at once")
	}
	f.clk.Advance(2 * time.Minute)
	f.svc.SettleRouting()
	if got := must(f.st.GetConversation(f.ctx, conv)); got.ChatState != model.ChatWaiting || got.AssigneeID != 0 {
		t.Fatalf("after the requeue delay: %+v", got)
	}
}

func TestRoutingBadInputChangesNothing(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		rs   model.RoutingSettings
		code string
	}{
		{model.RoutingSettings{Strategy: "random"}, "unknown_strategy"},
		{model.RoutingSettings{OfferTimeoutSeconds: -1}, "invalid_offer_timeout"},
		{model.RoutingSettings{MaxWaitSeconds: -5}, "invalid_max_wait"},
		{model.RoutingSettings{QueueDisplay: "everything"}, "invalid_queue_display"},
		{model.RoutingSettings{DefaultDepartmentID: 77}, "department_not_found"},
	} {
		_, err := f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Routing: &tc.rs})
		wantCode(t, err, tc.code)
	}
	for _, tc := range []struct {
		hours string
		code  string
	}{
		{`{"time_zone":"Mars/Olympus","weekly":[[],[],[],[],[],[],[]]}`, "unknown_time_zone"},
		{`{"time_zone":"UTC","weekly":[[{"start":"10:00","end":"09:00"}],[],[],[],[],[],[]]}`, "invalid_interval"},
		{`{"time_zone":"UTC","weekly":[[{"start":"09:00","end":"12:00"},{"start":"11:00","end":"13:00"}],[],[],[],[],[],[]]}`, "overlapping_intervals"},
		{`{"time_zone":"UTC","weekly":[],"extra":1}`, "invalid_hours"},
	} {
		h := json.RawMessage(tc.hours)
		_, err := f.svc.UpdateSite(f.ctx, f.admin, f.site.ID, chat.SiteInput{Hours: &h})
		wantCode(t, err, tc.code)
	}
	site := must(f.st.GetSite(f.ctx, f.site.ID))
	if site.Routing != (model.RoutingSettings{}) || len(site.Hours) != 0 {
		t.Fatalf("refused settings were stored: %+v %s", site.Routing, site.Hours)
	}
	_, err := f.svc.SetCapacity(f.ctx, f.agent, -1)
	wantCode(t, err, "invalid_capacity")
	_, err = f.svc.SetCapacity(f.ctx, f.agent, 11)
	wantCode(t, err, "capacity_above_maximum")
	if u := must(f.st.GetUser(f.ctx, f.agent.User.ID)); u.Capacity != 5 {
		t.Fatalf("capacity %d after refused changes", u.Capacity)
	}
	_, err = f.svc.CreateDepartment(f.ctx, f.admin, chat.DepartmentInput{SiteID: f.site.ID, Name: ptr("X"), Strategy: ptr("fastest")})
	wantCode(t, err, "unknown_strategy")
	_, err = f.svc.CreateDepartment(f.ctx, f.admin, chat.DepartmentInput{SiteID: f.site.ID, Name: ptr("X"), MemberIDs: &[]int64{f.sup.User.ID}})
	wantCode(t, err, "invalid_member")
	_, err = f.svc.CreateDepartment(f.ctx, f.agent, chat.DepartmentInput{SiteID: f.site.ID, Name: ptr("X")})
	wantCode(t, err, "admin_only")
	if ds := must(f.st.ListDepartments(f.ctx, f.site.ID)); len(ds) != 0 {
		t.Fatalf("refused departments were stored: %+v", ds)
	}
	// Joining a chat someone else has taken.
	f.goOnline(f.agent)
	f.goOnline(f.bob)
	_, conv, _ := f.request()
	must(f.svc.Join(f.ctx, f.agent, conv))
	_, err = f.svc.Join(f.ctx, f.bob, conv)
	wantCode(t, err, "chat_already_taken")
}

// TestRoutingInvariantsUnderRandomOperations drives random requests, joins,
// declines, ends, leaves, status and capacity changes and clock advances
// through the service, and after each step checks the promises: no agent is
// given more than their capacity, no chat is offered twice at once or taken
// by two agents, and no waiting chat is left while an eligible agent who has
// not declined it has room.
func TestRoutingInvariantsUnderRandomOperations(t *testing.T) {
	for _, strategy := range []string{"round_robin", "least_busy", "priority", "broadcast"} {
		t.Run(strategy, func(t *testing.T) {
			t.Parallel()
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 42))
			f := newFixture(t)
			f.route(model.RoutingSettings{Strategy: strategy, OfferTimeoutSeconds: 20})
			agents := []chat.Actor{f.agent, f.bob, f.user("cy@x.test", "Cy", model.RoleAgent)}
			// Two queues: the general one (everyone) and Sales (Bob and Cy),
			// so freeing an agent must move queues other than the chat's.
			sales := must(f.svc.CreateDepartment(f.ctx, f.admin, chat.DepartmentInput{SiteID: f.site.ID, Name: ptr("Sales"),
				MemberIDs: &[]int64{agents[1].User.ID, agents[2].User.ID}}))
			f.members = map[int64][]int64{sales.ID: {agents[1].User.ID, agents[2].User.ID}}
			for _, a := range agents {
				f.capacity(a, 2)
				f.goOnline(a)
			}
			var convs []int64
			for step := range 150 {
				a := agents[rng.IntN(len(agents))]
				switch op := rng.IntN(12); {
				case op < 3:
					v := f.visitor()
					dept := int64(0)
					if rng.IntN(2) == 0 {
						dept = sales.ID
					}
					view := must(f.svc.RequestChat(f.ctx, v, chat.RequestChatInput{DepartmentID: dept}))
					convs = append(convs, view.Conversation.ID)
				case op < 6:
					// Agents join what is offered to them (routing's promise is
					// about what it gives; picking by hand is the agent's call).
					if conv, ok := f.pick(rng, convs, func(c model.Conversation) bool {
						if strategy == "broadcast" {
							u := must(f.st.GetUser(f.ctx, a.User.ID))
							return c.ChatState == model.ChatPending && u.Load < u.Capacity
						}
						return slices.Contains(f.pending(c.ChatID), a.User.ID)
					}); ok {
						_, _ = f.svc.Join(f.ctx, a, conv)
					}
				case op < 7:
					if conv, ok := f.pick(rng, convs, func(c model.Conversation) bool { return slices.Contains(f.pending(c.ChatID), a.User.ID) }); ok {
						_ = f.svc.Decline(f.ctx, a, conv)
					}
				case op < 9:
					if conv, ok := f.pick(rng, convs, func(c model.Conversation) bool { return c.ChatState == model.ChatActive && c.AssigneeID == a.User.ID }); ok {
						if rng.IntN(3) > 0 {
							_, _ = f.svc.End(f.ctx, a, conv)
						} else {
							_, _ = f.svc.Leave(f.ctx, a, conv)
						}
					}
				case op < 10:
					avs := []model.Availability{model.Available, model.Busy, model.Away, model.Offline}
					_, _ = f.svc.SetAvailability(f.ctx, a, avs[rng.IntN(len(avs))])
				case op < 11:
					_, _ = f.svc.SetCapacity(f.ctx, a, rng.IntN(4))
				default:
					f.clk.Advance(time.Duration(rng.IntN(30)) * time.Second)
				}
				f.svc.SettleRouting()
				f.checkInvariants(t, step, strategy, agents, convs)
			}
		})
	}
}

// pick returns a random conversation of convs that ok accepts.
func (f *fixture) pick(rng *rand.Rand, convs []int64, ok func(model.Conversation) bool) (int64, bool) {
	var cands []int64
	for _, id := range convs {
		c := must(f.st.GetConversation(f.ctx, id))
		if c.ChatID != 0 && c.ChatState.Live() && ok(c) {
			cands = append(cands, id)
		}
	}
	if len(cands) == 0 {
		return 0, false
	}
	return cands[rng.IntN(len(cands))], true
}

func (f *fixture) checkInvariants(t *testing.T, step int, strategy string, agents []chat.Actor, convs []int64) {
	t.Helper()
	users := map[int64]model.User{}
	for _, a := range agents {
		u := must(f.st.GetUser(f.ctx, a.User.ID))
		users[u.ID] = u
	}
	// Recount from the timeline's truth, not the stored load.
	held := map[int64]int{}
	for _, conv := range convs {
		c := must(f.st.GetConversation(f.ctx, conv))
		if c.ChatID == 0 {
			continue
		}
		ps := must(f.st.ListParticipants(f.ctx, c.ChatID))
		in := 0
		for _, p := range ps {
			if p.LeftAt.IsZero() {
				in++
				held[p.UserID]++
			}
		}
		if in > 1 {
			t.Fatalf("step %d: chat %d taken by %d agents", step, c.ChatID, in)
		}
		pend := f.pending(c.ChatID)
		if strategy != "broadcast" && len(pend) > 1 {
			t.Fatalf("step %d: chat %d offered to %v at once", step, c.ChatID, pend)
		}
		for _, u := range pend {
			held[u]++
		}
		if c.ChatState == model.ChatWaiting {
			os := must(f.st.ListOffers(f.ctx, store.OfferQuery{ChatID: c.ChatID}))
			declined := map[int64]bool{}
			for _, o := range os {
				declined[o.UserID] = declined[o.UserID] || o.State == model.OfferDeclined
			}
			for _, u := range users {
				room := (u.Availability == model.Available || u.Availability == model.Busy) && u.Load < u.Capacity
				member := c.DepartmentID == 0 || slices.Contains(f.members[c.DepartmentID], u.ID)
				if room && member && !declined[u.ID] {
					t.Fatalf("step %d: chat %d waits while %s has room (%d/%d, %s)", step, c.ChatID, u.Name, u.Load, u.Capacity, u.Availability)
				}
			}
		}
	}
	for id, u := range users {
		if held[id] != u.Load {
			t.Fatalf("step %d: %s's stored load %d, truth %d", step, u.Name, u.Load, held[id])
		}
	}
	// Capacity: what routing gives never takes anyone over it. (A lowered
	// capacity may leave someone above it until their chats end, so the
	// check is on growth.)
	for id, u := range users {
		if held[id] > f.prevHeld[id] && held[id] > u.Capacity {
			t.Fatalf("step %d: %s was given a chat beyond capacity: %d > %d", step, u.Name, held[id], u.Capacity)
		}
	}
	f.prevHeld = held
}

func inChat(v *chat.ChatView, userID int64) bool {
	for _, p := range v.Participants {
		if p.UserID == userID && p.LeftAt.IsZero() {
			return true
		}
	}
	return false
}

func activeCount(v *chat.ChatView) int {
	n := 0
	for _, p := range v.Participants {
		if p.LeftAt.IsZero() {
			n++
		}
	}
	return n
}

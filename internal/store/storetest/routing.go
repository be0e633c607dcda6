package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

// Routing: site settings and hours, departments, routing agents, the queue,
// offers and load.

func newChat(t *testing.T, tx store.Tx, convID int64, state model.ChatState) model.Chat {
	t.Helper()
	c := model.Chat{ConversationID: convID, State: state, RequestedAt: t0}
	noErr(t, "CreateChat", tx.CreateChat(ctxOf(t), &c))
	return c
}

func testSiteRouting(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	// Hours are kept byte for byte, whitespace and key order included.
	hours := json.RawMessage(`{"tz": "Europe/Paris",  "weekly":{"mon":[["09:00","17:00"]]}}`)
	routing := model.RoutingSettings{Strategy: "round_robin", OfferTimeoutSeconds: 20, MaxMisses: 3, MaxWaitSeconds: 600,
		QueueDisplay: "position", DefaultDepartmentID: 42, DisconnectGraceSeconds: 90, RequeueAfterMinutes: 5,
		QueueMessage: "Hang on", UnansweredMessage: "Sorry", AfterHoursMessage: "Closed", AutoReply: "We'll reply"}
	want := model.Site{Key: "routed", Name: "Routed", AllowedOrigins: []string{}, WidgetMode: model.ModeLive,
		Routing: routing, Hours: hours, CreatedAt: t0}
	plain := model.Site{Key: "plain", Name: "Plain", AllowedOrigins: []string{}, WidgetMode: model.ModeLive}
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateSite", tx.CreateSite(ctx, &want))
		noErr(t, "CreateSite plain", tx.CreateSite(ctx, &plain))
		eq(t, "GetSite inside tx", try[model.Site](t, "GetSite")(tx.GetSite(ctx, want.ID)), want)
		return nil
	})
	eq(t, "GetSite", must[model.Site](t, "GetSite")(s.GetSite(ctx, want.ID)), want)
	eq(t, "GetSiteByKey", must[model.Site](t, "GetSiteByKey")(s.GetSiteByKey(ctx, "routed")), want)
	// Zero routing and no hours read back zero and nil.
	eq(t, "GetSite plain", must[model.Site](t, "GetSite")(s.GetSite(ctx, plain.ID)), plain)
	eq(t, "ListSites", must[[]model.Site](t, "ListSites")(s.ListSites(ctx)), []model.Site{want, plain})

	// UpdateSite writes routing and hours.
	upd := plain
	upd.Routing = model.RoutingSettings{Strategy: "least_busy", MaxWaitSeconds: 30}
	upd.Hours = json.RawMessage(`null`)
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateSite(ctx, upd) })
	eq(t, "GetSite after update", must[model.Site](t, "GetSite")(s.GetSite(ctx, plain.ID)), upd)
	// ... and clears them: empty hours stay empty.
	cleared := want
	cleared.Routing, cleared.Hours = model.RoutingSettings{}, json.RawMessage{}
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateSite(ctx, cleared) })
	cleared.Hours = nil
	eq(t, "GetSite after clearing", must[model.Site](t, "GetSite")(s.GetSite(ctx, want.ID)), cleared)
}

func testDepartments(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var siteA, siteB model.Site
	var u1, u2, u3 model.User
	inTx(t, s, func(tx store.Tx) error {
		siteA, siteB = newSite(t, tx, "a"), newSite(t, tx, "b")
		u1, u2, u3 = newUser(t, tx, "u1@example.com"), newUser(t, tx, "u2@example.com"), newUser(t, tx, "u3@example.com")
		return nil
	})
	sales := model.Department{SiteID: siteA.ID, Name: "Sales", Strategy: "round_robin", OfferTimeoutSeconds: 20,
		MaxWaitSeconds: 300, Hours: json.RawMessage(`{"tz":"UTC"}`), MemberIDs: []int64{u3.ID, u1.ID, u3.ID},
		CreatedAt: at(time.Minute)}
	empty := model.Department{SiteID: siteA.ID, Name: "Empty"}
	other := model.Department{SiteID: siteB.ID, Name: "Other", MemberIDs: []int64{u2.ID}, CreatedAt: t0}
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateDepartment", tx.CreateDepartment(ctx, &sales))
		noErr(t, "CreateDepartment empty", tx.CreateDepartment(ctx, &empty))
		noErr(t, "CreateDepartment other", tx.CreateDepartment(ctx, &other))
		return nil
	})
	if sales.ID <= 0 || empty.ID <= sales.ID || other.ID <= empty.ID {
		t.Fatalf("ids not assigned ascending: %d %d %d", sales.ID, empty.ID, other.ID)
	}
	// Members are stored ascending without duplicates; nil reads back empty.
	eq(t, "MemberIDs set by CreateDepartment", sales.MemberIDs, []int64{u1.ID, u3.ID})
	eq(t, "GetDepartment", must[model.Department](t, "GetDepartment")(s.GetDepartment(ctx, sales.ID)), sales)
	empty.MemberIDs = []int64{}
	eq(t, "GetDepartment empty", must[model.Department](t, "GetDepartment")(s.GetDepartment(ctx, empty.ID)), empty)
	eq(t, "ListDepartments site A", must[[]model.Department](t, "ListDepartments")(s.ListDepartments(ctx, siteA.ID)),
		[]model.Department{sales, empty})
	eq(t, "ListDepartments site B", must[[]model.Department](t, "ListDepartments")(s.ListDepartments(ctx, siteB.ID)),
		[]model.Department{other})
	eq(t, "ListDepartments every site", must[[]model.Department](t, "ListDepartments")(s.ListDepartments(ctx, 0)),
		[]model.Department{sales, empty, other})
	eq(t, "ListDepartments unknown site", must[[]model.Department](t, "ListDepartments")(s.ListDepartments(ctx, 987654)),
		[]model.Department{})

	// UpdateDepartment writes name, overrides, hours and members; not the
	// site nor the creation time.
	upd := sales
	upd.SiteID, upd.CreatedAt = siteB.ID, at(time.Hour)
	upd.Name, upd.Strategy, upd.OfferTimeoutSeconds, upd.MaxWaitSeconds = "Sales EU", "", 0, 60
	upd.Hours, upd.MemberIDs = nil, []int64{u2.ID}
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "UpdateDepartment", tx.UpdateDepartment(ctx, upd))
		got := try[model.Department](t, "GetDepartment inside tx")(tx.GetDepartment(ctx, sales.ID))
		eq(t, "MemberIDs inside tx", got.MemberIDs, []int64{u2.ID})
		return nil
	})
	upd.SiteID, upd.CreatedAt = sales.SiteID, sales.CreatedAt
	eq(t, "GetDepartment after update", must[model.Department](t, "GetDepartment")(s.GetDepartment(ctx, sales.ID)), upd)
	inTx(t, s, func(tx store.Tx) error {
		e := empty
		e.MemberIDs = []int64{u1.ID, u2.ID, u3.ID}
		return tx.UpdateDepartment(ctx, e)
	})
	eq(t, "members replaced", must[model.Department](t, "GetDepartment")(s.GetDepartment(ctx, empty.ID)).MemberIDs,
		[]int64{u1.ID, u2.ID, u3.ID})
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateDepartment(ctx, empty) })
	eq(t, "members cleared", must[model.Department](t, "GetDepartment")(s.GetDepartment(ctx, empty.ID)).MemberIDs,
		[]int64{})

	// Not found.
	_, err := s.GetDepartment(ctx, 987654)
	wantCode(t, "GetDepartment unknown", err, "department_not_found")
	err = txErr(t, s, func(tx store.Tx) error { return tx.UpdateDepartment(ctx, model.Department{ID: 987654, Name: "x"}) })
	wantCode(t, "UpdateDepartment unknown", err, "department_not_found")
	err = txErr(t, s, func(tx store.Tx) error { return tx.DeleteDepartment(ctx, 987654) })
	wantCode(t, "DeleteDepartment unknown", err, "department_not_found")
	err = txErr(t, s, func(tx store.Tx) error {
		return tx.CreateDepartment(ctx, &model.Department{SiteID: 987654, Name: "x"})
	})
	wantCode(t, "CreateDepartment unknown site", err, "site_not_found")
	err = txErr(t, s, func(tx store.Tx) error {
		return tx.CreateDepartment(ctx, &model.Department{SiteID: siteA.ID, Name: "x", MemberIDs: []int64{u1.ID, 987654}})
	})
	wantCode(t, "CreateDepartment unknown member", err, "user_not_found")
	err = txErr(t, s, func(tx store.Tx) error {
		d := upd
		d.Name, d.MemberIDs = "changed", []int64{987654}
		return tx.UpdateDepartment(ctx, d)
	})
	wantCode(t, "UpdateDepartment unknown member", err, "user_not_found")
	eq(t, "GetDepartment after refused update", must[model.Department](t, "GetDepartment")(s.GetDepartment(ctx, sales.ID)), upd)
	eq(t, "no department created by the refusals", len(must[[]model.Department](t, "ListDepartments")(s.ListDepartments(ctx, 0))), 3)
}

func testDeleteDepartment(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var gone, kept model.Department
	var c1, c2 model.Conversation
	var q1, q2 model.QueueEntry
	inTx(t, s, func(tx store.Tx) error {
		gone = model.Department{SiteID: b.site.ID, Name: "Gone", MemberIDs: []int64{b.user.ID}}
		kept = model.Department{SiteID: b.site.ID, Name: "Kept", MemberIDs: []int64{b.user.ID}}
		noErr(t, "CreateDepartment", tx.CreateDepartment(ctx, &gone))
		noErr(t, "CreateDepartment", tx.CreateDepartment(ctx, &kept))
		for _, x := range []struct {
			conv *model.Conversation
			q    *model.QueueEntry
			dept int64
		}{{&c1, &q1, gone.ID}, {&c2, &q2, kept.ID}} {
			*x.conv = model.Conversation{SiteID: b.site.ID, Channel: "widget", Status: model.StatusOpen,
				Priority: model.PriorityHigh, DepartmentID: x.dept, UpdatedAt: at(time.Minute)}
			noErr(t, "CreateConversation", tx.CreateConversation(ctx, x.conv))
			ch := newChat(t, tx, x.conv.ID, model.ChatWaiting)
			*x.q = model.QueueEntry{ChatID: ch.ID, ConversationID: x.conv.ID, SiteID: b.site.ID, DepartmentID: x.dept,
				Priority: model.PriorityHigh, RequestedAt: t0, State: model.QueueWaiting}
			noErr(t, "PutQueueEntry", tx.PutQueueEntry(ctx, *x.q))
		}
		return nil
	})

	inTx(t, s, func(tx store.Tx) error { return tx.DeleteDepartment(ctx, gone.ID) })
	_, err := s.GetDepartment(ctx, gone.ID)
	wantCode(t, "GetDepartment deleted", err, "department_not_found")
	eq(t, "ListDepartments after delete", must[[]model.Department](t, "ListDepartments")(s.ListDepartments(ctx, b.site.ID)),
		[]model.Department{kept})
	eq(t, "ListRoutingAgents of the deleted department",
		must[[]model.User](t, "ListRoutingAgents")(s.ListRoutingAgents(ctx, b.site.ID, gone.ID)), []model.User{})

	// Its queue entries and conversations moved to the general queue (0);
	// the other department's did not.
	q1.DepartmentID = 0
	eq(t, "queue entry moved", must[model.QueueEntry](t, "GetQueueEntry")(s.GetQueueEntry(ctx, q1.ChatID)), q1)
	eq(t, "queue entry kept", must[model.QueueEntry](t, "GetQueueEntry")(s.GetQueueEntry(ctx, q2.ChatID)), q2)
	eq(t, "general queue", must[[]model.QueueEntry](t, "ListQueue")(s.ListQueue(ctx, store.QueueQuery{SiteID: b.site.ID})),
		[]model.QueueEntry{q1})
	got1 := must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, c1.ID))
	eq(t, "conversation moved", got1.DepartmentID, int64(0))
	eq(t, "conversation's updated_at untouched", got1.UpdatedAt, c1.UpdatedAt)
	eq(t, "conversation kept", must[model.Conversation](t, "GetConversation")(s.GetConversation(ctx, c2.ID)).DepartmentID, kept.ID)
	eq(t, "other department's members", must[model.Department](t, "GetDepartment")(s.GetDepartment(ctx, kept.ID)).MemberIDs,
		[]int64{b.user.ID})
}

func testRoutingAgents(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var siteA, siteB model.Site
	var agent, admin, sup, off, late, stranger model.User
	var dept, deptB model.Department
	inTx(t, s, func(tx store.Tx) error {
		siteA, siteB = newSite(t, tx, "a"), newSite(t, tx, "b")
		agent = newUser(t, tx, "agent@example.com")
		admin = newUser(t, tx, "admin@example.com")
		sup = newUser(t, tx, "sup@example.com")
		off = newUser(t, tx, "disabled@example.com")
		late = newUser(t, tx, "late@example.com")
		stranger = newUser(t, tx, "stranger@example.com")
		admin.Role = model.RoleAdmin
		sup.Role = model.RoleSupervisor
		off.Disabled = true
		late.LastOfferAt, late.MissedOffers, late.Availability = at(time.Minute), 2, model.Available
		for _, u := range []model.User{admin, sup, off, late} {
			noErr(t, "UpdateUser", tx.UpdateUser(ctx, u))
		}
		for _, u := range []model.User{agent, admin, sup, off, late} {
			noErr(t, "SetUserSites", tx.SetUserSites(ctx, u.ID, []int64{siteA.ID}))
		}
		noErr(t, "SetUserSites", tx.SetUserSites(ctx, stranger.ID, []int64{siteB.ID}))
		// The department leaves out admin (a site member who is not in it).
		dept = model.Department{SiteID: siteA.ID, Name: "D", MemberIDs: []int64{late.ID, sup.ID, off.ID, agent.ID}}
		noErr(t, "CreateDepartment", tx.CreateDepartment(ctx, &dept))
		deptB = model.Department{SiteID: siteB.ID, Name: "B", MemberIDs: []int64{stranger.ID}}
		noErr(t, "CreateDepartment", tx.CreateDepartment(ctx, &deptB))
		// agent is in one chat: Load 1.
		conv := newConversation(t, tx, siteA.ID, 0)
		ch := newChat(t, tx, conv.ID, model.ChatActive)
		noErr(t, "AddParticipant", tx.AddParticipant(ctx, ch.ID, agent.ID, t0))
		agent.Load = try[int](t, "RecountLoad")(tx.RecountLoad(ctx, agent.ID))
		// Inside the Tx too.
		eq(t, "ListRoutingAgents inside tx", try[[]model.User](t, "ListRoutingAgents")(tx.ListRoutingAgents(ctx, siteA.ID, 0)),
			[]model.User{agent, admin, late})
		return nil
	})
	eq(t, "agent's load", agent.Load, 1)

	// Site members, without supervisors and disabled users, with every field.
	eq(t, "ListRoutingAgents site A", must[[]model.User](t, "ListRoutingAgents")(s.ListRoutingAgents(ctx, siteA.ID, 0)),
		[]model.User{agent, admin, late})
	eq(t, "ListRoutingAgents site B", must[[]model.User](t, "ListRoutingAgents")(s.ListRoutingAgents(ctx, siteB.ID, 0)),
		[]model.User{stranger})
	// Department members, likewise.
	eq(t, "ListRoutingAgents department", must[[]model.User](t, "ListRoutingAgents")(s.ListRoutingAgents(ctx, siteA.ID, dept.ID)),
		[]model.User{agent, late})
	// A department of another site, or unknown: nobody.
	eq(t, "ListRoutingAgents department of another site",
		must[[]model.User](t, "ListRoutingAgents")(s.ListRoutingAgents(ctx, siteA.ID, deptB.ID)), []model.User{})
	eq(t, "ListRoutingAgents department of another site (reversed)",
		must[[]model.User](t, "ListRoutingAgents")(s.ListRoutingAgents(ctx, siteB.ID, dept.ID)), []model.User{})
	eq(t, "ListRoutingAgents unknown department",
		must[[]model.User](t, "ListRoutingAgents")(s.ListRoutingAgents(ctx, siteA.ID, 987654)), []model.User{})
	eq(t, "ListRoutingAgents unknown site",
		must[[]model.User](t, "ListRoutingAgents")(s.ListRoutingAgents(ctx, 987654, 0)), []model.User{})

	// Candidates: of those, who has room now (agent and admin are offline,
	// late is available with capacity 5), with what a decision reads.
	want := []model.AgentLoad{{UserID: late.ID, Availability: model.Available, Capacity: late.Capacity, LastOfferAt: late.LastOfferAt}}
	eq(t, "ListRoutingCandidates site A", must[[]model.AgentLoad](t, "ListRoutingCandidates")(s.ListRoutingCandidates(ctx, siteA.ID, 0)), want)
	eq(t, "ListRoutingCandidates department", must[[]model.AgentLoad](t, "ListRoutingCandidates")(s.ListRoutingCandidates(ctx, siteA.ID, dept.ID)), want)
	eq(t, "ListRoutingCandidates department of another site",
		must[[]model.AgentLoad](t, "ListRoutingCandidates")(s.ListRoutingCandidates(ctx, siteB.ID, dept.ID)), []model.AgentLoad{})
	// Staffed: available or busy, room or not.
	staffed := func(what string, site, dept int64, want int) {
		t.Helper()
		eq(t, "CountStaffedAgents "+what, must[int](t, "CountStaffedAgents")(s.CountStaffedAgents(ctx, site, dept)), want)
	}
	staffed("site A", siteA.ID, 0, 1) // late
	staffed("department", siteA.ID, dept.ID, 1)
	staffed("site B", siteB.ID, 0, 0)
	staffed("department of another site", siteB.ID, dept.ID, 0)
	staffed("unknown site", 987654, 0, 0)
	// Busy with room counts; full or away does not.
	inTx(t, s, func(tx store.Tx) error {
		agent.Availability, agent.Capacity = model.Busy, 2 // load 1 of 2
		admin.Availability, admin.Capacity = model.Busy, 0 // full
		late.Availability = model.Away
		sup.Availability, off.Availability = model.Available, model.Available // never routed to
		for _, u := range []model.User{agent, admin, late, sup, off} {
			noErr(t, "UpdateUser", tx.UpdateUser(ctx, u))
		}
		return nil
	})
	eq(t, "ListRoutingCandidates after changes", must[[]model.AgentLoad](t, "ListRoutingCandidates")(s.ListRoutingCandidates(ctx, siteA.ID, 0)),
		[]model.AgentLoad{{UserID: agent.ID, Availability: model.Busy, Capacity: 2, Load: 1}})
	staffed("site A after changes", siteA.ID, 0, 2)           // agent, admin (full, still staffed)
	staffed("department after changes", siteA.ID, dept.ID, 1) // agent
}

// queueFixture: a site with a department and a queue entry per spec, in
// order (so chat ids ascend in spec order).
type queueSpec struct {
	dept     bool // in the department, else the general queue
	other    bool // on the other site
	priority model.Priority
	at       time.Duration
	state    model.QueueState
}

func testQueue(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	specs := []queueSpec{
		0: {priority: model.PriorityNormal, at: time.Second, state: model.QueueWaiting},
		1: {priority: model.PriorityUrgent, at: 3 * time.Second, state: model.QueueWaiting},
		2: {priority: model.PriorityLow, at: 2 * time.Second, state: model.QueuePending},
		3: {priority: model.PriorityUrgent, at: 3 * time.Second, state: model.QueueWaiting}, // ties with 1
		4: {priority: model.PriorityHigh, at: time.Second, state: model.QueueWaiting},       // ties with 0 on time
		5: {dept: true, priority: model.PriorityNormal, state: model.QueueWaiting},
		6: {other: true, priority: model.PriorityNormal, state: model.QueueWaiting},
		7: {priority: model.PriorityUrgent, at: 4 * time.Second, state: model.QueuePending},
	}
	var other model.Site
	var dept model.Department
	e := make([]model.QueueEntry, len(specs))
	inTx(t, s, func(tx store.Tx) error {
		other = newSite(t, tx, "other")
		dept = model.Department{SiteID: b.site.ID, Name: "D"}
		noErr(t, "CreateDepartment", tx.CreateDepartment(ctx, &dept))
		for i, sp := range specs {
			ch := newChat(t, tx, b.conv.ID, model.ChatWaiting)
			e[i] = model.QueueEntry{ChatID: ch.ID, ConversationID: b.conv.ID, SiteID: b.site.ID, Priority: sp.priority,
				RequestedAt: at(sp.at), State: sp.state}
			if sp.dept {
				e[i].DepartmentID = dept.ID
			}
			if sp.other {
				e[i].SiteID = other.ID
			}
			if i == 0 {
				e[i].Deadline, e[i].Manual = at(time.Hour), true
			}
			noErr(t, "PutQueueEntry", tx.PutQueueEntry(ctx, e[i]))
		}
		eq(t, "GetQueueEntry inside tx", try[model.QueueEntry](t, "GetQueueEntry")(tx.GetQueueEntry(ctx, e[0].ChatID)), e[0])
		return nil
	})
	pick := func(idx ...int) []model.QueueEntry {
		out := []model.QueueEntry{}
		for _, i := range idx {
			out = append(out, e[i])
		}
		return out
	}
	list := func(what string, q store.QueueQuery, want []model.QueueEntry) {
		t.Helper()
		eq(t, what, must[[]model.QueueEntry](t, what)(s.ListQueue(ctx, q)), want)
	}
	site := b.site.ID

	eq(t, "GetQueueEntry", must[model.QueueEntry](t, "GetQueueEntry")(s.GetQueueEntry(ctx, e[0].ChatID)), e[0])
	eq(t, "GetQueueEntry zero deadline", must[model.QueueEntry](t, "GetQueueEntry")(s.GetQueueEntry(ctx, e[1].ChatID)), e[1])

	// Oldest first, ties by chat id; both states unless one is asked for.
	list("oldest first", store.QueueQuery{SiteID: site}, pick(0, 4, 2, 1, 3, 7))
	list("oldest first, waiting", store.QueueQuery{SiteID: site, State: model.QueueWaiting}, pick(0, 4, 1, 3))
	list("oldest first, pending", store.QueueQuery{SiteID: site, State: model.QueuePending}, pick(2, 7))
	list("oldest first, limit", store.QueueQuery{SiteID: site, Limit: 3}, pick(0, 4, 2))
	// By priority, then oldest, then chat id.
	list("by priority", store.QueueQuery{SiteID: site, ByPriority: true}, pick(1, 3, 7, 4, 0, 2))
	list("by priority, waiting", store.QueueQuery{SiteID: site, ByPriority: true, State: model.QueueWaiting},
		pick(1, 3, 4, 0))
	list("by priority, waiting, limit", store.QueueQuery{SiteID: site, ByPriority: true, State: model.QueueWaiting, Limit: 2},
		pick(1, 3))
	list("by priority, limit", store.QueueQuery{SiteID: site, ByPriority: true, Limit: 3}, pick(1, 3, 7))
	// One queue per department.
	list("department", store.QueueQuery{SiteID: site, DepartmentID: dept.ID}, pick(5))
	list("department, pending", store.QueueQuery{SiteID: site, DepartmentID: dept.ID, State: model.QueuePending},
		[]model.QueueEntry{})
	list("other site", store.QueueQuery{SiteID: other.ID}, pick(6))
	list("unknown site", store.QueueQuery{SiteID: 987654}, []model.QueueEntry{})
	// Every department of a site, or everything.
	list("any department", store.QueueQuery{SiteID: site, AnyDepartment: true}, pick(5, 0, 4, 2, 1, 3, 7))
	list("any department, by priority, pending", store.QueueQuery{SiteID: site, AnyDepartment: true, ByPriority: true,
		State: model.QueuePending}, pick(7, 2))
	list("everything", store.QueueQuery{AnyDepartment: true}, pick(5, 6, 0, 4, 2, 1, 3, 7))
	list("everything, limit", store.QueueQuery{AnyDepartment: true, Limit: 2}, pick(5, 6))

	// Positions agree with the listed order, in both orders.
	for _, byPriority := range []bool{false, true} {
		for i, x := range must[[]model.QueueEntry](t, "ListQueue")(s.ListQueue(ctx, store.QueueQuery{SiteID: site, ByPriority: byPriority})) {
			eq(t, "QueuePosition", must[int](t, "QueuePosition")(s.QueuePosition(ctx, x.ChatID, byPriority)), i+1)
		}
	}
	eq(t, "QueuePosition in a department", must[int](t, "QueuePosition")(s.QueuePosition(ctx, e[5].ChatID, false)), 1)
	_, perr := s.QueuePosition(ctx, 987654, false)
	wantCode(t, "QueuePosition unknown", perr, "queue_entry_not_found")

	// PutQueueEntry replaces.
	moved := e[2]
	moved.State, moved.Priority, moved.Deadline, moved.DepartmentID = model.QueueWaiting, model.PriorityUrgent, at(time.Minute), dept.ID
	inTx(t, s, func(tx store.Tx) error { return tx.PutQueueEntry(ctx, moved) })
	eq(t, "GetQueueEntry after replace", must[model.QueueEntry](t, "GetQueueEntry")(s.GetQueueEntry(ctx, moved.ChatID)), moved)
	e[2] = moved
	list("department after replace, by priority", store.QueueQuery{SiteID: site, DepartmentID: dept.ID, ByPriority: true},
		pick(2, 5))
	list("general queue after replace", store.QueueQuery{SiteID: site}, pick(0, 4, 1, 3, 7))

	// DeleteQueueEntry; absent is no error.
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "DeleteQueueEntry", tx.DeleteQueueEntry(ctx, e[0].ChatID))
		noErr(t, "DeleteQueueEntry absent", tx.DeleteQueueEntry(ctx, e[0].ChatID))
		_, err := tx.GetQueueEntry(ctx, e[0].ChatID)
		wantCode(t, "GetQueueEntry deleted inside tx", err, "queue_entry_not_found")
		return nil
	})
	_, err := s.GetQueueEntry(ctx, e[0].ChatID)
	wantCode(t, "GetQueueEntry deleted", err, "queue_entry_not_found")
	_, err = s.GetQueueEntry(ctx, 987654)
	wantCode(t, "GetQueueEntry unknown", err, "queue_entry_not_found")
	err = txErr(t, s, func(tx store.Tx) error {
		return tx.PutQueueEntry(ctx, model.QueueEntry{ChatID: 987654, SiteID: site, Priority: model.PriorityLow,
			State: model.QueueWaiting})
	})
	wantCode(t, "PutQueueEntry unknown chat", err, "chat_not_found")
}

func testOffers(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var c1, c2, c3 model.Chat
	var u2, u3 model.User
	u1 := b.user
	inTx(t, s, func(tx store.Tx) error {
		u2, u3 = newUser(t, tx, "u2@example.com"), newUser(t, tx, "u3@example.com")
		c1 = newChat(t, tx, b.conv.ID, model.ChatPending)
		c2 = newChat(t, tx, b.conv.ID, model.ChatPending)
		c3 = newChat(t, tx, b.conv.ID, model.ChatPending)
		return nil
	})
	o11 := model.Offer{ChatID: c1.ID, UserID: u1.ID, Kind: model.OfferRoute, State: model.OfferPending,
		OfferedAt: at(2 * time.Second), ExpiresAt: at(32 * time.Second)}
	o12 := model.Offer{ChatID: c1.ID, UserID: u2.ID, Kind: model.OfferRoute, State: model.OfferPending,
		OfferedAt: at(time.Second)}
	o13 := model.Offer{ChatID: c1.ID, UserID: u3.ID, Kind: model.OfferRoute, State: model.OfferDeclined,
		OfferedAt: at(time.Second), ResolvedAt: at(3 * time.Second)}
	o21 := model.Offer{ChatID: c2.ID, UserID: u1.ID, Kind: model.OfferAssign, FromUserID: u3.ID, State: model.OfferPending,
		Exclusive: true, OfferedAt: t0, ExpiresAt: at(time.Minute)}
	inTx(t, s, func(tx store.Tx) error {
		for _, o := range []model.Offer{o11, o12, o13, o21} {
			noErr(t, "PutOffer", tx.PutOffer(ctx, o))
		}
		eq(t, "ListOffers inside tx", try[[]model.Offer](t, "ListOffers")(tx.ListOffers(ctx, store.OfferQuery{ChatID: c2.ID})),
			[]model.Offer{o21})
		return nil
	})
	offers := func(what string, q store.OfferQuery, want ...model.Offer) {
		t.Helper()
		if want == nil {
			want = []model.Offer{}
		}
		eq(t, what, must[[]model.Offer](t, what)(s.ListOffers(ctx, q)), want)
	}
	// Ordered by OfferedAt, then user id.
	offers("chat's offers", store.OfferQuery{ChatID: c1.ID}, o12, o13, o11)
	offers("chat's pending offers", store.OfferQuery{ChatID: c1.ID, PendingOnly: true}, o12, o11)
	offers("user's offers", store.OfferQuery{UserID: u1.ID}, o21, o11)
	offers("user's offer of a chat", store.OfferQuery{ChatID: c2.ID, UserID: u1.ID}, o21)
	offers("user's pending offers", store.OfferQuery{UserID: u3.ID, PendingOnly: true})
	offers("chat without offers", store.OfferQuery{ChatID: c3.ID})

	// PutOffer replaces.
	o12.Kind, o12.Exclusive, o12.FromUserID, o12.OfferedAt, o12.ExpiresAt = model.OfferTransfer, true, u3.ID, at(5*time.Second), at(time.Hour)
	inTx(t, s, func(tx store.Tx) error { return tx.PutOffer(ctx, o12) })
	offers("chat's offers after replace", store.OfferQuery{ChatID: c1.ID}, o13, o11, o12)

	// ResolveOffers resolves the pending offers of the chat but one, and
	// says whose.
	var ids []int64
	inTx(t, s, func(tx store.Tx) error {
		ids = try[[]int64](t, "ResolveOffers")(tx.ResolveOffers(ctx, c1.ID, u1.ID, model.OfferWithdrawn, at(6*time.Second)))
		return nil
	})
	eq(t, "ResolveOffers except u1", ids, []int64{u2.ID})
	o12.State, o12.ResolvedAt = model.OfferWithdrawn, at(6*time.Second)
	offers("chat's offers after resolve", store.OfferQuery{ChatID: c1.ID}, o13, o11, o12)
	offers("other chat untouched", store.OfferQuery{ChatID: c2.ID}, o21)
	inTx(t, s, func(tx store.Tx) error {
		ids = try[[]int64](t, "ResolveOffers")(tx.ResolveOffers(ctx, c1.ID, 0, model.OfferAccepted, at(7*time.Second)))
		return nil
	})
	eq(t, "ResolveOffers except nobody", ids, []int64{u1.ID})
	inTx(t, s, func(tx store.Tx) error {
		ids = try[[]int64](t, "ResolveOffers")(tx.ResolveOffers(ctx, c1.ID, 0, model.OfferMissed, at(8*time.Second)))
		return nil
	})
	eq(t, "ResolveOffers with nothing pending", ids, []int64{})
	o11.State, o11.ResolvedAt = model.OfferAccepted, at(7*time.Second)
	offers("chat's offers after resolving all", store.OfferQuery{ChatID: c1.ID}, o13, o11, o12)

	// Several users come back ascending, whatever the order of the offers.
	inTx(t, s, func(tx store.Tx) error {
		for _, u := range []int64{u3.ID, u1.ID, u2.ID} {
			noErr(t, "PutOffer", tx.PutOffer(ctx, model.Offer{ChatID: c3.ID, UserID: u, Kind: model.OfferRoute,
				State: model.OfferPending, OfferedAt: t0}))
		}
		ids = try[[]int64](t, "ResolveOffers")(tx.ResolveOffers(ctx, c3.ID, 0, model.OfferWithdrawn, at(time.Second)))
		return nil
	})
	eq(t, "ResolveOffers ids ascending", ids, sortedCopy([]int64{u3.ID, u1.ID, u2.ID}))

	err := txErr(t, s, func(tx store.Tx) error {
		return tx.PutOffer(ctx, model.Offer{ChatID: 987654, UserID: u1.ID, Kind: model.OfferRoute, State: model.OfferPending})
	})
	wantCode(t, "PutOffer unknown chat", err, "chat_not_found")
	err = txErr(t, s, func(tx store.Tx) error {
		return tx.PutOffer(ctx, model.Offer{ChatID: c1.ID, UserID: 987654, Kind: model.OfferRoute, State: model.OfferPending})
	})
	wantCode(t, "PutOffer unknown user", err, "user_not_found")
}

func testRecountLoad(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	u := b.user
	var v model.User
	chats := make([]model.Chat, 6)
	inTx(t, s, func(tx store.Tx) error {
		v = newUser(t, tx, "v@example.com")
		for i := range chats {
			chats[i] = newChat(t, tx, b.conv.ID, model.ChatActive)
		}
		// u: in chat 0, left chat 1; v in chat 0.
		noErr(t, "AddParticipant", tx.AddParticipant(ctx, chats[0].ID, u.ID, t0))
		noErr(t, "AddParticipant", tx.AddParticipant(ctx, chats[1].ID, u.ID, t0))
		noErr(t, "RemoveParticipant", tx.RemoveParticipant(ctx, chats[1].ID, u.ID, at(time.Second)))
		noErr(t, "AddParticipant", tx.AddParticipant(ctx, chats[0].ID, v.ID, t0))
		for _, o := range []model.Offer{
			{ChatID: chats[2].ID, UserID: u.ID, State: model.OfferPending, Exclusive: true},   // counts
			{ChatID: chats[3].ID, UserID: u.ID, State: model.OfferPending, Exclusive: false},  // broadcast: no
			{ChatID: chats[4].ID, UserID: u.ID, State: model.OfferDeclined, Exclusive: true},  // resolved: no
			{ChatID: chats[5].ID, UserID: u.ID, State: model.OfferAccepted, Exclusive: true},  // resolved: no
			{ChatID: chats[2].ID, UserID: v.ID, State: model.OfferPending, Exclusive: true},   // v's
			{ChatID: chats[1].ID, UserID: v.ID, State: model.OfferWithdrawn, Exclusive: true}, // resolved: no
		} {
			o.Kind, o.OfferedAt = model.OfferRoute, t0
			noErr(t, "PutOffer", tx.PutOffer(ctx, o))
		}
		eq(t, "RecountLoad u", try[int](t, "RecountLoad")(tx.RecountLoad(ctx, u.ID)), 2)
		eq(t, "Load inside tx", try[model.User](t, "GetUser")(tx.GetUser(ctx, u.ID)).Load, 2)
		return nil
	})
	eq(t, "GetUser Load", must[model.User](t, "GetUser")(s.GetUser(ctx, u.ID)).Load, 2)
	// Not recounted: unchanged.
	eq(t, "v not recounted", must[model.User](t, "GetUser")(s.GetUser(ctx, v.ID)).Load, 0)

	inTx(t, s, func(tx store.Tx) error {
		eq(t, "RecountLoad v", try[int](t, "RecountLoad")(tx.RecountLoad(ctx, v.ID)), 2)
		// u leaves chat 0 and the exclusive offer is withdrawn.
		noErr(t, "RemoveParticipant", tx.RemoveParticipant(ctx, chats[0].ID, u.ID, at(time.Minute)))
		try[[]int64](t, "ResolveOffers")(tx.ResolveOffers(ctx, chats[2].ID, v.ID, model.OfferWithdrawn, at(time.Minute)))
		eq(t, "RecountLoad u after leaving", try[int](t, "RecountLoad")(tx.RecountLoad(ctx, u.ID)), 0)
		return nil
	})
	users := must[[]model.User](t, "ListUsers")(s.ListUsers(ctx))
	eq(t, "ListUsers loads", []int{users[0].Load, users[1].Load}, []int{0, 2})

	err := txErr(t, s, func(tx store.Tx) error {
		_, err := tx.RecountLoad(ctx, 987654)
		return err
	})
	wantCode(t, "RecountLoad unknown", err, "user_not_found")
}

// testUserRoutingFields: the user columns routing uses.
func testUserRoutingFields(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	full := model.User{Email: "full@example.com", Name: "Full", Role: model.RoleAgent, Availability: model.Available,
		Capacity: 4, MaxCapacity: 6, LastOfferAt: at(time.Minute), MissedOffers: 2, CreatedAt: t0, UpdatedAt: t0}
	def := model.User{Email: "def@example.com", Name: "Default", Role: model.RoleAgent, Availability: model.Offline,
		Capacity: 3}
	big := model.User{Email: "big@example.com", Name: "Big", Role: model.RoleAgent, Availability: model.Offline,
		Capacity: 25}
	inTx(t, s, func(tx store.Tx) error {
		for _, u := range []*model.User{&full, &def, &big} {
			noErr(t, "CreateUser", tx.CreateUser(ctx, u))
		}
		return nil
	})
	// CreateUser returns what it stored: a zero MaxCapacity is the default
	// (10), or the capacity if higher; Load starts at 0.
	eq(t, "MaxCapacity given", full.MaxCapacity, 6)
	eq(t, "MaxCapacity default", def.MaxCapacity, 10)
	eq(t, "MaxCapacity raised to capacity", big.MaxCapacity, 25)
	eq(t, "ListUsers", must[[]model.User](t, "ListUsers")(s.ListUsers(ctx)), []model.User{full, def, big})

	// UpdateUser writes MaxCapacity, LastOfferAt and MissedOffers, never Load.
	b := newBase(t, s)
	inTx(t, s, func(tx store.Tx) error {
		ch := newChat(t, tx, b.conv.ID, model.ChatActive)
		noErr(t, "AddParticipant", tx.AddParticipant(ctx, ch.ID, full.ID, t0))
		_, err := tx.RecountLoad(ctx, full.ID)
		return err
	})
	upd := full
	upd.MaxCapacity, upd.LastOfferAt, upd.MissedOffers, upd.Load, upd.UpdatedAt = 8, at(time.Hour), 0, 99, at(time.Hour)
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateUser(ctx, upd) })
	upd.Load = 1
	eq(t, "GetUser after update", must[model.User](t, "GetUser")(s.GetUser(ctx, full.ID)), upd)
	// ... including back to a zero LastOfferAt.
	upd.LastOfferAt, upd.MissedOffers = time.Time{}, 5
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateUser(ctx, upd) })
	eq(t, "GetUserByEmail after reset", must[model.User](t, "GetUserByEmail")(s.GetUserByEmail(ctx, "full@example.com")), upd)
}

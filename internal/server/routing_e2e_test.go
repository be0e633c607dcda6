package server_test

import (
	"fmt"
	"testing"
)

// demoSiteID returns the id of the demo site.
func demoSiteID(t *testing.T, admin *staffClient) int64 {
	t.Helper()
	var sites struct {
		Sites []struct {
			ID  int64  `json:"id"`
			Key string `json:"key"`
		} `json:"sites"`
	}
	if st := admin.do("GET", "/api/v1/sites", nil, &sites); st != 200 {
		t.Fatalf("list sites: %d", st)
	}
	for _, s := range sites.Sites {
		if s.Key == "demo" {
			return s.ID
		}
	}
	t.Fatal("no demo site")
	return 0
}

type offerEvent struct {
	Offer struct {
		ChatID     int64  `json:"chat_id"`
		UserID     int64  `json:"user_id"`
		Kind       string `json:"kind"`
		FromUserID int64  `json:"from_user_id"`
		State      string `json:"state"`
	} `json:"offer"`
}

type queueEvent struct {
	ChatID   int64 `json:"chat_id"`
	Position int   `json:"position"`
}

// TestRoutingEndToEnd drives routing from the outside: an admin configures
// round robin and a department, visitors queue and are told their place in
// real time, an agent is offered a chat over their socket and accepts it,
// transfers it to a department, a supervisor assigns it; bad settings and
// foreign access get typed errors and change nothing.
func TestRoutingEndToEnd(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	site := demoSiteID(t, admin)
	alice := n.login("alice@demo.test", "demo-agent-pass")
	bob := n.login("bob@demo.test", "demo-agent-pass")

	// Bad settings: typed errors, nothing stored.
	admin.doProblem("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"routing": map[string]any{"strategy": "random"}}, 400, "unknown_strategy")
	admin.doProblem("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"hours": map[string]any{"time_zone": "Nowhere/Town", "weekly": [][]any{{}, {}, {}, {}, {}, {}, {}}}}, 400, "unknown_time_zone")
	admin.doProblem("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"hours": map[string]any{"time_zone": "UTC",
		"weekly": [][]map[string]string{{{"start": "12:00", "end": "10:00"}}, {}, {}, {}, {}, {}, {}}}}, 400, "invalid_interval")
	alice.doProblem("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"routing": map[string]any{"strategy": "round_robin"}}, 403, "admin_only")
	alice.doProblem("POST", "/api/v1/departments", map[string]any{"site_id": site, "name": "Sales"}, 403, "admin_only")
	alice.doProblem("PUT", "/api/v1/me/capacity", map[string]any{"capacity": -1}, 400, "invalid_capacity")
	alice.doProblem("PUT", "/api/v1/me/capacity", map[string]any{"capacity": 11}, 400, "capacity_above_maximum")

	if st := admin.do("PATCH", fmt.Sprintf("/api/v1/sites/%d", site), map[string]any{"routing": map[string]any{"strategy": "round_robin"}}, nil); st != 200 {
		t.Fatalf("set strategy: %d", st)
	}
	var sales struct {
		ID int64 `json:"id"`
	}
	if st := admin.do("POST", "/api/v1/departments", map[string]any{"site_id": site, "name": "Sales", "member_ids": []int64{bob.userID()}}, &sales); st != 201 {
		t.Fatalf("create department: %d", st)
	}

	// Nobody online: two visitors queue and learn their place.
	v1 := n.newVisitor("demo", "")
	vw1, _ := v1.ws()
	conv1 := requestChat(t, vw1, "first")
	wantAck(t, "subscribe", vw1.send("subscribe", map[string]any{"conversation_id": conv1, "after_seq": 0}))
	vw1.waitEvent("queue", func(f frame) bool { return decode[queueEvent](t, f.Data).Position == 1 })
	v2 := n.newVisitor("demo", "")
	vw2, _ := v2.ws()
	conv2 := requestChat(t, vw2, "second")
	vw2.waitEvent("queue", func(f frame) bool { return decode[queueEvent](t, f.Data).Position == 2 })

	// Alice (room for one chat) goes online: offered the head of the queue
	// on her socket.
	if st := alice.do("PUT", "/api/v1/me/capacity", map[string]any{"capacity": 1}, nil); st != 200 {
		t.Fatalf("capacity: %d", st)
	}
	aw := alice.ws()
	wantAck(t, "alice online", aw.send("availability", map[string]any{"availability": "available"}))
	f := aw.waitEvent("offer", func(f frame) bool {
		o := decode[offerEvent](t, f.Data)
		return f.ConversationID == conv1 && o.Offer.State == "pending" && o.Offer.UserID == alice.userID()
	})
	_ = f
	// A console that reloads finds the offer again.
	var mine struct {
		Offers []offerEvent `json:"offers"`
	}
	if st := alice.do("GET", "/api/v1/me/offers", nil, &mine); st != 200 || len(mine.Offers) != 1 || mine.Offers[0].Offer.ChatID == 0 {
		t.Fatalf("my offers: %d %+v", st, mine)
	}
	var none struct {
		Offers []offerEvent `json:"offers"`
	}
	if st := bob.do("GET", "/api/v1/me/offers", nil, &none); st != 200 || len(none.Offers) != 0 {
		t.Fatalf("bob sees offers that are not his: %+v", none)
	}
	// A returning widget learns the site's state afresh.
	var ps struct {
		Open        bool `json:"open"`
		Departments []struct {
			Name string `json:"name"`
		} `json:"departments"`
	}
	if st := v2.do("GET", "/api/v1/visitor/site", nil, &ps); st != 200 || !ps.Open || len(ps.Departments) != 1 || ps.Departments[0].Name != "Sales" {
		t.Fatalf("visitor site: %d %+v", st, ps)
	}
	wantAck(t, "alice accepts", aw.send("join", map[string]any{"conversation_id": conv1}))
	// The second visitor moves up, in real time (alice is full: it waits).
	vw2.waitEvent("queue", func(f frame) bool { return decode[queueEvent](t, f.Data).Position == 1 })

	// A visitor cannot use staff commands; another site's staff cannot see.
	wantWSError(t, "visitor transfer", vw1.send("transfer", map[string]any{"conversation_id": conv1, "user_id": alice.userID()}), "unknown_command")
	// Transfer to Sales while Bob is offline: refused, nothing changed.
	wantWSError(t, "transfer to an empty department", aw.send("transfer", map[string]any{"conversation_id": conv1, "department_id": sales.ID}), "nobody_available")
	wantWSError(t, "transfer to a missing agent", aw.send("transfer", map[string]any{"conversation_id": conv1, "user_id": 999999}), "agent_not_found")
	wantWSError(t, "transfer to both", aw.send("transfer", map[string]any{"conversation_id": conv1, "user_id": bob.userID(), "department_id": sales.ID}), "invalid_transfer")
	bw := bob.ws()
	wantAck(t, "bob online", bw.send("availability", map[string]any{"availability": "available"}))
	wantWSError(t, "bob joins a taken chat", bw.send("join", map[string]any{"conversation_id": conv1}), "chat_already_taken")
	// Bob is offered the second visitor's chat meanwhile (round robin).
	bw.waitEvent("offer", func(f frame) bool {
		return f.ConversationID == conv2 && decode[offerEvent](t, f.Data).Offer.State == "pending"
	})
	wantAck(t, "bob declines", bw.send("decline", map[string]any{"conversation_id": conv2}))

	// Transfer to Sales: Bob (its member, with room) is offered it.
	wantAck(t, "transfer to Sales", aw.send("transfer", map[string]any{"conversation_id": conv1, "department_id": sales.ID}))
	bw.waitEvent("offer", func(f frame) bool {
		return f.ConversationID == conv1 && decode[offerEvent](t, f.Data).Offer.State == "pending"
	})
	vw1.waitEvent("message", func(f frame) bool { return decode[message](t, f.Data).Event == "transferred" })

	// A supervisor assigns it to Alice instead; the supervisor still cannot write.
	var sup struct {
		ID int64 `json:"id"`
	}
	if st := admin.do("POST", "/api/v1/users", map[string]any{"email": "sue@demo.test", "name": "Sue", "role": "supervisor",
		"password": "supervisor-pass", "site_ids": []int64{site}}, &sup); st != 201 {
		t.Fatalf("create supervisor: %d", st)
	}
	sue := n.login("sue@demo.test", "supervisor-pass")
	// Alice, freed by the transfer, was offered the second chat (Bob had
	// declined it): she is full, so an assignment to her is refused...
	aw.waitEvent("offer", func(f frame) bool {
		return f.ConversationID == conv2 && decode[offerEvent](t, f.Data).Offer.State == "pending"
	})
	sue.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/assign", conv1), map[string]any{"user_id": alice.userID()}, 409, "agent_at_capacity")
	// ...until she makes room.
	if st := alice.do("PUT", "/api/v1/me/capacity", map[string]any{"capacity": 2}, nil); st != 200 {
		t.Fatalf("capacity: %d", st)
	}
	alice.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/assign", conv1), map[string]any{"user_id": alice.userID()}, 403, "supervisors_only")
	if st := sue.do("POST", fmt.Sprintf("/api/v1/conversations/%d/assign", conv1), map[string]any{"user_id": alice.userID()}, nil); st != 200 {
		t.Fatalf("assign: %d", st)
	}
	aw.waitEvent("offer", func(f frame) bool {
		o := decode[offerEvent](t, f.Data)
		return f.ConversationID == conv1 && o.Offer.Kind == "assign" && o.Offer.State == "pending"
	})
	bw.waitEvent("offer", func(f frame) bool {
		return f.ConversationID == conv1 && decode[offerEvent](t, f.Data).Offer.State == "withdrawn"
	})
	sue.doProblem("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv1), map[string]any{"client_id": "s1", "body": "hi"}, 403, "supervisor_read_only")
	wantAck(t, "alice takes the assigned chat", aw.send("join", map[string]any{"conversation_id": conv1}))

	var targets struct {
		Agents []struct {
			ID int64 `json:"id"`
		} `json:"agents"`
	}
	if st := alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d/transfer-targets", conv1), nil, &targets); st != 200 {
		t.Fatalf("targets: %d", st)
	}
	if len(targets.Agents) != 1 || targets.Agents[0].ID != bob.userID() {
		t.Fatalf("transfer targets %+v, want bob", targets.Agents)
	}
	// A visitor cannot see another visitor's queue or conversation.
	v2.doProblemVisitor(t, "GET", fmt.Sprintf("/api/v1/visitor/conversations/%d", conv1), 404, "conversation_not_found")
}

// doProblemVisitor asserts a visitor request fails with status and code.
func (v *visitor) doProblemVisitor(t *testing.T, method, path string, status int, code string) {
	t.Helper()
	var p struct {
		Code string `json:"code"`
	}
	if st := v.do(method, path, nil, &p); st != status || p.Code != code {
		t.Fatalf("%s %s: %d %q, want %d %q", method, path, st, p.Code, status, code)
	}
}

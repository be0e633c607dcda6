package server_test

import (
	"fmt"
	"testing"
)

// TestConversationListCarriesContactAndPresence: list rows say who the
// customer is and whether they are on the site, so a console needs no
// request per row.
func TestConversationListCarriesContactAndPresence(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "hi") // names the visitor Vera, vera@example.com
	var list struct {
		Conversations []struct {
			ID      int64 `json:"id"`
			Contact struct {
				Name  string `json:"name"`
				Email string `json:"email"`
			} `json:"contact"`
			Online bool `json:"online"`
		} `json:"conversations"`
	}
	if st := alice.do("GET", "/api/v1/conversations?live=true", nil, &list); st != 200 || len(list.Conversations) != 1 {
		t.Fatalf("list: %d %+v", st, list)
	}
	row := list.Conversations[0]
	if row.ID != conv || row.Contact.Email != "vera@example.com" || row.Contact.Name != "Vera Visitor" || !row.Online {
		t.Fatalf("row %+v", row)
	}
}

// TestStaffDirectory: agents see the colleagues who share a site with them
// (names, availability), never staff of other sites; visitors see nothing.
func TestStaffDirectory(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	var site struct {
		ID int64 `json:"id"`
	}
	if st := admin.do("POST", "/api/v1/sites", map[string]any{"name": "Elsewhere"}, &site); st != 201 {
		t.Fatalf("create site: %d", st)
	}
	if st := admin.do("POST", "/api/v1/users", map[string]any{"email": "zoe@else.test", "name": "Zoe Elsewhere",
		"password": "zoe-password", "role": "agent", "site_ids": []int64{site.ID}}, nil); st != 201 {
		t.Fatalf("create user: %d", st)
	}
	alice := n.login("alice@demo.test", "demo-agent-pass")
	var dir struct {
		Staff []struct {
			Name         string `json:"name"`
			Availability string `json:"availability"`
		} `json:"staff"`
	}
	if st := alice.do("GET", "/api/v1/staff", nil, &dir); st != 200 {
		t.Fatalf("staff: %d", st)
	}
	names := map[string]bool{}
	for _, s := range dir.Staff {
		names[s.Name] = true
	}
	if !names["Alice Agent"] || !names["Bob Agent"] || names["Zoe Elsewhere"] {
		t.Fatalf("alice's directory: %v", names)
	}
	var all struct {
		Staff []struct{ Name string } `json:"staff"`
	}
	admin.do("GET", "/api/v1/staff", nil, &all)
	if len(all.Staff) != 4 {
		t.Fatalf("admin sees %d staff, want 4", len(all.Staff))
	}
	v := n.newVisitor("demo", "")
	if st := v.do("GET", "/api/v1/staff", nil, nil); st != 401 {
		t.Fatalf("visitor got %d", st)
	}
}

// TestVisitorRatesTheEndedChat over REST, as the widget does; staff see the
// rating on the chat.
func TestVisitorRatesTheEndedChat(t *testing.T) {
	n := startNode(t, "")
	n.seed()
	alice := n.login("alice@demo.test", "demo-agent-pass")
	aw := alice.ws()
	aw.send("availability", map[string]any{"availability": "available"})
	v := n.newVisitor("demo", "")
	vw, _ := v.ws()
	conv := requestChat(t, vw, "hi")
	aw.send("join", map[string]any{"conversation_id": conv})
	f := aw.send("end_chat", map[string]any{"conversation_id": conv})
	chatID := decode[convView](t, f.Data).Chat.Chat.ID
	path := fmt.Sprintf("/api/v1/visitor/conversations/%d/rating", conv)
	var rated struct {
		Chat struct {
			Chat struct {
				Rating        int    `json:"rating"`
				RatingComment string `json:"rating_comment"`
			} `json:"chat"`
		} `json:"chat"`
	}
	if st := v.do("POST", path, map[string]any{"chat_id": chatID, "score": 5, "comment": "great"}, &rated); st != 201 || rated.Chat.Chat.Rating != 5 {
		t.Fatalf("rate: %d %+v", st, rated)
	}
	var problem struct{ Code string }
	if st := v.do("POST", path, map[string]any{"chat_id": chatID, "score": 1}, &problem); st != 409 || problem.Code != "already_rated" {
		t.Fatalf("second rating: %d %s", st, problem.Code)
	}
	aw.waitEvent("chat", func(f frame) bool {
		return decode[struct {
			Chat struct{ Rating int } `json:"chat"`
		}](t, f.Data).Chat.Rating == 5
	})
	var view struct {
		Chat struct {
			Chat struct{ Rating int } `json:"chat"`
		} `json:"chat"`
	}
	alice.do("GET", fmt.Sprintf("/api/v1/conversations/%d", conv), nil, &view)
	if view.Chat.Chat.Rating != 5 {
		t.Fatalf("staff view rating %d", view.Chat.Chat.Rating)
	}
}

package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"switchboard/internal/server"
)

type visitsJSON struct {
	ContactID int64     `json:"contact_id"`
	SiteID    int64     `json:"site_id"`
	Visits    int       `json:"visits"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	TimeZone  string    `json:"timezone"`
	Locale    string    `json:"locale"`
	Country   string    `json:"country"`
	City      string    `json:"city"`
	Views     []struct {
		URL      string    `json:"url"`
		Title    string    `json:"title"`
		Visit    int       `json:"visit"`
		ViewedAt time.Time `json:"viewed_at"`
	} `json:"views"`
}

// TestVisitHistoryE2E: a visitor's presence frames (with time zone and
// language) and a trusted proxy's location headers become the contact's
// visit history, which staff of the site read over REST and nobody else can.
func TestVisitHistoryE2E(t *testing.T) {
	n := startNode(t, "", func(c *server.Config) { c.GeoCountryHeader, c.GeoCityHeader = "CF-IPCountry", "CF-IPCity" })
	n.seed()
	admin := n.login("admin@demo.test", "demo-admin-pass")
	other := createSite(t, admin, "Other Shop", "other")
	createUser(t, admin, "carol@other.test", "carol-agent-pass", "agent", other)
	carol := n.login("carol@other.test", "carol-agent-pass")
	alice := n.login("alice@demo.test", "demo-agent-pass")

	// The visitor arrives through the proxy, which says where they are.
	v := &visitor{t: t, n: n, http: &http.Client{Timeout: 10 * time.Second}}
	var start struct {
		Token   string `json:"token"`
		Contact struct {
			ID int64 `json:"id"`
		} `json:"contact"`
	}
	if st := doJSON(t, v.http, "POST", n.base+"/api/v1/visitor/sessions", map[string]string{"site_key": "demo"}, &start,
		map[string]string{"CF-IPCountry": "NZ", "CF-IPCity": "Wellington"}); st != 201 {
		t.Fatalf("start visitor: %d", st)
	}
	v.token = start.Token
	vw, _ := v.ws()
	wantAck(t, "presence", vw.send("presence", map[string]any{"url": "https://shop.test/", "title": "Shop", "visible": true,
		"timezone": "Pacific/Auckland", "locale": "en-NZ"}))
	wantAck(t, "same page", vw.send("presence", map[string]any{"url": "https://shop.test/", "title": "Shop", "visible": false,
		"timezone": "Pacific/Auckland", "locale": "en-NZ"}))
	wantAck(t, "next page", vw.send("presence", map[string]any{"url": "https://shop.test/cart", "title": "Cart", "visible": true}))
	// Malformed values are refused with a typed error.
	wantWSError(t, "bad timezone", vw.send("presence", map[string]any{"url": "https://shop.test/", "timezone": "<script>"}), "invalid_timezone")
	wantWSError(t, "bad locale", vw.send("presence", map[string]any{"url": "https://shop.test/", "locale": "en_NZ!"}), "invalid_locale")

	path := fmt.Sprintf("/api/v1/contacts/%d/visits", start.Contact.ID)
	var got visitsJSON
	deadline := time.Now().Add(waitLimit)
	for {
		got = visitsJSON{}
		if st := alice.do("GET", path, nil, &got); st != 200 {
			t.Fatalf("alice: status %d", st)
		}
		if len(got.Views) == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // history is written just after the ack
	}
	if got.Visits != 1 || got.TimeZone != "Pacific/Auckland" || got.Locale != "en-NZ" || got.Country != "NZ" || got.City != "Wellington" ||
		len(got.Views) != 2 || got.Views[0].URL != "https://shop.test/cart" || got.Views[1].Title != "Shop" || got.FirstSeen.IsZero() {
		t.Fatalf("visits: %+v", got)
	}

	// Staff of another site, a visitor, nobody: the contact is not theirs.
	carol.doProblem("GET", path, nil, 404, "contact_not_found")
	alice.doProblem("GET", "/api/v1/contacts/987654/visits", nil, 404, "contact_not_found")
	alice.doProblem("GET", "/api/v1/contacts/x/visits", nil, 400, "invalid_id")
	if st := v.do("GET", path, nil, nil); st != 401 {
		t.Fatalf("visitor token: status %d, want 401", st)
	}
	if st := doJSON(t, &http.Client{Timeout: 10 * time.Second}, "GET", n.base+path, nil, nil, nil); st != 401 {
		t.Fatalf("anonymous: status %d, want 401", st)
	}
}

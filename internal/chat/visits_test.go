package chat_test

import (
	"fmt"
	"testing"
	"time"

	"switchboard/internal/chat"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

func (f *fixture) visits(a chat.Actor, contactID int64) chat.VisitsView {
	f.t.Helper()
	f.svc.WaitVisits()
	v, err := f.svc.ContactVisits(f.ctx, a, contactID)
	if err != nil {
		f.t.Fatal(err)
	}
	return v
}

func TestVisitHistoryFromPresence(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	page := func(url, title string) protocol.PresenceData {
		return protocol.PresenceData{URL: url, Title: title, Visible: true, TimeZone: "Europe/Paris", Locale: "fr-FR"}
	}
	if err := f.svc.Signal(v, page("https://shop.example/", "Shop")); err != nil {
		t.Fatal(err)
	}
	start := f.clk.Now()
	got := f.visits(f.agent, v.ContactID)
	if got.Count != 1 || !got.FirstSeen.Equal(start) || got.TimeZone != "Europe/Paris" || got.Locale != "fr-FR" || len(got.Views) != 1 {
		t.Fatalf("after the first signal: %+v", got)
	}

	// Unchanged signals and pings write nothing (last_seen stays), until
	// the periodic refresh.
	for range 5 {
		f.clk.Advance(25 * time.Second)
		f.svc.Touch(v)
		if err := f.svc.Signal(v, page("https://shop.example/", "Shop")); err != nil {
			t.Fatal(err)
		}
	}
	if got = f.visits(f.agent, v.ContactID); !got.LastSeen.Equal(start) || len(got.Views) != 1 {
		t.Fatalf("unchanged signals wrote: %+v", got)
	}
	f.clk.Advance(3 * time.Minute) // 5 min 5 s after the first write
	f.svc.Touch(v)
	if got = f.visits(f.agent, v.ContactID); !got.LastSeen.Equal(f.clk.Now()) {
		t.Fatalf("last_seen %v not refreshed to %v", got.LastSeen, f.clk.Now())
	}

	// Another page is a view.
	f.clk.Advance(10 * time.Second)
	if err := f.svc.Signal(v, page("https://shop.example/cart", "Cart")); err != nil {
		t.Fatal(err)
	}
	got = f.visits(f.agent, v.ContactID)
	if len(got.Views) != 2 || got.Views[0].URL != "https://shop.example/cart" || got.Views[0].Visit != 1 {
		t.Fatalf("views %+v", got.Views)
	}

	// Back after more than half an hour: visit 2, the same page is its first view.
	f.clk.Advance(model.VisitGap + time.Minute)
	f.svc.Touch(v) // the reconnect's auth
	if err := f.svc.Signal(v, page("https://shop.example/cart", "Cart")); err != nil {
		t.Fatal(err)
	}
	got = f.visits(f.agent, v.ContactID)
	if got.Count != 2 || len(got.Views) != 3 || got.Views[0].Visit != 2 || !got.FirstSeen.Equal(start) {
		t.Fatalf("second visit: %+v", got)
	}

	// Where they are, from a trusted proxy; "XX" (unknown) and junk are dropped.
	f.svc.NoteGeo(v, chat.Geo{Country: "XX", City: "bad\x00city"})
	f.svc.NoteGeo(v, chat.Geo{Country: "DE", City: "Köln"})
	if got = f.visits(f.agent, v.ContactID); got.Country != "DE" || got.City != "Köln" {
		t.Fatalf("geo %q %q", got.Country, got.City)
	}
}

func TestVisitPresenceValidation(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	for _, bad := range []protocol.PresenceData{
		{TimeZone: "Europe/Paris; DROP"},
		{TimeZone: "../../etc/passwd"},
		{TimeZone: "/Europe"},
		{TimeZone: "A/" + fmt.Sprint(make([]byte, 80))},
	} {
		wantCode(t, f.svc.Signal(v, bad), "invalid_timezone")
	}
	for _, bad := range []string{"en_US", "e", "en-GB-<b>", "toolongsubtag-abcdefghij"} {
		wantCode(t, f.svc.Signal(v, protocol.PresenceData{Locale: bad}), "invalid_locale")
	}
	// Well-formed but unknown to the server's time zone database: ignored.
	if err := f.svc.Signal(v, protocol.PresenceData{URL: "https://shop.example/", TimeZone: "Mars/Olympus_Mons", Locale: "en-GB"}); err != nil {
		t.Fatal(err)
	}
	got := f.visits(f.agent, v.ContactID)
	if got.TimeZone != "" || got.Locale != "en-GB" {
		t.Fatalf("timezone %q locale %q", got.TimeZone, got.Locale)
	}
	if err := f.svc.Signal(v, protocol.PresenceData{URL: "https://shop.example/", TimeZone: "America/Argentina/Buenos_Aires"}); err != nil {
		t.Fatal(err)
	}
	if got = f.visits(f.agent, v.ContactID); got.TimeZone != "America/Argentina/Buenos_Aires" {
		t.Fatalf("timezone %q", got.TimeZone)
	}
}

func TestContactVisitsAccess(t *testing.T) {
	f := newFixture(t)
	v := f.visitor()
	if err := f.svc.Signal(v, protocol.PresenceData{URL: "https://shop.example/"}); err != nil {
		t.Fatal(err)
	}
	f.svc.WaitVisits()
	// Staff of another site: the contact does not exist for them.
	name := "Other"
	other := must(f.svc.CreateSite(f.ctx, f.admin, chat.SiteInput{Name: &name}))
	u := model.User{Email: "olga@x.test", Name: "Olga", Role: model.RoleAgent, Capacity: 1, CreatedAt: f.clk.Now(), UpdatedAt: f.clk.Now()}
	if err := f.st.InTx(f.ctx, func(tx store.Tx) error {
		if err := tx.CreateUser(f.ctx, &u); err != nil {
			return err
		}
		return tx.SetUserSites(f.ctx, u.ID, []int64{other.ID})
	}); err != nil {
		t.Fatal(err)
	}
	olga := must(f.svc.StaffActor(f.ctx, u))
	_, err := f.svc.ContactVisits(f.ctx, olga, v.ContactID)
	wantCode(t, err, "contact_not_found")
	_, err = f.svc.ContactVisits(f.ctx, v, v.ContactID)
	wantCode(t, err, "staff_only")
	_, err = f.svc.ContactVisits(f.ctx, f.agent, 987654)
	wantCode(t, err, "contact_not_found")
	// The site's agents and admins see it; a supervisor of the site too.
	for _, a := range []chat.Actor{f.agent, f.admin, f.sup} {
		if got := f.visits(a, v.ContactID); got.Count != 1 || len(got.Views) != 1 {
			t.Fatalf("%s: %+v", a.User.Name, got)
		}
	}
}

package storetest

import (
	"fmt"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

func testVisits(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	b := newBase(t, s)
	var other model.Contact
	inTx(t, s, func(tx store.Tx) error {
		other = newContact(t, tx, b.site.ID)
		return nil
	})
	record := func(r store.VisitRecord) model.Visits {
		t.Helper()
		var v model.Visits
		inTx(t, s, func(tx store.Tx) error {
			var err error
			v, err = tx.RecordVisit(ctx, r)
			return err
		})
		return v
	}
	views := func(contactID int64, limit int) []model.PageView {
		t.Helper()
		return must[[]model.PageView](t, "ListPageViews")(s.ListPageViews(ctx, contactID, limit))
	}

	// Never seen: zero visits, no error, no views.
	eq(t, "unseen", must[model.Visits](t, "GetVisits")(s.GetVisits(ctx, b.contact.ID)), model.Visits{ContactID: b.contact.ID})
	eq(t, "unseen views", len(views(b.contact.ID, 0)), 0)

	// The first sign of life is visit 1, with where they are.
	v := record(store.VisitRecord{ContactID: b.contact.ID, VisitorSessionID: 7, At: at(0), URL: "https://shop.example/",
		Title: "Shop", TimeZone: "Europe/Paris", Locale: "fr-FR", Country: "FR"})
	want := model.Visits{ContactID: b.contact.ID, SiteID: b.site.ID, Count: 1, FirstSeen: at(0), LastSeen: at(0),
		TimeZone: "Europe/Paris", Locale: "fr-FR", Country: "FR"}
	eq(t, "first visit", v, want)
	eq(t, "GetVisits", must[model.Visits](t, "GetVisits")(s.GetVisits(ctx, b.contact.ID)), want)

	// The same page again in the same visit is not a new view; a touch
	// without a URL moves last_seen only; empty fields keep what is known.
	record(store.VisitRecord{ContactID: b.contact.ID, VisitorSessionID: 7, At: at(time.Minute), URL: "https://shop.example/", Title: "Shop"})
	v = record(store.VisitRecord{ContactID: b.contact.ID, VisitorSessionID: 7, At: at(2 * time.Minute), City: "Lyon"})
	want.LastSeen, want.City = at(2*time.Minute), "Lyon"
	eq(t, "touch", v, want)
	record(store.VisitRecord{ContactID: b.contact.ID, VisitorSessionID: 7, At: at(3 * time.Minute), URL: "https://shop.example/cart", Title: "Cart"})
	got := views(b.contact.ID, 0)
	eq(t, "views of visit 1", len(got), 2)
	if len(got) == 2 {
		eq(t, "newest first", got[0], model.PageView{ID: got[0].ID, ContactID: b.contact.ID, VisitorSessionID: 7, Visit: 1,
			URL: "https://shop.example/cart", Title: "Cart", ViewedAt: at(3 * time.Minute)})
		eq(t, "oldest last", got[1].URL, "https://shop.example/")
	}

	// A sign of life older than the last sight never moves it back nor
	// starts a visit.
	v = record(store.VisitRecord{ContactID: b.contact.ID, At: at(time.Minute)})
	eq(t, "late signal", v.LastSeen, at(3*time.Minute))
	eq(t, "late signal visits", v.Count, 1)

	// After more than the gap of absence, a new visit: even the same page
	// counts as a view of it.
	v = record(store.VisitRecord{ContactID: b.contact.ID, VisitorSessionID: 8, At: at(3*time.Minute + model.VisitGap + time.Second),
		URL: "https://shop.example/cart", Title: "Cart"})
	eq(t, "second visit", v.Count, 2)
	eq(t, "first seen kept", v.FirstSeen, at(0))
	got = views(b.contact.ID, 0)
	if eq(t, "views after visit 2", len(got), 3); len(got) == 3 {
		eq(t, "visit of the newest view", got[0].Visit, 2)
		eq(t, "its session", got[0].VisitorSessionID, int64(8))
	}
	// A custom gap.
	v = record(store.VisitRecord{ContactID: b.contact.ID, At: at(time.Hour), Gap: time.Minute})
	eq(t, "custom gap", v.Count, 3)

	// Only the newest Keep views are kept, per contact.
	for i := range 7 {
		record(store.VisitRecord{ContactID: other.ID, At: at(time.Duration(i) * time.Second), URL: fmt.Sprintf("https://shop.example/p%d", i), Keep: 5})
	}
	got = views(other.ID, 0)
	if eq(t, "kept views", len(got), 5); len(got) == 5 {
		eq(t, "newest kept", got[0].URL, "https://shop.example/p6")
		eq(t, "oldest kept", got[4].URL, "https://shop.example/p2")
	}
	eq(t, "limit", len(views(other.ID, 2)), 2)
	eq(t, "other contact untouched", len(views(b.contact.ID, 0)), 3)

	// Text is kept storable and bounded.
	v = record(store.VisitRecord{ContactID: other.ID, At: at(time.Minute), URL: "https://shop.example/\x00bad", Title: "a\xffb"})
	got = views(other.ID, 1)
	if len(got) == 1 {
		eq(t, "cleaned url", got[0].URL, "https://shop.example/\uFFFDbad")
		eq(t, "cleaned title", got[0].Title, "a\uFFFDb")
	}

	// Concurrent first sightings of one contact (several tabs, several
	// nodes' batches) make one visit, never a failed write.
	var fresh model.Contact
	inTx(t, s, func(tx store.Tx) error {
		fresh = newContact(t, tx, b.site.ID)
		return nil
	})
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			errs <- s.InTx(ctx, func(tx store.Tx) error {
				_, err := tx.RecordVisit(ctx, store.VisitRecord{ContactID: fresh.ID, VisitorSessionID: int64(i), At: at(time.Duration(i) * time.Second),
					URL: "https://shop.example/", Title: "Shop"})
				return err
			})
		}()
	}
	for range 8 {
		noErr(t, "concurrent RecordVisit", <-errs)
	}
	fv := must[model.Visits](t, "GetVisits")(s.GetVisits(ctx, fresh.ID))
	eq(t, "concurrent visits", fv.Count, 1)
	eq(t, "concurrent views (the same page once)", len(views(fresh.ID, 0)), 1)

	// An unknown contact is refused, and the transaction stays usable.
	inTx(t, s, func(tx store.Tx) error {
		_, err := tx.RecordVisit(ctx, store.VisitRecord{ContactID: 987654, At: at(0), URL: "https://x.example/"})
		wantCode(t, "unknown contact", err, "contact_not_found")
		_, err = tx.RecordVisit(ctx, store.VisitRecord{ContactID: other.ID, At: at(2 * time.Minute)})
		noErr(t, "after the refusal", err)
		return nil
	})
}

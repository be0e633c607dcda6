package storetest

import (
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

func testChannels(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var site, other model.Site
	var c model.Contact
	inTx(t, s, func(tx store.Tx) error {
		site, other = newSite(t, tx, "ch"), newSite(t, tx, "ch2")
		c = model.Contact{SiteID: site.ID, Name: "Pat", Phone: "+14155550100", Attributes: map[string]string{}, CreatedAt: t0}
		noErr(t, "CreateContact", tx.CreateContact(ctx, &c))
		later := model.Contact{SiteID: site.ID, Phone: "+14155550100", Attributes: map[string]string{}, CreatedAt: t0}
		noErr(t, "CreateContact", tx.CreateContact(ctx, &later))
		return nil
	})
	eq(t, "by phone (the oldest)", must[model.Contact](t, "GetContactByPhone")(s.GetContactByPhone(ctx, site.ID, "+14155550100")), c)
	_, err := s.GetContactByPhone(ctx, other.ID, "+14155550100")
	wantCode(t, "another site's phone", err, "contact_not_found")
	_, err = s.GetContactByPhone(ctx, site.ID, "")
	wantCode(t, "empty phone", err, "contact_not_found")
	inTx(t, s, func(tx store.Tx) error {
		c.Phone = "+14155550199"
		noErr(t, "UpdateContact", tx.UpdateContact(ctx, c))
		return nil
	})
	eq(t, "phone updated", must[model.Contact](t, "GetContact")(s.GetContact(ctx, c.ID)).Phone, "+14155550199")

	// Each transport's sender claims only its own rows.
	inTx(t, s, func(tx store.Tx) error {
		for _, m := range []model.OutboxMail{
			{Transport: "sms", Kind: "message", DedupeKey: "sms-1", To: "+14155550199", Body: []byte("{}"), CreatedAt: t0},
			{Kind: "reply", DedupeKey: "mail-1", From: "a@x.test", To: "b@x.test", Body: []byte("x"), CreatedAt: t0},
		} {
			noErr(t, "EnqueueMail", tx.EnqueueMail(ctx, &m))
		}
		got := try[[]model.OutboxMail](t, "ClaimDueMail sms")(tx.ClaimDueMail(ctx, "sms", "n1", t0.Add(time.Hour), t0.Add(2*time.Hour), 10))
		if len(got) != 1 || got[0].DedupeKey != "sms-1" || got[0].Transport != "sms" {
			t.Errorf("sms claim: %+v", got)
		}
		got = try[[]model.OutboxMail](t, "ClaimDueMail email")(tx.ClaimDueMail(ctx, "email", "n1", t0.Add(time.Hour), t0.Add(2*time.Hour), 10))
		if len(got) != 1 || got[0].DedupeKey != "mail-1" || got[0].Transport != "email" {
			t.Errorf("email claim (transport defaults to email): %+v", got)
		}
		return nil
	})
}

func testIdentity(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var site model.Site
	var anon, known model.Contact
	var vs model.VisitorSession
	inTx(t, s, func(tx store.Tx) error {
		site = newSite(t, tx, "idn")
		site.Identity = model.IdentitySettings{Secret: "s3cret", Required: true}
		noErr(t, "UpdateSite", tx.UpdateSite(ctx, site))
		anon = newContact(t, tx, site.ID)
		known = model.Contact{SiteID: site.ID, Email: "kim@example.com", ExternalID: "user-42", Attributes: map[string]string{}, CreatedAt: t0}
		noErr(t, "CreateContact", tx.CreateContact(ctx, &known))
		vs = model.VisitorSession{SiteID: site.ID, ContactID: anon.ID, TokenHash: []byte("idn-token-hash-0123456789abcdef!"), CreatedAt: t0}
		noErr(t, "CreateVisitorSession", tx.CreateVisitorSession(ctx, &vs))
		return nil
	})
	eq(t, "identity settings", must[model.Site](t, "GetSite")(s.GetSite(ctx, site.ID)).Identity, site.Identity)
	eq(t, "by external id", must[model.Contact](t, "GetContactByExternalID")(s.GetContactByExternalID(ctx, site.ID, "user-42")), known)
	_, err := s.GetContactByExternalID(ctx, site.ID, "")
	wantCode(t, "empty external id", err, "contact_not_found")
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "SetVisitorSessionContact", tx.SetVisitorSessionContact(ctx, vs.ID, known.ID))
		wantCode(t, "unknown contact", tx.SetVisitorSessionContact(ctx, vs.ID, 987654), "contact_not_found")
		wantCode(t, "unknown session", tx.SetVisitorSessionContact(ctx, 987654, known.ID), "visitor_session_not_found")
		return nil
	})
	eq(t, "session moved", must[model.VisitorSession](t, "GetVisitorSessionByToken")(s.GetVisitorSessionByToken(ctx, vs.TokenHash)).ContactID, known.ID)
}

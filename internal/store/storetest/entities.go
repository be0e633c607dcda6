package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

func testSites(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	want := model.Site{Key: "k-one", Name: "One", AllowedOrigins: []string{"https://a.example", "https://b.example"},
		WidgetMode: model.ModeHybrid, CreatedAt: at(time.Hour)}
	var two, three model.Site
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateSite", tx.CreateSite(ctx, &want))
		two = model.Site{Key: "k-two", Name: "Two", AllowedOrigins: nil, WidgetMode: model.ModeAssistant}
		noErr(t, "CreateSite", tx.CreateSite(ctx, &two))
		three = newSite(t, tx, "k-three")
		return nil
	})
	if want.ID <= 0 || two.ID <= want.ID || three.ID <= two.ID {
		t.Fatalf("ids not assigned ascending: %d %d %d", want.ID, two.ID, three.ID)
	}

	eq(t, "GetSite", must[model.Site](t, "GetSite")(s.GetSite(ctx, want.ID)), want)
	eq(t, "GetSiteByKey", must[model.Site](t, "GetSiteByKey")(s.GetSiteByKey(ctx, "k-one")), want)
	// nil lists read back empty, not nil; zero times read back zero.
	two.AllowedOrigins = []string{}
	eq(t, "GetSite (nil origins, zero time)", must[model.Site](t, "GetSite")(s.GetSite(ctx, two.ID)), two)
	eq(t, "ListSites", must[[]model.Site](t, "ListSites")(s.ListSites(ctx)), []model.Site{want, two, three})

	// UpdateSite writes name, origins and mode only.
	upd := want
	upd.Key = "changed-key"
	upd.Name = "One renamed"
	upd.AllowedOrigins = []string{"https://c.example"}
	upd.WidgetMode = model.ModeLive
	upd.CreatedAt = at(5 * time.Hour)
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateSite(ctx, upd) })
	wantUpd := want
	wantUpd.Name, wantUpd.AllowedOrigins, wantUpd.WidgetMode = upd.Name, upd.AllowedOrigins, upd.WidgetMode
	eq(t, "GetSite after update", must[model.Site](t, "GetSite")(s.GetSite(ctx, want.ID)), wantUpd)

	// Not found and conflicts.
	_, err := s.GetSite(ctx, 987654)
	wantCode(t, "GetSite unknown", err, "site_not_found")
	_, err = s.GetSiteByKey(ctx, "nope")
	wantCode(t, "GetSiteByKey unknown", err, "site_not_found")
	err = txErr(t, s, func(tx store.Tx) error { return tx.UpdateSite(ctx, model.Site{ID: 987654, Name: "x"}) })
	wantCode(t, "UpdateSite unknown", err, "site_not_found")
	err = txErr(t, s, func(tx store.Tx) error {
		return tx.CreateSite(ctx, &model.Site{Key: "k-one", Name: "dup", WidgetMode: model.ModeLive})
	})
	wantCode(t, "CreateSite duplicate key", err, "site_key_taken")
	eq(t, "ListSites after conflict", len(must[[]model.Site](t, "ListSites")(s.ListSites(ctx))), 3)
}

func testUsers(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	want := model.User{Email: "Grace.Hopper@Example.COM", Name: "Grace", Role: model.RoleSupervisor,
		PasswordHash: "$argon2id$v=19$...", Disabled: true, Availability: model.Busy, Capacity: 7,
		CreatedAt: at(time.Minute), UpdatedAt: at(2 * time.Minute)}
	var other model.User
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateUser", tx.CreateUser(ctx, &want))
		other = newUser(t, tx, "other@example.com")
		return nil
	})
	if want.ID <= 0 || other.ID <= want.ID {
		t.Fatalf("ids not assigned ascending: %d %d", want.ID, other.ID)
	}
	want.Email = "grace.hopper@example.com" // stored lower-cased

	eq(t, "GetUser", must[model.User](t, "GetUser")(s.GetUser(ctx, want.ID)), want)
	eq(t, "GetUserByEmail (other case)",
		must[model.User](t, "GetUserByEmail")(s.GetUserByEmail(ctx, "GRACE.hopper@example.com")), want)
	eq(t, "ListUsers", must[[]model.User](t, "ListUsers")(s.ListUsers(ctx)), []model.User{want, other})

	// UpdateUser writes every mutable field, lower-casing the email.
	upd := want
	upd.Email = "Grace@Navy.MIL"
	upd.Name = "Rear Admiral Hopper"
	upd.Role = model.RoleAdmin
	upd.PasswordHash = "new-hash"
	upd.Disabled = false
	upd.Availability = model.Available
	upd.Capacity = 2
	upd.UpdatedAt = at(time.Hour)
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateUser(ctx, upd) })
	upd.Email = "grace@navy.mil"
	eq(t, "GetUser after update", must[model.User](t, "GetUser")(s.GetUser(ctx, want.ID)), upd)
	_, err := s.GetUserByEmail(ctx, "grace.hopper@example.com")
	wantCode(t, "GetUserByEmail old email", err, "user_not_found")
	// Keeping one's own email is no conflict.
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateUser(ctx, upd) })

	// Conflicts, including a different case.
	err = txErr(t, s, func(tx store.Tx) error {
		u := model.User{Email: "OTHER@example.com", Name: "x", Role: model.RoleAgent, Availability: model.Offline}
		return tx.CreateUser(ctx, &u)
	})
	wantCode(t, "CreateUser duplicate email (case)", err, "email_taken")
	err = txErr(t, s, func(tx store.Tx) error {
		o := other
		o.Email = "Grace@navy.mil"
		return tx.UpdateUser(ctx, o)
	})
	wantCode(t, "UpdateUser to a taken email", err, "email_taken")

	_, err = s.GetUser(ctx, 987654)
	wantCode(t, "GetUser unknown", err, "user_not_found")
	_, err = s.GetUserByEmail(ctx, "nobody@example.com")
	wantCode(t, "GetUserByEmail unknown", err, "user_not_found")
	err = txErr(t, s, func(tx store.Tx) error {
		return tx.UpdateUser(ctx, model.User{ID: 987654, Email: "z@example.com"})
	})
	wantCode(t, "UpdateUser unknown", err, "user_not_found")

	testUserAvatar(t, s, upd)
}

// testUserAvatar: SetUserAvatar round trip, lookup by key, and UpdateUser
// leaving the key alone.
func testUserAvatar(t *testing.T, s store.Store, u model.User) {
	ctx := ctxOf(t)
	_, err := s.GetUserByAvatar(ctx, "")
	wantCode(t, "GetUserByAvatar empty", err, "user_not_found")
	const key = "0123456789abcdef0123456789abcdef"
	inTx(t, s, func(tx store.Tx) error { return tx.SetUserAvatar(ctx, u.ID, key, at(2*time.Hour)) })
	u.AvatarKey, u.AvatarURL, u.UpdatedAt = key, model.AvatarPath(key), at(2*time.Hour)
	eq(t, "GetUser with avatar", must[model.User](t, "GetUser")(s.GetUser(ctx, u.ID)), u)
	eq(t, "GetUserByAvatar", must[model.User](t, "GetUserByAvatar")(s.GetUserByAvatar(ctx, key)), u)
	if u.AvatarURL != "/api/v1/avatars/"+key {
		t.Fatalf("AvatarURL = %q", u.AvatarURL)
	}

	// A profile edit (UpdateUser) does not touch the picture.
	plain := u
	plain.AvatarKey, plain.AvatarURL, plain.Name = "", "", "Amazing Grace"
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateUser(ctx, plain) })
	u.Name = "Amazing Grace"
	eq(t, "GetUser after UpdateUser", must[model.User](t, "GetUser")(s.GetUser(ctx, u.ID)), u)

	// Removing it: the old key no longer finds the user.
	inTx(t, s, func(tx store.Tx) error { return tx.SetUserAvatar(ctx, u.ID, "", at(3*time.Hour)) })
	u.AvatarKey, u.AvatarURL, u.UpdatedAt = "", "", at(3*time.Hour)
	eq(t, "GetUser avatar removed", must[model.User](t, "GetUser")(s.GetUser(ctx, u.ID)), u)
	_, err = s.GetUserByAvatar(ctx, key)
	wantCode(t, "GetUserByAvatar removed", err, "user_not_found")

	err = txErr(t, s, func(tx store.Tx) error { return tx.SetUserAvatar(ctx, 987654, key, at(0)) })
	wantCode(t, "SetUserAvatar unknown", err, "user_not_found")
}

func testUserSites(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var s1, s2, s3 model.Site
	var u, v model.User
	inTx(t, s, func(tx store.Tx) error {
		s1, s2, s3 = newSite(t, tx, "s1"), newSite(t, tx, "s2"), newSite(t, tx, "s3")
		u, v = newUser(t, tx, "u@example.com"), newUser(t, tx, "v@example.com")
		return nil
	})
	eq(t, "UserSiteIDs before", must[[]int64](t, "UserSiteIDs")(s.UserSiteIDs(ctx, u.ID)), []int64{})

	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "SetUserSites u", tx.SetUserSites(ctx, u.ID, []int64{s3.ID, s1.ID}))
		noErr(t, "SetUserSites v", tx.SetUserSites(ctx, v.ID, []int64{s2.ID}))
		return nil
	})
	eq(t, "UserSiteIDs u", must[[]int64](t, "UserSiteIDs")(s.UserSiteIDs(ctx, u.ID)), []int64{s1.ID, s3.ID})
	eq(t, "UserSiteIDs v", must[[]int64](t, "UserSiteIDs")(s.UserSiteIDs(ctx, v.ID)), []int64{s2.ID})

	// SetUserSites replaces.
	inTx(t, s, func(tx store.Tx) error { return tx.SetUserSites(ctx, u.ID, []int64{s2.ID}) })
	eq(t, "UserSiteIDs u replaced", must[[]int64](t, "UserSiteIDs")(s.UserSiteIDs(ctx, u.ID)), []int64{s2.ID})
	inTx(t, s, func(tx store.Tx) error { return tx.SetUserSites(ctx, u.ID, nil) })
	eq(t, "UserSiteIDs u cleared", must[[]int64](t, "UserSiteIDs")(s.UserSiteIDs(ctx, u.ID)), []int64{})
	eq(t, "UserSiteIDs v untouched", must[[]int64](t, "UserSiteIDs")(s.UserSiteIDs(ctx, v.ID)), []int64{s2.ID})

	err := txErr(t, s, func(tx store.Tx) error { return tx.SetUserSites(ctx, 987654, []int64{s1.ID}) })
	wantCode(t, "SetUserSites unknown user", err, "user_not_found")
	err = txErr(t, s, func(tx store.Tx) error { return tx.SetUserSites(ctx, u.ID, []int64{s1.ID, 987654}) })
	wantCode(t, "SetUserSites unknown site", err, "site_not_found")
}

func testAuthSessions(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var u, v model.User
	inTx(t, s, func(tx store.Tx) error {
		u, v = newUser(t, tx, "u@example.com"), newUser(t, tx, "v@example.com")
		return nil
	})
	h := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	valid := model.AuthSession{TokenHash: h(1), UserID: u.ID, CSRFToken: "csrf-1", CreatedAt: t0, ExpiresAt: at(time.Hour)}
	expired := model.AuthSession{TokenHash: h(2), UserID: u.ID, CSRFToken: "csrf-2", CreatedAt: at(-2 * time.Hour),
		ExpiresAt: at(-time.Hour)}
	others := model.AuthSession{TokenHash: h(3), UserID: v.ID, CSRFToken: "csrf-3", CreatedAt: t0, ExpiresAt: at(time.Hour)}
	inTx(t, s, func(tx store.Tx) error {
		for _, a := range []model.AuthSession{valid, expired, others} {
			noErr(t, "CreateAuthSession", tx.CreateAuthSession(ctx, a))
		}
		return nil
	})
	eq(t, "GetAuthSession", must[model.AuthSession](t, "GetAuthSession")(s.GetAuthSession(ctx, h(1))), valid)
	// Expired sessions are returned too.
	eq(t, "GetAuthSession expired", must[model.AuthSession](t, "GetAuthSession")(s.GetAuthSession(ctx, h(2))), expired)
	_, err := s.GetAuthSession(ctx, h(9))
	wantCode(t, "GetAuthSession unknown", err, "auth_session_not_found")

	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "DeleteAuthSession", tx.DeleteAuthSession(ctx, h(1)))
		noErr(t, "DeleteAuthSession absent", tx.DeleteAuthSession(ctx, h(9)))
		return nil
	})
	_, err = s.GetAuthSession(ctx, h(1))
	wantCode(t, "GetAuthSession deleted", err, "auth_session_not_found")
	must[model.AuthSession](t, "GetAuthSession kept")(s.GetAuthSession(ctx, h(2)))

	// DeleteExpiredAuthSessions removes only the expired ones.
	var purged int64
	inTx(t, s, func(tx store.Tx) error {
		var err error
		purged, err = tx.DeleteExpiredAuthSessions(ctx, t0)
		return err
	})
	eq(t, "DeleteExpiredAuthSessions count", purged, int64(1))
	_, err = s.GetAuthSession(ctx, h(2))
	wantCode(t, "GetAuthSession purged", err, "auth_session_not_found")
	must[model.AuthSession](t, "GetAuthSession unexpired kept")(s.GetAuthSession(ctx, h(3)))
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateAuthSession", tx.CreateAuthSession(ctx, expired))
		return nil
	})

	// DeleteUserAuthSessions removes every session of that user only.
	inTx(t, s, func(tx store.Tx) error {
		noErr(t, "CreateAuthSession", tx.CreateAuthSession(ctx, valid))
		return tx.DeleteUserAuthSessions(ctx, u.ID)
	})
	for _, b := range []byte{1, 2} {
		_, err = s.GetAuthSession(ctx, h(b))
		wantCode(t, "GetAuthSession after DeleteUserAuthSessions", err, "auth_session_not_found")
	}
	eq(t, "other user's session", must[model.AuthSession](t, "GetAuthSession")(s.GetAuthSession(ctx, h(3))), others)
}

func testContacts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var site model.Site
	want := model.Contact{Name: "Ada Lovelace", Email: "ada@example.com",
		Attributes: map[string]string{"plan": "pro", "company": "Analytical Engines"}, CreatedAt: at(time.Second)}
	bare := model.Contact{}
	inTx(t, s, func(tx store.Tx) error {
		site = newSite(t, tx, "site")
		want.SiteID, bare.SiteID = site.ID, site.ID
		noErr(t, "CreateContact", tx.CreateContact(ctx, &want))
		noErr(t, "CreateContact bare", tx.CreateContact(ctx, &bare))
		return nil
	})
	if want.ID <= 0 || bare.ID <= 0 {
		t.Fatalf("ids not assigned: %d %d", want.ID, bare.ID)
	}
	eq(t, "GetContact", must[model.Contact](t, "GetContact")(s.GetContact(ctx, want.ID)), want)
	bare.Attributes = map[string]string{} // nil maps read back empty, not nil
	eq(t, "GetContact bare", must[model.Contact](t, "GetContact")(s.GetContact(ctx, bare.ID)), bare)

	// UpdateContact writes name, email and both kinds of attributes.
	upd := want
	upd.Name, upd.Email, upd.Attributes = "Ada King", "countess@example.com", map[string]string{"vip": "yes"}
	upd.VisitorAttributes = map[string]string{"plan": "free", "cart.items": "3"}
	upd.CreatedAt = at(time.Hour)
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateContact(ctx, upd) })
	upd.CreatedAt = want.CreatedAt
	eq(t, "GetContact after update", must[model.Contact](t, "GetContact")(s.GetContact(ctx, want.ID)), upd)
	// Emptied visitor attributes read back as none (nil).
	upd.VisitorAttributes = map[string]string{}
	inTx(t, s, func(tx store.Tx) error { return tx.UpdateContact(ctx, upd) })
	upd.VisitorAttributes = nil
	eq(t, "GetContact visitor attributes cleared", must[model.Contact](t, "GetContact")(s.GetContact(ctx, want.ID)), upd)

	_, err := s.GetContact(ctx, 987654)
	wantCode(t, "GetContact unknown", err, "contact_not_found")
	err = txErr(t, s, func(tx store.Tx) error { return tx.UpdateContact(ctx, model.Contact{ID: 987654}) })
	wantCode(t, "UpdateContact unknown", err, "contact_not_found")
}

func testVisitorSessions(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var b base
	b = newBase(t, s)
	want := model.VisitorSession{SiteID: b.site.ID, ContactID: b.contact.ID, TokenHash: []byte("0123456789abcdef0123456789abcdef"),
		CreatedAt: at(time.Minute)}
	inTx(t, s, func(tx store.Tx) error { return tx.CreateVisitorSession(ctx, &want) })
	if want.ID <= 0 {
		t.Fatalf("id not assigned: %d", want.ID)
	}
	eq(t, "GetVisitorSessionByToken", must[model.VisitorSession](t, "GetVisitorSessionByToken")(
		s.GetVisitorSessionByToken(ctx, want.TokenHash)), want)

	inTx(t, s, func(tx store.Tx) error { return tx.RevokeVisitorSession(ctx, want.ID, at(time.Hour)) })
	want.RevokedAt = at(time.Hour)
	// Revoked sessions are still returned; the caller checks RevokedAt.
	eq(t, "GetVisitorSessionByToken revoked", must[model.VisitorSession](t, "GetVisitorSessionByToken")(
		s.GetVisitorSessionByToken(ctx, want.TokenHash)), want)

	_, err := s.GetVisitorSessionByToken(ctx, []byte("unknown"))
	wantCode(t, "GetVisitorSessionByToken unknown", err, "visitor_session_not_found")
	err = txErr(t, s, func(tx store.Tx) error { return tx.RevokeVisitorSession(ctx, 987654, t0) })
	wantCode(t, "RevokeVisitorSession unknown", err, "visitor_session_not_found")
}

// testTimes checks the time encoding: UTC, microsecond precision, zero kept
// zero.
func testTimes(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	paris := time.FixedZone("CET", 3600)
	in := time.Date(2024, 2, 29, 23, 59, 59, 123456789, paris)
	var ch model.Chat
	inTx(t, s, func(tx store.Tx) error {
		site := newSite(t, tx, "times")
		conv := newConversation(t, tx, site.ID, 0)
		ch = model.Chat{ConversationID: conv.ID, State: model.ChatWaiting, RequestedAt: in}
		return tx.CreateChat(ctx, &ch)
	})
	got := must[model.Chat](t, "GetChat")(s.GetChat(ctx, ch.ID))
	want := in.UTC().Truncate(time.Microsecond)
	if got.RequestedAt != want || got.RequestedAt.Location() != time.UTC {
		t.Errorf("RequestedAt = %v (%v), want %v in UTC", got.RequestedAt, got.RequestedAt.Location(), want)
	}
	for name, v := range map[string]time.Time{"OfferedAt": got.OfferedAt, "FirstJoinedAt": got.FirstJoinedAt,
		"FirstResponseAt": got.FirstResponseAt, "EndedAt": got.EndedAt} {
		if v != (time.Time{}) {
			t.Errorf("%s = %v, want the zero time", name, v)
		}
	}
}

// sortedCopy returns a sorted copy of ids.
func sortedCopy(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

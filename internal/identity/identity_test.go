package identity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"switchboard/internal/apperr"
	"switchboard/internal/bus"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

var t0 = time.Date(2025, 3, 4, 9, 0, 0, 0, time.UTC)

type env struct {
	st  store.Store
	bus *bus.Memory
	clk *clock.Fake
	svc *Service
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	if opts.BcryptCost == 0 {
		opts.BcryptCost = bcrypt.MinCost
	}
	st := newTestStore(t)
	t.Cleanup(func() { st.Close() })
	b := bus.NewMemory()
	t.Cleanup(func() { b.Close() })
	clk := clock.NewFake(t0)
	return &env{st: st, bus: b, clk: clk, svc: New(st, b, clk, opts)}
}

func (e *env) site(t *testing.T, key string) int64 {
	t.Helper()
	s := model.Site{Key: key, Name: "Site " + key, WidgetMode: model.ModeLive, CreatedAt: t0}
	if err := e.st.InTx(context.Background(), func(tx store.Tx) error { return tx.CreateSite(context.Background(), &s) }); err != nil {
		t.Fatalf("CreateSite: %v", err)
	}
	return s.ID
}

func (e *env) user(t *testing.T, email, pw string) model.User {
	t.Helper()
	u, err := e.svc.CreateUser(context.Background(), NewUser{Email: email, Name: "Ann Agent", Password: pw, Role: model.RoleAgent})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func wantCode(t *testing.T, err error, kind apperr.Kind, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got nil error, want %s/%s", kind, code)
	}
	e := apperr.As(err)
	if e.Kind != kind || e.Code != code {
		t.Fatalf("got %s/%s (%v), want %s/%s", e.Kind, e.Code, err, kind, code)
	}
}

func sessionGone(t *testing.T, st store.Store, token string) bool {
	t.Helper()
	_, err := st.GetAuthSession(context.Background(), HashToken(token))
	if err != nil && !apperr.IsNotFound(err) {
		t.Fatalf("GetAuthSession: %v", err)
	}
	return apperr.IsNotFound(err)
}

// revocations subscribes to user_revoked events: it receives their UserID,
// and -1 for a "marker" event (see noMoreRevocations).
func revocations(t *testing.T, b bus.Bus) <-chan int64 {
	t.Helper()
	ch := make(chan int64, 16)
	cancel, err := b.Subscribe(func(e bus.Event) {
		switch e.Type {
		case bus.TypeUserRevoked:
			ch <- e.UserID
		case "marker":
			ch <- -1
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	return ch
}

func wantRevoked(t *testing.T, ch <-chan int64, id int64) {
	t.Helper()
	select {
	case got := <-ch:
		if got != id {
			t.Fatalf("user_revoked for %d, want %d", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no user_revoked event for user %d", id)
	}
}

// noMoreRevocations checks that nothing was published since the last
// wantRevoked: events arrive in order, so a marker published now must be
// the next thing the subscription sees.
func noMoreRevocations(t *testing.T, b bus.Bus, ch <-chan int64) {
	t.Helper()
	if err := b.Publish(context.Background(), bus.Event{Type: "marker"}); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, ch, -1)
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		tok, h := NewToken()
		if len(tok) != TokenLen {
			t.Fatalf("token %q has length %d", tok, len(tok))
		}
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q: %v, %d bytes", tok, err, len(raw))
		}
		sum := sha256.Sum256([]byte(tok))
		if !bytes.Equal(h, sum[:]) || !bytes.Equal(HashToken(tok), h) {
			t.Fatal("hash is not SHA-256 of the token string")
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
}

func TestPasswordRules(t *testing.T) {
	for _, tc := range []struct {
		pw   string
		code string
	}{
		{"", "password_too_short"},
		{"1234567", "password_too_short"},
		{"ééééééé", "password_too_short"}, // 7 characters, 14 bytes
		{"12345678", ""},
		{"éééééééé", ""},
		{strings.Repeat("a", 72), ""},
		{strings.Repeat("a", 73), "password_too_long"},
		{strings.Repeat("é", 37), "password_too_long"}, // 74 bytes
	} {
		h, err := HashPassword(tc.pw, bcrypt.MinCost)
		if tc.code != "" {
			wantCode(t, err, apperr.KindInvalid, tc.code)
			continue
		}
		if err != nil {
			t.Fatalf("HashPassword(%q): %v", tc.pw, err)
		}
		if !CheckPassword(h, tc.pw) || CheckPassword(h, tc.pw+"x") || CheckPassword("garbage", tc.pw) {
			t.Fatalf("CheckPassword wrong for %q", tc.pw)
		}
	}
}

func TestLogin(t *testing.T) {
	e := newEnv(t, Options{SessionTTL: time.Hour})
	ctx := context.Background()
	u := e.user(t, "Ann@Example.com", "correct horse")
	if u.Email != "ann@example.com" || u.Availability != model.Offline || u.Capacity != DefaultCapacity {
		t.Fatalf("created user %+v", u)
	}

	tok, sess, got, err := e.svc.Login(ctx, "  ANN@example.COM ", "correct horse", "192.0.2.1")
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if got.ID != u.ID || sess.UserID != u.ID || len(tok) != TokenLen || len(sess.CSRFToken) != TokenLen {
		t.Fatalf("Login returned %q %+v %+v", tok, sess, got)
	}
	if !bytes.Equal(sess.TokenHash, HashToken(tok)) || sess.CSRFToken == tok {
		t.Fatal("session hash/CSRF token wrong")
	}
	if !sess.CreatedAt.Equal(t0) || !sess.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("session times %v %v", sess.CreatedAt, sess.ExpiresAt)
	}

	au, as, err := e.svc.Authenticate(ctx, tok)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if au.ID != u.ID || as.CSRFToken != sess.CSRFToken {
		t.Fatalf("Authenticate returned %+v %+v", au, as)
	}

	// Failures all look the same.
	_, _, _, err = e.svc.Login(ctx, "ann@example.com", "wrong password", "192.0.2.1")
	wantCode(t, err, apperr.KindUnauthenticated, "invalid_credentials")
	_, _, _, err = e.svc.Login(ctx, "nobody@example.com", "correct horse", "192.0.2.1")
	wantCode(t, err, apperr.KindUnauthenticated, "invalid_credentials")
	disabled := true
	if _, err := e.svc.UpdateUser(ctx, u.ID, UserPatch{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	_, _, _, err = e.svc.Login(ctx, "ann@example.com", "correct horse", "192.0.2.1")
	wantCode(t, err, apperr.KindUnauthenticated, "invalid_credentials")
	if apperr.As(err).Message != "email or password is incorrect" {
		t.Fatalf("message %q", apperr.As(err).Message)
	}
}

func TestDummyHashHasServiceCost(t *testing.T) {
	e := newEnv(t, Options{BcryptCost: bcrypt.MinCost + 1})
	c, err := bcrypt.Cost([]byte(e.svc.dummy()))
	if err != nil || c != bcrypt.MinCost+1 {
		t.Fatalf("dummy hash cost %d, %v", c, err)
	}
}

func TestAuthenticateRejects(t *testing.T) {
	e := newEnv(t, Options{SessionTTL: time.Hour})
	ctx := context.Background()
	e.user(t, "a@example.com", "password1")
	tok, _, _, err := e.svc.Login(ctx, "a@example.com", "password1", "ip")
	if err != nil {
		t.Fatal(err)
	}
	unknown, _ := NewToken()
	for _, bad := range []string{"", "short", unknown, tok + "x", strings.Repeat("a", 10000)} {
		_, _, err := e.svc.Authenticate(ctx, bad)
		wantCode(t, err, apperr.KindUnauthenticated, "unauthenticated")
	}

	// Expiry, driven by the fake clock.
	e.clk.Advance(time.Hour - time.Microsecond)
	if _, _, err := e.svc.Authenticate(ctx, tok); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	e.clk.Advance(time.Microsecond)
	_, _, err = e.svc.Authenticate(ctx, tok)
	wantCode(t, err, apperr.KindUnauthenticated, "unauthenticated")
	if !sessionGone(t, e.st, tok) {
		t.Fatal("expired session was not deleted")
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	e.user(t, "a@example.com", "password1")
	tok, _, _, err := e.svc.Login(ctx, "a@example.com", "password1", "ip")
	if err != nil {
		t.Fatal(err)
	}
	tok2, _, _, err := e.svc.Login(ctx, "a@example.com", "password1", "ip")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Logout(ctx, tok); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.Authenticate(ctx, tok)
	wantCode(t, err, apperr.KindUnauthenticated, "unauthenticated")
	if _, _, err := e.svc.Authenticate(ctx, tok2); err != nil {
		t.Fatalf("other session affected: %v", err)
	}
	for _, tk := range []string{tok, "", "nonsense"} {
		if err := e.svc.Logout(ctx, tk); err != nil {
			t.Fatalf("Logout(%q) not idempotent: %v", tk, err)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, Options{LoginEvery: time.Minute, LoginBurst: 3})
	ctx := context.Background()
	e.user(t, "a@example.com", "password1")
	e.user(t, "b@example.com", "password2")

	// Per IP: three attempts from one IP, whatever the email, then limited,
	// even with the right password.
	for i := 0; i < 3; i++ {
		_, _, _, err := e.svc.Login(ctx, fmt.Sprintf("x%d@example.com", i), "whatever1", "10.0.0.1")
		wantCode(t, err, apperr.KindUnauthenticated, "invalid_credentials")
	}
	_, _, _, err := e.svc.Login(ctx, "a@example.com", "password1", "10.0.0.1")
	wantCode(t, err, apperr.KindRateLimited, "rate_limited")
	// Another IP is not affected.
	if _, _, _, err := e.svc.Login(ctx, "a@example.com", "password1", "10.0.0.2"); err != nil {
		t.Fatalf("other IP: %v", err)
	}
	// Advancing the clock refills the bucket.
	e.clk.Advance(time.Minute)
	if _, _, _, err := e.svc.Login(ctx, "b@example.com", "password2", "10.0.0.1"); err != nil {
		t.Fatalf("after refill: %v", err)
	}

	// Per email, case-insensitively: attempts from many IPs. (a@ is full
	// again: it used one attempt a minute ago.)
	for i := 0; i < 3; i++ {
		_, _, _, err := e.svc.Login(ctx, "A@EXAMPLE.COM", "bad password", fmt.Sprintf("10.1.0.%d", i))
		wantCode(t, err, apperr.KindUnauthenticated, "invalid_credentials")
	}
	_, _, _, err = e.svc.Login(ctx, "a@example.com", "password1", "10.2.0.1")
	wantCode(t, err, apperr.KindRateLimited, "rate_limited")
	e.clk.Advance(time.Minute)
	if _, _, _, err := e.svc.Login(ctx, "a@example.com", "password1", "10.2.0.1"); err != nil {
		t.Fatalf("email after refill: %v", err)
	}
}

func TestDisableRevokes(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	revoked := revocations(t, e.bus)
	u := e.user(t, "a@example.com", "password1")
	other := e.user(t, "b@example.com", "password2")
	tok1, _, _, _ := e.svc.Login(ctx, "a@example.com", "password1", "ip")
	tok2, _, _, _ := e.svc.Login(ctx, "a@example.com", "password1", "ip")
	tokOther, _, _, _ := e.svc.Login(ctx, "b@example.com", "password2", "ip")

	// Go online first, so that disabling has something to turn off.
	err := e.st.InTx(ctx, func(tx store.Tx) error {
		cur, err := tx.GetUser(ctx, u.ID)
		if err != nil {
			return err
		}
		cur.Availability = model.Available
		return tx.UpdateUser(ctx, cur)
	})
	if err != nil {
		t.Fatal(err)
	}

	yes := true
	got, err := e.svc.UpdateUser(ctx, u.ID, UserPatch{Disabled: &yes})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Disabled || got.Availability != model.Offline {
		t.Fatalf("after disable: %+v", got)
	}
	stored, _ := e.st.GetUser(ctx, u.ID)
	if !stored.Disabled || stored.Availability != model.Offline {
		t.Fatalf("stored after disable: %+v", stored)
	}
	wantRevoked(t, revoked, u.ID)
	if !sessionGone(t, e.st, tok1) || !sessionGone(t, e.st, tok2) {
		t.Fatal("sessions survived disable")
	}
	if sessionGone(t, e.st, tokOther) {
		t.Fatal("another user's session was deleted")
	}
	if _, _, err := e.svc.Authenticate(ctx, tokOther); err != nil {
		t.Fatal(err)
	}

	// Disabling again, or changing the name, revokes nothing more.
	name := "New Name"
	if _, err := e.svc.UpdateUser(ctx, u.ID, UserPatch{Disabled: &yes, Name: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateUser(ctx, other.ID, UserPatch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	noMoreRevocations(t, e.bus, revoked)

	// Re-enabling lets them log in again.
	no := false
	if _, err := e.svc.UpdateUser(ctx, u.ID, UserPatch{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := e.svc.Login(ctx, "a@example.com", "password1", "ip"); err != nil {
		t.Fatalf("login after re-enable: %v", err)
	}
}

func TestAuthenticateDisabledUser(t *testing.T) {
	// A session that somehow survives (written before a disable that did not
	// go through UpdateUser) is still refused.
	e := newEnv(t, Options{})
	ctx := context.Background()
	u := e.user(t, "a@example.com", "password1")
	tok, _, _, _ := e.svc.Login(ctx, "a@example.com", "password1", "ip")
	err := e.st.InTx(ctx, func(tx store.Tx) error {
		cur, _ := tx.GetUser(ctx, u.ID)
		cur.Disabled = true
		return tx.UpdateUser(ctx, cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.Authenticate(ctx, tok)
	wantCode(t, err, apperr.KindUnauthenticated, "unauthenticated")
}

func TestPasswordChangeRevokes(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	revoked := revocations(t, e.bus)
	u := e.user(t, "a@example.com", "password1")
	tok, _, _, _ := e.svc.Login(ctx, "a@example.com", "password1", "ip")

	short := "short"
	_, err := e.svc.UpdateUser(ctx, u.ID, UserPatch{Password: &short})
	wantCode(t, err, apperr.KindInvalid, "password_too_short")
	if sessionGone(t, e.st, tok) {
		t.Fatal("a refused change revoked sessions")
	}

	pw := "new password"
	if _, err := e.svc.UpdateUser(ctx, u.ID, UserPatch{Password: &pw}); err != nil {
		t.Fatal(err)
	}
	wantRevoked(t, revoked, u.ID)
	if !sessionGone(t, e.st, tok) {
		t.Fatal("session survived password change")
	}
	_, _, _, err = e.svc.Login(ctx, "a@example.com", "password1", "ip")
	wantCode(t, err, apperr.KindUnauthenticated, "invalid_credentials")
	if _, _, _, err := e.svc.Login(ctx, "a@example.com", "new password", "ip"); err != nil {
		t.Fatalf("login with new password: %v", err)
	}
}

func TestCreateUserValidation(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	site := e.site(t, "s1")
	ok := NewUser{Email: "ok@example.com", Name: "Ok", Password: "password1", Role: model.RoleAgent}
	with := func(f func(*NewUser)) NewUser { n := ok; f(&n); return n }

	for _, tc := range []struct {
		name string
		in   NewUser
		kind apperr.Kind
		code string
	}{
		{"empty email", with(func(n *NewUser) { n.Email = "" }), apperr.KindInvalid, "invalid_email"},
		{"no at", with(func(n *NewUser) { n.Email = "example.com" }), apperr.KindInvalid, "invalid_email"},
		{"display name", with(func(n *NewUser) { n.Email = "Bob <bob@example.com>" }), apperr.KindInvalid, "invalid_email"},
		{"angle brackets", with(func(n *NewUser) { n.Email = "<bob@example.com>" }), apperr.KindInvalid, "invalid_email"},
		{"two addresses", with(func(n *NewUser) { n.Email = "a@example.com, b@example.com" }), apperr.KindInvalid, "invalid_email"},
		{"newline", with(func(n *NewUser) { n.Email = "a@example.com\nBcc: x@y.z" }), apperr.KindInvalid, "invalid_email"},
		{"too long", with(func(n *NewUser) { n.Email = strings.Repeat("a", 250) + "@example.com" }), apperr.KindInvalid, "invalid_email"},
		{"empty name", with(func(n *NewUser) { n.Name = "   " }), apperr.KindInvalid, "invalid_name"},
		{"long name", with(func(n *NewUser) { n.Name = strings.Repeat("é", 201) }), apperr.KindInvalid, "invalid_name"},
		{"control in name", with(func(n *NewUser) { n.Name = "a\x00b" }), apperr.KindInvalid, "invalid_name"},
		{"bad utf8 name", with(func(n *NewUser) { n.Name = "a\xffb" }), apperr.KindInvalid, "invalid_name"},
		{"role", with(func(n *NewUser) { n.Role = "root" }), apperr.KindInvalid, "invalid_role"},
		{"empty role", with(func(n *NewUser) { n.Role = "" }), apperr.KindInvalid, "invalid_role"},
		{"capacity low", with(func(n *NewUser) { n.Capacity = -1 }), apperr.KindInvalid, "invalid_capacity"},
		{"capacity high", with(func(n *NewUser) { n.Capacity = 101 }), apperr.KindInvalid, "invalid_capacity"},
		{"short password", with(func(n *NewUser) { n.Password = "1234567" }), apperr.KindInvalid, "password_too_short"},
		{"long password", with(func(n *NewUser) { n.Password = strings.Repeat("x", 73) }), apperr.KindInvalid, "password_too_long"},
		{"unknown site", with(func(n *NewUser) { n.SiteIDs = []int64{site, site + 1000} }), apperr.KindNotFound, "site_not_found"},
		{"zero site", with(func(n *NewUser) { n.SiteIDs = []int64{0} }), apperr.KindNotFound, "site_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateUser(ctx, tc.in)
			wantCode(t, err, tc.kind, tc.code)
		})
	}
	if has, err := e.svc.HasUsers(ctx); err != nil || has {
		t.Fatalf("HasUsers after only failures = %v, %v", has, err)
	}

	u, err := e.svc.CreateUser(ctx, with(func(n *NewUser) {
		n.Name = "  " + strings.Repeat("é", 200) + " "
		n.Capacity = 100
		n.Role = model.RoleAdmin
		n.SiteIDs = []int64{site, site}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if u.ID == 0 || u.Name != strings.Repeat("é", 200) || u.Capacity != 100 || u.Role != model.RoleAdmin || u.Disabled {
		t.Fatalf("created %+v", u)
	}
	if !CheckPassword(u.PasswordHash, "password1") {
		t.Fatal("password hash does not match")
	}
	if ids, err := e.st.UserSiteIDs(ctx, u.ID); err != nil || len(ids) != 1 || ids[0] != site {
		t.Fatalf("UserSiteIDs = %v, %v", ids, err)
	}
	stored, err := e.st.GetUser(ctx, u.ID)
	if err != nil || stored.Email != u.Email || stored.Name != u.Name || stored.Availability != model.Offline {
		t.Fatalf("stored %+v, %v", stored, err)
	}
	if has, err := e.svc.HasUsers(ctx); err != nil || !has {
		t.Fatalf("HasUsers = %v, %v", has, err)
	}

	_, err = e.svc.CreateUser(ctx, with(func(n *NewUser) { n.Email = "OK@Example.COM" }))
	wantCode(t, err, apperr.KindConflict, "email_taken")
}

func TestUpdateUser(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	s1, s2 := e.site(t, "s1"), e.site(t, "s2")
	u := e.user(t, "a@example.com", "password1")

	_, err := e.svc.UpdateUser(ctx, u.ID+1000, UserPatch{})
	wantCode(t, err, apperr.KindNotFound, "user_not_found")

	bad := func(p UserPatch, kind apperr.Kind, code string) {
		t.Helper()
		_, err := e.svc.UpdateUser(ctx, u.ID, p)
		wantCode(t, err, kind, code)
	}
	empty, role, zero, long := "", model.Role("boss"), 0, strings.Repeat("p", 73)
	bad(UserPatch{Name: &empty}, apperr.KindInvalid, "invalid_name")
	bad(UserPatch{Role: &role}, apperr.KindInvalid, "invalid_role")
	bad(UserPatch{Capacity: &zero}, apperr.KindInvalid, "invalid_capacity")
	bad(UserPatch{Password: &long}, apperr.KindInvalid, "password_too_long")
	missing := []int64{s1, 9999}
	bad(UserPatch{SiteIDs: &missing}, apperr.KindNotFound, "site_not_found")

	e.clk.Advance(time.Minute)
	name, sup, capacity, sites := "Bea", model.RoleSupervisor, 7, []int64{s2, s1}
	got, err := e.svc.UpdateUser(ctx, u.ID, UserPatch{Name: &name, Role: &sup, Capacity: &capacity, SiteIDs: &sites})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Bea" || got.Role != model.RoleSupervisor || got.Capacity != 7 || got.Email != u.Email || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("updated %+v", got)
	}
	stored, _ := e.st.GetUser(ctx, u.ID)
	if stored.Name != "Bea" || stored.Role != model.RoleSupervisor || stored.Capacity != 7 {
		t.Fatalf("stored %+v", stored)
	}
	if ids, _ := e.st.UserSiteIDs(ctx, u.ID); len(ids) != 2 || ids[0] != min(s1, s2) {
		t.Fatalf("sites %v", ids)
	}
	none := []int64{}
	if _, err := e.svc.UpdateUser(ctx, u.ID, UserPatch{SiteIDs: &none}); err != nil {
		t.Fatal(err)
	}
	if ids, _ := e.st.UserSiteIDs(ctx, u.ID); len(ids) != 0 {
		t.Fatalf("sites after clearing %v", ids)
	}
}

func TestLimiter(t *testing.T) {
	clk := clock.NewFake(t0)
	l := NewLimiter(clk, time.Second, 2)
	if !l.Allow("k") || !l.Allow("k") || l.Allow("k") {
		t.Fatal("burst of 2 not enforced")
	}
	if !l.Allow("other") {
		t.Fatal("keys are not independent")
	}
	clk.Advance(time.Second)
	if !l.Allow("k") || l.Allow("k") {
		t.Fatal("refill of one per second not honoured")
	}
}

func TestLimiterIdleEviction(t *testing.T) {
	clk := clock.NewFake(t0)
	l := NewLimiter(clk, time.Second, 3) // full again 3 s after last use
	for i := 0; i < 1000; i++ {
		l.Allow(fmt.Sprint("k", i))
	}
	if l.Len() != 1000 {
		t.Fatalf("Len = %d", l.Len())
	}
	clk.Advance(2 * time.Second)
	l.Allow("fresh")
	if l.Len() != 1001 {
		t.Fatalf("evicted keys that were not full yet: Len = %d", l.Len())
	}
	clk.Advance(time.Second)
	l.Allow("fresh")
	if l.Len() != 1 {
		t.Fatalf("idle keys not evicted: Len = %d", l.Len())
	}
}

func TestLimiterMaxKeys(t *testing.T) {
	clk := clock.NewFake(t0)
	l := NewLimiter(clk, time.Hour, 1)
	l.maxKeys = 100
	l.Allow("hot")
	for i := 0; i < 10_000; i++ {
		l.Allow(fmt.Sprint("k", i))
		if i%10 == 0 {
			l.Allow("hot") // recently used: survives
		}
		if l.Len() > 100 {
			t.Fatalf("Len = %d > 100", l.Len())
		}
	}
	if l.Allow("hot") {
		t.Fatal("a recently used key was evicted (its bucket reset)")
	}
	// Long keys cost bounded memory and still limit.
	long := strings.Repeat("x", 1<<20)
	if !l.Allow(long) || l.Allow(long) {
		t.Fatal("long key not limited")
	}
	for _, el := range l.keys {
		if k := el.Value.(*limiterEntry).key; len(k) > maxKeyBytes {
			t.Fatalf("stored a key of %d bytes", len(k))
		}
	}
}

func TestLimiterDefaultCap(t *testing.T) {
	clk := clock.NewFake(t0)
	l := NewLimiter(clk, time.Hour, 1)
	for i := 0; i < DefaultMaxKeys+500; i++ {
		l.Allow(fmt.Sprint(i))
	}
	if l.Len() != DefaultMaxKeys {
		t.Fatalf("Len = %d, want %d", l.Len(), DefaultMaxKeys)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	clk := clock.NewFake(t0)
	l := NewLimiter(clk, time.Hour, 50)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if l.Allow("shared") {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
				l.Allow(fmt.Sprint(g, i))
			}
		}()
	}
	wg.Wait()
	if allowed != 50 {
		t.Fatalf("allowed %d, want exactly the burst of 50", allowed)
	}
}

// TestLastAdminStays: the last enabled admin cannot be demoted or disabled
// by anyone, so the server always keeps someone who can administer it.
func TestLastAdminStays(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := context.Background()
	a, err := e.svc.CreateUser(ctx, NewUser{Email: "root@example.com", Name: "Root", Password: "password1", Role: model.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	agent, yes := model.RoleAgent, true
	_, err = e.svc.UpdateUser(ctx, a.ID, UserPatch{Role: &agent})
	wantCode(t, err, apperr.KindConflict, "last_admin")
	_, err = e.svc.UpdateUser(ctx, a.ID, UserPatch{Disabled: &yes})
	wantCode(t, err, apperr.KindConflict, "last_admin")
	if u, _ := e.st.GetUser(ctx, a.ID); u.Role != model.RoleAdmin || u.Disabled {
		t.Fatalf("refused changes were stored: %+v", u)
	}
	// With a second admin, either may step down.
	b, err := e.svc.CreateUser(ctx, NewUser{Email: "two@example.com", Name: "Two", Password: "password1", Role: model.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateUser(ctx, a.ID, UserPatch{Role: &agent}); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.UpdateUser(ctx, b.ID, UserPatch{Disabled: &yes})
	wantCode(t, err, apperr.KindConflict, "last_admin")
}

package identity

import (
	"context"
	"testing"
	"time"
)

// TestPurgeExpiredSessions: expired sessions are deleted by the janitor,
// live ones stay (the clock is fake: 31 days pass without waiting).
func TestPurgeExpiredSessions(t *testing.T) {
	e := newEnv(t, Options{SessionTTL: 30 * 24 * time.Hour})
	ctx := context.Background()
	e.user(t, "old@example.com", "password-1")
	e.user(t, "new@example.com", "password-2")
	oldTok, _, _, err := e.svc.Login(ctx, "old@example.com", "password-1", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(20 * 24 * time.Hour)
	newTok, _, _, err := e.svc.Login(ctx, "new@example.com", "password-2", "10.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(11 * 24 * time.Hour) // the first session is 31 days old, the second 11
	n, err := e.svc.PurgeExpiredSessions(ctx)
	if err != nil || n != 1 {
		t.Fatalf("purged %d (%v), want 1", n, err)
	}
	if !sessionGone(t, e.st, oldTok) {
		t.Fatal("the expired session is still stored")
	}
	if _, _, err := e.svc.Authenticate(ctx, newTok); err != nil {
		t.Fatalf("the live session was purged: %v", err)
	}
}

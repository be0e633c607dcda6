package storetest

import (
	"testing"
	"time"

	"switchboard/internal/model"
	"switchboard/internal/store"
)

func testQuickReplies(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var ann, bob model.User
	var shared, mine, theirs model.QuickReply
	inTx(t, s, func(tx store.Tx) error {
		ann, bob = newUser(t, tx, "ann@example.com"), newUser(t, tx, "bob@example.com")
		shared = model.QuickReply{Shortcut: "hello", Body: "Hello! How can I help?", CreatedAt: t0, UpdatedAt: t0}
		mine = model.QuickReply{OwnerID: ann.ID, Shortcut: "hello", Body: "Hi, Ann here.", CreatedAt: t0, UpdatedAt: t0}
		theirs = model.QuickReply{OwnerID: bob.ID, Shortcut: "bye", Body: "Bye!", CreatedAt: t0, UpdatedAt: t0}
		for _, q := range []*model.QuickReply{&shared, &mine, &theirs} {
			noErr(t, "CreateQuickReply", tx.CreateQuickReply(ctx, q))
		}
		// The same shortcut twice for one owner (or twice shared) is refused,
		// and the transaction stays usable.
		dup := model.QuickReply{OwnerID: ann.ID, Shortcut: "hello", Body: "again"}
		wantCode(t, "duplicate personal shortcut", tx.CreateQuickReply(ctx, &dup), "shortcut_taken")
		dup = model.QuickReply{Shortcut: "hello", Body: "again"}
		wantCode(t, "duplicate shared shortcut", tx.CreateQuickReply(ctx, &dup), "shortcut_taken")
		ghost := model.QuickReply{OwnerID: 987654, Shortcut: "x", Body: "x"}
		wantCode(t, "unknown owner", tx.CreateQuickReply(ctx, &ghost), "user_not_found")
		return nil
	})
	// Each user sees the shared ones and their own, by shortcut, shared first.
	eq(t, "Ann's quick replies", must[[]model.QuickReply](t, "ListQuickReplies")(s.ListQuickReplies(ctx, ann.ID)), []model.QuickReply{shared, mine})
	eq(t, "Bob's quick replies", must[[]model.QuickReply](t, "ListQuickReplies")(s.ListQuickReplies(ctx, bob.ID)), []model.QuickReply{theirs, shared})
	eq(t, "GetQuickReply", must[model.QuickReply](t, "GetQuickReply")(s.GetQuickReply(ctx, mine.ID)), mine)
	_, err := s.GetQuickReply(ctx, 987654)
	wantCode(t, "GetQuickReply unknown", err, "quick_reply_not_found")

	inTx(t, s, func(tx store.Tx) error {
		// Renaming onto a shortcut the owner already has is refused.
		other := model.QuickReply{OwnerID: ann.ID, Shortcut: "thanks", Body: "Thanks!", CreatedAt: t0, UpdatedAt: t0}
		noErr(t, "CreateQuickReply", tx.CreateQuickReply(ctx, &other))
		wantCode(t, "rename onto a taken shortcut",
			tx.UpdateQuickReply(ctx, model.QuickReply{ID: other.ID, Shortcut: "hello", Body: "x"}), "shortcut_taken")
		noErr(t, "DeleteQuickReply", tx.DeleteQuickReply(ctx, other.ID))
		// An update writes shortcut, body and time, never the owner.
		mine.Shortcut, mine.Body, mine.UpdatedAt = "bye", "See you, Ann.", at(time.Minute)
		noErr(t, "UpdateQuickReply", tx.UpdateQuickReply(ctx, model.QuickReply{ID: mine.ID, OwnerID: bob.ID,
			Shortcut: mine.Shortcut, Body: mine.Body, UpdatedAt: mine.UpdatedAt}))
		wantCode(t, "UpdateQuickReply unknown", tx.UpdateQuickReply(ctx, model.QuickReply{ID: 987654, Shortcut: "z", Body: "z"}), "quick_reply_not_found")
		return nil
	})
	got := must[model.QuickReply](t, "GetQuickReply")(s.GetQuickReply(ctx, mine.ID))
	eq(t, "after update", got, mine)
	inTx(t, s, func(tx store.Tx) error {
		dup := model.QuickReply{ID: theirs.ID, Shortcut: "hello", Body: "Bye!"}
		noErr(t, "Bob may use a shortcut Ann has", tx.UpdateQuickReply(ctx, dup))
		noErr(t, "DeleteQuickReply", tx.DeleteQuickReply(ctx, shared.ID))
		wantCode(t, "DeleteQuickReply again", tx.DeleteQuickReply(ctx, shared.ID), "quick_reply_not_found")
		return nil
	})
	eq(t, "Ann's after delete", must[[]model.QuickReply](t, "ListQuickReplies")(s.ListQuickReplies(ctx, ann.ID)), []model.QuickReply{mine})
}

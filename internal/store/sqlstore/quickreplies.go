package sqlstore

import (
	"context"
	"fmt"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
)

const quickReplyCols = "id, owner_id, shortcut, body, created_at, updated_at"

func scanQuickReply(s scanner) (model.QuickReply, error) {
	var v model.QuickReply
	err := s.Scan(&v.ID, idCol{&v.OwnerID}, &v.Shortcut, &v.Body, timeCol{&v.CreatedAt}, timeCol{&v.UpdatedAt})
	return v, err
}

func (r *reader) ListQuickReplies(ctx context.Context, userID int64) ([]model.QuickReply, error) {
	v, err := collect(ctx, r.q, scanQuickReply, "SELECT "+quickReplyCols+
		" FROM quick_replies WHERE owner_id IS NULL OR owner_id = ? ORDER BY shortcut, COALESCE(owner_id, 0), id", userID)
	if err != nil {
		return nil, fmt.Errorf("list quick replies: %w", err)
	}
	return v, nil
}

func (r *reader) GetQuickReply(ctx context.Context, id int64) (model.QuickReply, error) {
	return one(ctx, r.q, "quick_reply", scanQuickReply, "SELECT "+quickReplyCols+" FROM quick_replies WHERE id = ?"+r.lock, id)
}

// shortcutTaken checks the unique (owner, shortcut) before writing, so that
// an expected refusal never leaves a failed statement in a PostgreSQL
// transaction; a race between two nodes still ends in the unique index.
func (t *txImpl) shortcutTaken(ctx context.Context, q model.QuickReply) error {
	taken, err := exists(ctx, t.q, "SELECT 1 FROM quick_replies WHERE COALESCE(owner_id, 0) = ? AND shortcut = ? AND id <> ?",
		q.OwnerID, q.Shortcut, q.ID)
	if err != nil {
		return fmt.Errorf("check shortcut: %w", err)
	}
	if taken {
		return apperr.Conflict("shortcut_taken", "a quick reply with this shortcut already exists")
	}
	return nil
}

func (t *txImpl) CreateQuickReply(ctx context.Context, q *model.QuickReply) error {
	if q.OwnerID != 0 {
		if err := mustExist(ctx, t.q, "users", "user", q.OwnerID); err != nil {
			return err
		}
	}
	if err := t.shortcutTaken(ctx, *q); err != nil {
		return err
	}
	err := queryRow(ctx, t.q, "INSERT INTO quick_replies (owner_id, shortcut, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		dbID(q.OwnerID), q.Shortcut, q.Body, dbTime(q.CreatedAt), dbTime(q.UpdatedAt)).Scan(&q.ID)
	if t.d.isUnique(err) {
		return apperr.Wrap(apperr.KindConflict, "shortcut_taken", "a quick reply with this shortcut already exists", err)
	}
	if err != nil {
		return fmt.Errorf("create quick reply: %w", err)
	}
	return nil
}

func (t *txImpl) UpdateQuickReply(ctx context.Context, q model.QuickReply) error {
	cur, err := t.GetQuickReply(ctx, q.ID)
	if err != nil {
		return err
	}
	q.OwnerID = cur.OwnerID // the owner never changes
	if err := t.shortcutTaken(ctx, q); err != nil {
		return err
	}
	_, err = t.q.exec(ctx, "UPDATE quick_replies SET shortcut = ?, body = ?, updated_at = ? WHERE id = ?",
		q.Shortcut, q.Body, dbTime(q.UpdatedAt), q.ID)
	if t.d.isUnique(err) {
		return apperr.Wrap(apperr.KindConflict, "shortcut_taken", "a quick reply with this shortcut already exists", err)
	}
	if err != nil {
		return fmt.Errorf("update quick reply: %w", err)
	}
	return nil
}

func (t *txImpl) DeleteQuickReply(ctx context.Context, id int64) error {
	res, err := t.q.exec(ctx, "DELETE FROM quick_replies WHERE id = ?", id)
	if err == nil {
		err = affected(res, "quick_reply")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("delete quick reply: %w", err)
	}
	return err
}

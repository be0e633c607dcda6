package chat

import (
	"context"
	"strings"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// QuickReplyInput creates or changes a quick reply. Nil fields are left
// unchanged on update.
type QuickReplyInput struct {
	Shortcut *string
	Body     *string
	Shared   bool // create only: a shared reply (admins); otherwise the caller's own
}

const maxQuickReplyBody = 4000

func applyQuickReply(q *model.QuickReply, in QuickReplyInput) error {
	if in.Shortcut != nil {
		sc := strings.ToLower(strings.TrimSpace(strings.TrimPrefix(*in.Shortcut, "/")))
		if sc == "" || len(sc) > 32 {
			return apperr.Invalid("invalid_shortcut", "a shortcut is 1 to 32 letters, digits, - or _")
		}
		for _, r := range sc {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return apperr.Invalid("invalid_shortcut", "a shortcut is 1 to 32 letters, digits, - or _")
			}
		}
		q.Shortcut = sc
	}
	if in.Body != nil {
		b := strings.TrimSpace(*in.Body)
		if b == "" || len(b) > maxQuickReplyBody || !utf8.ValidString(b) || strings.IndexByte(b, 0) >= 0 {
			return apperr.Invalid("invalid_body", "a quick reply is 1 to 4000 bytes of text")
		}
		q.Body = b
	}
	return nil
}

// ListQuickReplies returns the shared quick replies and the caller's own.
func (s *Service) ListQuickReplies(ctx context.Context, a Actor) ([]model.QuickReply, error) {
	if !a.IsStaff() {
		return nil, apperr.Forbidden("staff_only", "staff only")
	}
	return s.st.ListQuickReplies(ctx, a.User.ID)
}

// CreateQuickReply adds a personal quick reply, or a shared one (admins).
func (s *Service) CreateQuickReply(ctx context.Context, a Actor, in QuickReplyInput) (model.QuickReply, error) {
	if !a.IsStaff() {
		return model.QuickReply{}, apperr.Forbidden("staff_only", "staff only")
	}
	if in.Shared && a.User.Role != model.RoleAdmin {
		return model.QuickReply{}, apperr.Forbidden("admin_only", "only admins manage shared quick replies")
	}
	if in.Shortcut == nil || in.Body == nil {
		return model.QuickReply{}, apperr.Invalid("invalid_quick_reply", "shortcut and body are required")
	}
	now := s.now()
	q := model.QuickReply{CreatedAt: now, UpdatedAt: now}
	if !in.Shared {
		q.OwnerID = a.User.ID
	}
	if err := applyQuickReply(&q, in); err != nil {
		return model.QuickReply{}, err
	}
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		q.ID = 0
		return tx.CreateQuickReply(ctx, &q)
	})
	return q, err
}

// editableQuickReply loads a quick reply the actor may change: their own,
// or a shared one for admins. Others' replies do not exist for them.
func editableQuickReply(ctx context.Context, tx store.Tx, a Actor, id int64) (model.QuickReply, error) {
	q, err := tx.GetQuickReply(ctx, id)
	if err != nil {
		return model.QuickReply{}, err
	}
	switch {
	case q.OwnerID == a.User.ID:
		return q, nil
	case q.OwnerID == 0 && a.User.Role == model.RoleAdmin:
		return q, nil
	case q.OwnerID == 0:
		return model.QuickReply{}, apperr.Forbidden("admin_only", "only admins manage shared quick replies")
	}
	return model.QuickReply{}, apperr.NotFound("quick_reply")
}

// UpdateQuickReply changes a quick reply the actor may edit.
func (s *Service) UpdateQuickReply(ctx context.Context, a Actor, id int64, in QuickReplyInput) (model.QuickReply, error) {
	if !a.IsStaff() {
		return model.QuickReply{}, apperr.Forbidden("staff_only", "staff only")
	}
	var out model.QuickReply
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		q, err := editableQuickReply(ctx, tx, a, id)
		if err != nil {
			return err
		}
		if err := applyQuickReply(&q, in); err != nil {
			return err
		}
		q.UpdatedAt = s.now()
		out = q
		return tx.UpdateQuickReply(ctx, q)
	})
	return out, err
}

// DeleteQuickReply removes a quick reply the actor may edit.
func (s *Service) DeleteQuickReply(ctx context.Context, a Actor, id int64) error {
	if !a.IsStaff() {
		return apperr.Forbidden("staff_only", "staff only")
	}
	return s.st.InTx(ctx, func(tx store.Tx) error {
		if _, err := editableQuickReply(ctx, tx, a, id); err != nil {
			return err
		}
		return tx.DeleteQuickReply(ctx, id)
	})
}

package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
)

// Email: the outbox of mails to send and the Message-IDs of mails sent and
// received (migrations/*/00004_email.sql).
//
// Outbox rows are written in the caller's transaction, next to the change
// that causes the mail, so a mail is queued exactly when that change
// commits. Senders on any node lease due mails (ClaimDueMail) and record
// each attempt (MarkMailSent, MarkMailRetry) in later transactions; only the
// holder of a lease may record it. Across PostgreSQL nodes:
//   - EnqueueMail resolves a concurrent insert of the same dedupe key with
//     ON CONFLICT DO NOTHING (waiting for the other transaction, then doing
//     nothing if it committed): the duplicate is reported as
//     mail_already_queued without a failed statement, so the caller's
//     transaction goes on.
//   - ClaimDueMail locks the rows it leases with FOR NO KEY UPDATE SKIP
//     LOCKED: a node claiming at the same time skips the rows another node
//     is leasing rather than waiting for them, and a row whose lease another
//     node committed after this statement's snapshot is re-checked on the
//     committed version (READ COMMITTED), which has a live lease, and left
//     out. Two nodes therefore never hold a lease on the same mail.
//   - MarkMailSent and MarkMailRetry are conditional UPDATEs on the lease
//     holder: a sender whose lease expired and was taken over is told
//     mail_not_found and records nothing.

// maxMailError bounds OutboxMail.LastError, in bytes.
const maxMailError = 1000

// mailRefChunk is how many Message-IDs ConversationByMailRef looks up per
// statement (a References header may list many).
const mailRefChunk = 100

const outboxCols = "id, conversation_id, transport, kind, dedupe_key, from_addr, to_addr, message_id, body, state, attempts, " +
	"next_attempt_at, lease_until, lease_by, last_error, created_at, sent_at"

func scanOutboxMail(s scanner) (model.OutboxMail, error) {
	var v model.OutboxMail
	var nextAttempt int64
	err := s.Scan(&v.ID, idCol{&v.ConversationID}, &v.Transport, &v.Kind, &v.DedupeKey, &v.From, &v.To, &v.MessageID, &v.Body,
		&v.State, &v.Attempts, &nextAttempt, timeCol{&v.LeaseUntil}, &v.LeaseBy, &v.LastError, timeCol{&v.CreatedAt},
		timeCol{&v.SentAt})
	v.NextAttemptAt = fromMicros(nextAttempt)
	if v.Body == nil {
		v.Body = []byte{}
	}
	return v, err
}

// ListMail orders a conversation's mails by id, the order they were queued
// in.
func (r *reader) ListMail(ctx context.Context, conversationID int64) ([]model.OutboxMail, error) {
	v, err := collect(ctx, r.q, scanOutboxMail,
		"SELECT "+outboxCols+" FROM outbox WHERE conversation_id = ? ORDER BY id", conversationID)
	if err != nil {
		return nil, fmt.Errorf("list mail: %w", err)
	}
	return v, nil
}

// ConversationByMailRef ignores empty ids (never stored) and looks the
// others up mailRefChunk at a time, in the given order. Ids go through
// validText, as PutMailRef's do.
func (r *reader) ConversationByMailRef(ctx context.Context, messageIDs []string) (int64, error) {
	ids := make([]string, 0, len(messageIDs))
	seen := make(map[string]bool, len(messageIDs))
	for _, id := range messageIDs {
		id = validText(id)
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	type ref struct {
		messageID      string
		conversationID int64
	}
	scan := func(s scanner) (ref, error) {
		var v ref
		err := s.Scan(&v.messageID, &v.conversationID)
		return v, err
	}
	for chunk := range slices.Chunk(ids, mailRefChunk) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		refs, err := collect(ctx, r.q, scan,
			"SELECT message_id, conversation_id FROM mail_refs WHERE message_id IN ("+placeholders(len(args))+")", args...)
		if err != nil {
			return 0, fmt.Errorf("conversation by mail ref: %w", err)
		}
		if len(refs) == 0 {
			continue
		}
		found := make(map[string]int64, len(refs))
		for _, ref := range refs {
			found[ref.messageID] = ref.conversationID
		}
		for _, id := range chunk {
			if conv, ok := found[id]; ok {
				return conv, nil
			}
		}
	}
	return 0, apperr.NotFound("mail_ref")
}

// EnqueueMail also clears the lease, LastError and SentAt of m, which a
// new mail has not got. A zero NextAttemptAt is due at once. The DedupeKey
// must not be empty. conversation_not_found if ConversationID is set and
// unknown.
func (t *txImpl) EnqueueMail(ctx context.Context, m *model.OutboxMail) error {
	if m.DedupeKey == "" {
		return errors.New("enqueue mail: empty dedupe key")
	}
	if m.ConversationID != 0 {
		if err := mustExist(ctx, t.q, "conversations", "conversation", m.ConversationID); err != nil {
			return err
		}
	}
	body := m.Body
	if body == nil {
		body = []byte{}
	}
	if m.Transport == "" {
		m.Transport = "email"
	}
	var id int64
	err := queryRow(ctx, t.q,
		"INSERT INTO outbox (conversation_id, transport, kind, dedupe_key, from_addr, to_addr, message_id, body, state, attempts, "+
			"next_attempt_at, lease_until, lease_by, last_error, created_at, sent_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, '', '', ?, NULL) "+
			"ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
		dbID(m.ConversationID), m.Transport, m.Kind, m.DedupeKey, m.From, m.To, m.MessageID, body, string(model.MailPending),
		dbTimeNotNull(m.NextAttemptAt), dbTime(m.CreatedAt)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.Conflict("mail_already_queued", "a mail with this dedupe key is already queued")
	}
	if err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	m.ID = id
	m.State = model.MailPending
	m.Attempts = 0
	m.LeaseUntil, m.LeaseBy = time.Time{}, ""
	m.LastError = ""
	m.SentAt = time.Time{}
	return nil
}

// ClaimDueMail is one statement: an UPDATE of the rows a locking SELECT
// picks with outbox_due (see the top of this file for PostgreSQL). The
// returned mails carry their new lease. A limit below 1 claims nothing.
func (t *txImpl) ClaimDueMail(ctx context.Context, transport, by string, now, until time.Time, limit int) ([]model.OutboxMail, error) {
	if by == "" {
		return nil, errors.New("claim due mail: empty lease holder")
	}
	if limit <= 0 {
		return []model.OutboxMail{}, nil
	}
	nowUs := dbTimeNotNull(now)
	v, err := collect(ctx, t.q, scanOutboxMail, claimDueMailQuery(t.d),
		dbTimeNotNull(until), by, transport, string(model.MailPending), nowUs, nowUs, limit)
	if err != nil {
		return nil, fmt.Errorf("claim due mail: %w", err)
	}
	// RETURNING has no order of its own.
	slices.SortFunc(v, func(a, b model.OutboxMail) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return v, nil
}

// claimDueMailQuery is ClaimDueMail's statement; its arguments are until,
// by, the transport, the pending state, now, now and the limit.
func claimDueMailQuery(d *dialect) string {
	return "UPDATE outbox SET lease_until = ?, lease_by = ? WHERE id IN (" + dueMailQuery + d.claimLock + ") " +
		"RETURNING " + outboxCols
}

// dueMailQuery selects the ids of the mails to claim; its arguments are the
// transport, the pending state, now, now and the limit.
const dueMailQuery = "SELECT id FROM outbox WHERE transport = ? AND state = ? AND next_attempt_at <= ? " +
	"AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT ?"

// MarkMailSent keeps the mail's NextAttemptAt and Attempts as they are.
func (t *txImpl) MarkMailSent(ctx context.Context, id int64, by string, at time.Time) error {
	if by == "" {
		return apperr.NotFound("mail")
	}
	res, err := t.q.exec(ctx,
		"UPDATE outbox SET state = ?, sent_at = ?, lease_until = NULL, lease_by = '' "+
			"WHERE id = ? AND lease_by = ? AND state = ?",
		string(model.MailSent), dbTime(at), id, by, string(model.MailPending))
	if err == nil {
		err = affected(res, "mail")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("mark mail sent: %w", err)
	}
	return err
}

// MarkMailRetry stores lastError made valid UTF-8 without NUL and cut to
// maxMailError bytes; next is stored with giveUp too.
func (t *txImpl) MarkMailRetry(ctx context.Context, id int64, by string, next time.Time, lastError string, giveUp bool) error {
	if by == "" {
		return apperr.NotFound("mail")
	}
	state := model.MailPending
	if giveUp {
		state = model.MailFailed
	}
	res, err := t.q.exec(ctx,
		"UPDATE outbox SET state = ?, attempts = attempts + 1, last_error = ?, next_attempt_at = ?, "+
			"lease_until = NULL, lease_by = '' WHERE id = ? AND lease_by = ? AND state = ?",
		string(state), cleanText(lastError, maxMailError), dbTimeNotNull(next), id, by, string(model.MailPending))
	if err == nil {
		err = affected(res, "mail")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("mark mail retry: %w", err)
	}
	return err
}

// PutMailRef keeps the first conversation a Message-ID was recorded for.
// One statement inserts the row if the conversation exists; only when it
// inserts nothing does a second one tell an unknown conversation
// (conversation_not_found) from a known reference. An empty messageID is
// refused; others go through validText. The row's created_at is the
// store's clock (housekeeping only).
func (t *txImpl) PutMailRef(ctx context.Context, messageID string, conversationID int64) error {
	if messageID == "" {
		return errors.New("put mail ref: empty message id")
	}
	res, err := t.q.exec(ctx,
		"INSERT INTO mail_refs (message_id, conversation_id, created_at) "+
			"SELECT CAST(? AS TEXT), id, CAST(? AS BIGINT) FROM conversations WHERE id = ? "+
			"ON CONFLICT (message_id) DO NOTHING",
		validText(messageID), time.Now().UnixMicro(), conversationID)
	if err != nil {
		return fmt.Errorf("put mail ref: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("put mail ref: %w", err)
	}
	if n == 0 {
		return mustExist(ctx, t.q, "conversations", "conversation", conversationID)
	}
	return nil
}

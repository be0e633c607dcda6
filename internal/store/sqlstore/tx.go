package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// txImpl is the store.Tx handed to one InTx function: its reads and writes
// run inside the batch transaction, within this function's savepoint.
type txImpl struct {
	reader
	callbacks []func()
}

var _ store.Tx = (*txImpl)(nil)

func (t *txImpl) OnCommit(f func()) {
	if f != nil {
		t.callbacks = append(t.callbacks, f)
	}
}

// affected returns thing_not_found when res changed no row.
func affected(res sql.Result, thing string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.NotFound(thing)
	}
	return nil
}

// ---- sites

func (t *txImpl) CreateSite(ctx context.Context, s *model.Site) error {
	taken, err := exists(ctx, t.q, "SELECT 1 FROM sites WHERE site_key = ?", s.Key)
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	if taken {
		return apperr.Conflict("site_key_taken", "site key is already in use")
	}
	origins, err := dbStrings(s.AllowedOrigins)
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	routing, err := dbJSON(s.Routing)
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	email, err := dbJSON(s.Email)
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	identity, err := dbJSON(s.Identity)
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	widget, bot, err := siteWidgetJSON(*s)
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	err = queryRow(ctx, t.q,
		"INSERT INTO sites (site_key, name, allowed_origins, widget_mode, routing, email, identity, widget, bot, hours, created_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
		s.Key, s.Name, origins, string(s.WidgetMode), routing, email, identity, widget, bot, dbRawJSON(s.Hours), dbTime(s.CreatedAt)).Scan(&s.ID)
	if t.d.isUnique(err) {
		return apperr.Wrap(apperr.KindConflict, "site_key_taken", "site key is already in use", err)
	}
	if err != nil {
		return fmt.Errorf("create site: %w", err)
	}
	return nil
}

// siteWidgetJSON encodes a site's widget settings and assistant answers
// (JSON columns, migration 00008).
func siteWidgetJSON(s model.Site) (widget, bot string, err error) {
	if widget, err = dbJSON(s.Widget); err != nil {
		return "", "", err
	}
	bot, err = dbJSON(s.Bot)
	return widget, bot, err
}

func (t *txImpl) UpdateSite(ctx context.Context, s model.Site) error {
	origins, err := dbStrings(s.AllowedOrigins)
	if err != nil {
		return fmt.Errorf("update site: %w", err)
	}
	routing, err := dbJSON(s.Routing)
	if err != nil {
		return fmt.Errorf("update site: %w", err)
	}
	email, err := dbJSON(s.Email)
	if err != nil {
		return fmt.Errorf("update site: %w", err)
	}
	identity, err := dbJSON(s.Identity)
	if err != nil {
		return fmt.Errorf("update site: %w", err)
	}
	widget, bot, err := siteWidgetJSON(s)
	if err != nil {
		return fmt.Errorf("update site: %w", err)
	}
	res, err := t.q.exec(ctx,
		"UPDATE sites SET name = ?, allowed_origins = ?, widget_mode = ?, routing = ?, email = ?, identity = ?, widget = ?, bot = ?, hours = ? WHERE id = ?",
		s.Name, origins, string(s.WidgetMode), routing, email, identity, widget, bot, dbRawJSON(s.Hours), s.ID)
	if err == nil {
		err = affected(res, "site")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("update site: %w", err)
	}
	return err
}

// ---- users

func (t *txImpl) emailTaken(ctx context.Context, email string, exceptID int64) error {
	taken, err := exists(ctx, t.q, "SELECT 1 FROM users WHERE email = ? AND id <> ?", email, exceptID)
	if err != nil {
		return err
	}
	if taken {
		return apperr.Conflict("email_taken", "email address is already in use")
	}
	return nil
}

// defaultMaxCapacity is a new user's MaxCapacity when none is given (the
// column's default), raised to their Capacity if that is higher, as the
// migration that added it did for existing users.
const defaultMaxCapacity = 10

// CreateUser stores every field but Load, which starts at 0. A zero
// MaxCapacity becomes max(defaultMaxCapacity, Capacity); u is updated with
// what was stored.
func (t *txImpl) CreateUser(ctx context.Context, u *model.User) error {
	email := strings.ToLower(u.Email)
	if err := t.emailTaken(ctx, email, 0); err != nil {
		if apperr.IsConflict(err) {
			return err
		}
		return fmt.Errorf("create user: %w", err)
	}
	maxCap := u.MaxCapacity
	if maxCap == 0 {
		maxCap = max(defaultMaxCapacity, u.Capacity)
	}
	err := queryRow(ctx, t.q,
		"INSERT INTO users (email, name, role, password_hash, disabled, availability, capacity, max_capacity, load, "+
			"last_offer_at, missed_offers, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?) RETURNING id",
		email, u.Name, string(u.Role), u.PasswordHash, u.Disabled, string(u.Availability), u.Capacity, maxCap,
		dbTime(u.LastOfferAt), u.MissedOffers, dbTime(u.CreatedAt), dbTime(u.UpdatedAt)).Scan(&u.ID)
	if t.d.isUnique(err) {
		return apperr.Wrap(apperr.KindConflict, "email_taken", "email address is already in use", err)
	}
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	u.Email = email
	u.MaxCapacity = maxCap
	u.Load = 0
	return nil
}

func (t *txImpl) UpdateUser(ctx context.Context, u model.User) error {
	email := strings.ToLower(u.Email)
	if err := t.emailTaken(ctx, email, u.ID); err != nil {
		if apperr.IsConflict(err) {
			return err
		}
		return fmt.Errorf("update user: %w", err)
	}
	res, err := t.q.exec(ctx,
		"UPDATE users SET email = ?, name = ?, role = ?, password_hash = ?, disabled = ?, availability = ?, "+
			"capacity = ?, max_capacity = ?, last_offer_at = ?, missed_offers = ?, updated_at = ? WHERE id = ?",
		email, u.Name, string(u.Role), u.PasswordHash, u.Disabled, string(u.Availability), u.Capacity,
		u.MaxCapacity, dbTime(u.LastOfferAt), u.MissedOffers, dbTime(u.UpdatedAt), u.ID)
	if t.d.isUnique(err) {
		return apperr.Wrap(apperr.KindConflict, "email_taken", "email address is already in use", err)
	}
	if err == nil {
		err = affected(res, "user")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("update user: %w", err)
	}
	return err
}

func (t *txImpl) SetUserAvatar(ctx context.Context, userID int64, key string, at time.Time) error {
	res, err := t.q.exec(ctx, "UPDATE users SET avatar_key = ?, updated_at = ? WHERE id = ?", key, dbTime(at), userID)
	if err == nil {
		err = affected(res, "user")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("set user avatar: %w", err)
	}
	return err
}

func (t *txImpl) SetUserSites(ctx context.Context, userID int64, siteIDs []int64) error {
	if err := mustExistLock(ctx, t.q, "users", "user", userID, t.lock); err != nil {
		return err
	}
	ids := slices.Clone(siteIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	if len(ids) > 0 {
		var n int
		err := queryRow(ctx, t.q, "SELECT COUNT(*) FROM sites WHERE id IN ("+placeholders(len(ids))+")", args...).Scan(&n)
		if err != nil {
			return fmt.Errorf("set user sites: %w", err)
		}
		if n != len(ids) {
			return apperr.NotFound("site")
		}
	}
	if _, err := t.q.exec(ctx, "DELETE FROM user_sites WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("set user sites: %w", err)
	}
	if err := insertChildren(ctx, t.q, "user_sites (user_id, site_id)", userID, ids); err != nil {
		return fmt.Errorf("set user sites: %w", err)
	}
	return nil
}

// insertChildren inserts (parent, child) rows into table — given with its
// two columns, e.g. "conversation_tags (conversation_id, tag)" — in one
// statement; nothing for no children.
func insertChildren[T any](ctx context.Context, q queryer, table string, parent int64, children []T) error {
	if len(children) == 0 {
		return nil
	}
	values := make([]string, len(children))
	args := make([]any, 0, 2*len(children))
	for i, c := range children {
		values[i] = "(?, ?)"
		args = append(args, parent, c)
	}
	_, err := q.exec(ctx, "INSERT INTO "+table+" VALUES "+strings.Join(values, ", "), args...)
	return err
}

// ---- sessions

func (t *txImpl) CreateAuthSession(ctx context.Context, s model.AuthSession) error {
	if err := mustExist(ctx, t.q, "users", "user", s.UserID); err != nil {
		return err
	}
	_, err := t.q.exec(ctx,
		"INSERT INTO auth_sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
		s.TokenHash, s.UserID, s.CSRFToken, dbTime(s.CreatedAt), dbTime(s.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create auth session: %w", err)
	}
	return nil
}

func (t *txImpl) DeleteAuthSession(ctx context.Context, tokenHash []byte) error {
	if _, err := t.q.exec(ctx, "DELETE FROM auth_sessions WHERE token_hash = ?", tokenHash); err != nil {
		return fmt.Errorf("delete auth session: %w", err)
	}
	return nil
}

func (t *txImpl) DeleteUserAuthSessions(ctx context.Context, userID int64) error {
	if _, err := t.q.exec(ctx, "DELETE FROM auth_sessions WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("delete user auth sessions: %w", err)
	}
	return nil
}

func (t *txImpl) DeleteExpiredAuthSessions(ctx context.Context, before time.Time) (int64, error) {
	res, err := t.q.exec(ctx, "DELETE FROM auth_sessions WHERE expires_at < ?", dbTimeNotNull(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired auth sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete expired auth sessions: %w", err)
	}
	return n, nil
}

// ---- contacts and visitors

func (t *txImpl) CreateContact(ctx context.Context, c *model.Contact) error {
	if err := mustExist(ctx, t.q, "sites", "site", c.SiteID); err != nil {
		return err
	}
	attrs, err := dbStringMap(c.Attributes)
	if err != nil {
		return fmt.Errorf("create contact: %w", err)
	}
	vattrs, err := dbStringMap(c.VisitorAttributes)
	if err != nil {
		return fmt.Errorf("create contact: %w", err)
	}
	err = queryRow(ctx, t.q,
		"INSERT INTO contacts (site_id, name, email, phone, external_id, attributes, visitor_attributes, created_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
		c.SiteID, c.Name, c.Email, c.Phone, c.ExternalID, attrs, vattrs, dbTime(c.CreatedAt)).Scan(&c.ID)
	if err != nil {
		return fmt.Errorf("create contact: %w", err)
	}
	return nil
}

func (t *txImpl) UpdateContact(ctx context.Context, c model.Contact) error {
	attrs, err := dbStringMap(c.Attributes)
	if err != nil {
		return fmt.Errorf("update contact: %w", err)
	}
	vattrs, err := dbStringMap(c.VisitorAttributes)
	if err != nil {
		return fmt.Errorf("update contact: %w", err)
	}
	res, err := t.q.exec(ctx,
		"UPDATE contacts SET name = ?, email = ?, phone = ?, external_id = ?, attributes = ?, visitor_attributes = ? WHERE id = ?",
		c.Name, c.Email, c.Phone, c.ExternalID, attrs, vattrs, c.ID)
	if err == nil {
		err = affected(res, "contact")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("update contact: %w", err)
	}
	return err
}

func (t *txImpl) CreateVisitorSession(ctx context.Context, v *model.VisitorSession) error {
	if err := mustExist(ctx, t.q, "sites", "site", v.SiteID); err != nil {
		return err
	}
	if v.ContactID != 0 {
		if err := mustExist(ctx, t.q, "contacts", "contact", v.ContactID); err != nil {
			return err
		}
	}
	err := queryRow(ctx, t.q,
		"INSERT INTO visitor_sessions (site_id, contact_id, token_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		v.SiteID, dbID(v.ContactID), v.TokenHash, dbTime(v.CreatedAt), dbTime(v.RevokedAt)).Scan(&v.ID)
	if err != nil {
		return fmt.Errorf("create visitor session: %w", err)
	}
	return nil
}

// RevokeVisitorSession keeps the first revocation time when called again.
func (t *txImpl) SetVisitorSessionContact(ctx context.Context, id, contactID int64) error {
	if err := mustExist(ctx, t.q, "contacts", "contact", contactID); err != nil {
		return err
	}
	res, err := t.q.exec(ctx, "UPDATE visitor_sessions SET contact_id = ? WHERE id = ?", contactID, id)
	if err == nil {
		err = affected(res, "visitor_session")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("set visitor session contact: %w", err)
	}
	return err
}

func (t *txImpl) RevokeVisitorSession(ctx context.Context, id int64, at time.Time) error {
	res, err := t.q.exec(ctx, "UPDATE visitor_sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", dbTime(at), id)
	if err == nil {
		err = affected(res, "visitor_session")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("revoke visitor session: %w", err)
	}
	return err
}

// ---- conversations

// normTags returns tags without empty strings and duplicates, sorted, non-nil.
func normTags(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, tag := range tags {
		if tag != "" {
			out = append(out, tag)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (t *txImpl) insertTags(ctx context.Context, conversationID int64, tags []string) error {
	return insertChildren(ctx, t.q, "conversation_tags (conversation_id, tag)", conversationID, tags)
}

func (t *txImpl) CreateConversation(ctx context.Context, c *model.Conversation) error {
	if err := mustExist(ctx, t.q, "sites", "site", c.SiteID); err != nil {
		return err
	}
	if c.ContactID != 0 {
		if err := mustExist(ctx, t.q, "contacts", "contact", c.ContactID); err != nil {
			return err
		}
	}
	if c.AssigneeID != 0 {
		if err := mustExist(ctx, t.q, "users", "user", c.AssigneeID); err != nil {
			return err
		}
	}
	tags := normTags(c.Tags)
	var id int64
	err := queryRow(ctx, t.q,
		"INSERT INTO conversations (site_id, contact_id, channel, status, priority, assignee_id, department_id, "+
			"last_seq, chat_id, chat_state, preview, last_message_at, created_at, updated_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?) RETURNING id",
		c.SiteID, dbID(c.ContactID), c.Channel, string(c.Status), string(c.Priority), dbID(c.AssigneeID),
		c.DepartmentID, c.ChatID, string(c.ChatState), c.Preview, dbTime(c.LastMessageAt), dbTime(c.CreatedAt),
		dbTimeNotNull(c.UpdatedAt)).Scan(&id)
	if err != nil {
		return fmt.Errorf("create conversation: %w", err)
	}
	if err := t.insertTags(ctx, id, tags); err != nil {
		return fmt.Errorf("create conversation: tags: %w", err)
	}
	c.ID = id
	c.LastSeq = 0
	c.Tags = tags
	return nil
}

func (t *txImpl) UpdateConversation(ctx context.Context, c model.Conversation) error {
	if c.AssigneeID != 0 {
		if err := mustExist(ctx, t.q, "users", "user", c.AssigneeID); err != nil {
			return err
		}
	}
	res, err := t.q.exec(ctx,
		"UPDATE conversations SET status = ?, priority = ?, assignee_id = ?, department_id = ?, chat_id = ?, "+
			"chat_state = ?, updated_at = ? WHERE id = ?",
		string(c.Status), string(c.Priority), dbID(c.AssigneeID), c.DepartmentID, c.ChatID, string(c.ChatState),
		dbTimeNotNull(c.UpdatedAt), c.ID)
	if err == nil {
		err = affected(res, "conversation")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("update conversation: %w", err)
	}
	return err
}

func (t *txImpl) SetTags(ctx context.Context, conversationID int64, tags []string) error {
	if err := mustExistLock(ctx, t.q, "conversations", "conversation", conversationID, t.lock); err != nil {
		return err
	}
	if _, err := t.q.exec(ctx, "DELETE FROM conversation_tags WHERE conversation_id = ?", conversationID); err != nil {
		return fmt.Errorf("set tags: %w", err)
	}
	if err := t.insertTags(ctx, conversationID, normTags(tags)); err != nil {
		return fmt.Errorf("set tags: %w", err)
	}
	return nil
}

// ---- chats

func (t *txImpl) CreateChat(ctx context.Context, c *model.Chat) error {
	if err := mustExist(ctx, t.q, "conversations", "conversation", c.ConversationID); err != nil {
		return err
	}
	err := queryRow(ctx, t.q,
		"INSERT INTO chats (conversation_id, state, requested_at, offered_at, first_joined_at, first_response_at, "+
			"ended_at, ended_by, ended_by_user_id, end_reason, rating, rating_comment, rated_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
		c.ConversationID, string(c.State), dbTime(c.RequestedAt), dbTime(c.OfferedAt), dbTime(c.FirstJoinedAt),
		dbTime(c.FirstResponseAt), dbTime(c.EndedAt), string(c.EndedBy), c.EndedByUserID, string(c.EndReason),
		c.Rating, c.RatingComment, dbTime(c.RatedAt)).Scan(&c.ID)
	if err != nil {
		return fmt.Errorf("create chat: %w", err)
	}
	return nil
}

func (t *txImpl) UpdateChat(ctx context.Context, c model.Chat) error {
	res, err := t.q.exec(ctx,
		"UPDATE chats SET state = ?, requested_at = ?, offered_at = ?, first_joined_at = ?, first_response_at = ?, "+
			"ended_at = ?, ended_by = ?, ended_by_user_id = ?, end_reason = ?, rating = ?, rating_comment = ?, rated_at = ? WHERE id = ?",
		string(c.State), dbTime(c.RequestedAt), dbTime(c.OfferedAt), dbTime(c.FirstJoinedAt),
		dbTime(c.FirstResponseAt), dbTime(c.EndedAt), string(c.EndedBy), c.EndedByUserID, string(c.EndReason),
		c.Rating, c.RatingComment, dbTime(c.RatedAt), c.ID)
	if err == nil {
		err = affected(res, "chat")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("update chat: %w", err)
	}
	return err
}

// AddParticipant is idempotent for a user who is still in the chat: their
// JoinedAt is kept.
func (t *txImpl) AddParticipant(ctx context.Context, chatID, userID int64, at time.Time) error {
	if err := mustExist(ctx, t.q, "chats", "chat", chatID); err != nil {
		return err
	}
	if err := mustExist(ctx, t.q, "users", "user", userID); err != nil {
		return err
	}
	_, err := t.q.exec(ctx,
		"INSERT INTO participants (chat_id, user_id, joined_at, left_at) VALUES (?, ?, ?, NULL) "+
			"ON CONFLICT (chat_id, user_id) DO UPDATE SET joined_at = excluded.joined_at, left_at = NULL "+
			"WHERE participants.left_at IS NOT NULL",
		chatID, userID, dbTime(at))
	if err != nil {
		return fmt.Errorf("add participant: %w", err)
	}
	return nil
}

func (t *txImpl) RemoveParticipant(ctx context.Context, chatID, userID int64, at time.Time) error {
	res, err := t.q.exec(ctx,
		"UPDATE participants SET left_at = ? WHERE chat_id = ? AND user_id = ? AND left_at IS NULL",
		dbTime(at), chatID, userID)
	if err == nil {
		err = affected(res, "participant")
	}
	if err != nil && !apperr.IsNotFound(err) {
		return fmt.Errorf("remove participant: %w", err)
	}
	return err
}

// ---- messages

// AppendMessage takes the next seq with one UPDATE of the conversation row
// that also checks the message's references and refuses a client id the
// author already used, then inserts the message:
//
//	UPDATE conversations SET last_seq = last_seq + 1, ... WHERE id = ?
//	       [AND EXISTS (the chat) AND EXISTS (the attachments)]
//	       AND NOT EXISTS (the same client id)  RETURNING last_seq
//	INSERT INTO messages ... RETURNING id
//
// In PostgreSQL the UPDATE and the INSERT are one statement (the UPDATE in
// a WITH clause), one round trip; with a client id, see below. Only when
// the UPDATE changes no row are the references looked at again, to tell
// which one is missing (refusal precedence: conversation, chat,
// attachment, client id).
//
// Seq: the UPDATE's row lock serialises appends to one conversation, within
// a batch and across nodes; in PostgreSQL READ COMMITTED a writer that waited
// for the lock re-reads the committed last_seq, so seqs stay gap-free and
// unique cluster-wide. Nothing is written before every check has passed, so
// an error never leaves a seq burnt, and in PostgreSQL no expected outcome
// aborts the transaction.
//
// Idempotency across nodes: a NOT EXISTS inside the UPDATE alone would not
// see a duplicate that another node commits while this UPDATE waits for the
// row lock (the subquery keeps the statement's snapshot, taken before the
// wait), and the INSERT would then fail on the unique index, aborting the
// savepoint. So in PostgreSQL, with a client id, the statement is turned
// around (appendInsertFirst): the INSERT reads the seq under the row lock
// and its ON CONFLICT, which does not depend on the snapshot, refuses the
// duplicate; the UPDATE runs only for an inserted row. Either way the
// duplicate is reported as duplicate_client_id with the transaction
// intact, so the caller can look the first message up in the same Tx. If
// this Tx function already read the conversation with its lock
// (GetConversation), the UPDATE form is safe as it is: its snapshot is
// taken after the lock was granted, when every other transaction that
// appended to the conversation has committed. The unique index stays as
// the last line of defence. (Chats and attachments are never deleted, so
// their EXISTS need no such care.) A dialect with row locks but without
// writable WITH would lock with a SELECT first (appendRefs).
func (t *txImpl) AppendMessage(ctx context.Context, m *model.Message) error {
	return t.appendMessage(ctx, m, nil)
}

// AppendToConversation is AppendMessage with the chat id taken from the
// conversation row by the statement that takes the seq, which also returns
// the row: a visitor's send needs no read of the conversation before it.
func (t *txImpl) AppendToConversation(ctx context.Context, m *model.Message) (model.Conversation, error) {
	var c model.Conversation
	m.ChatID = 0
	if err := t.appendMessage(ctx, m, &c); err != nil {
		return model.Conversation{}, err
	}
	return c, nil
}

// convReturning is conversationCols for a RETURNING clause (no alias), and
// as columns of the WITH clauses s and u.
var (
	convReturning = strings.ReplaceAll(conversationCols, "c.", "")
	convColsOfS   = strings.ReplaceAll(conversationCols, "c.", "s.")
	convColsOfU   = strings.ReplaceAll(conversationCols, "c.", "u.")
)

// appendShape is what an append's statement depends on: the SQL text is
// built once per shape (appendSQL), not per message.
type appendShape uint8

const (
	shapeText   appendShape = 1 << iota // public text: sets last_message_at and preview
	shapeChat                           // checks the chat exists
	shapeAtt                            // checks the attachment exists
	shapeRaw                            // checks the raw attachment exists
	shapeClient                         // refuses a used client id
	shapeConv                           // returns the conversation row (AppendToConversation)
	shapeCTE                            // one statement: the UPDATE in a WITH clause (dialect.cteWrites)
	shapeCount  = 1 << iota
)

// appendSQL caches appendStatement's text per shape.
var appendSQL [shapeCount]atomic.Pointer[string]

// appendStatement returns the statement of appendMessage for a shape: the
// conversation's UPDATE alone (with RETURNING), or with shapeCTE the UPDATE
// and the INSERT in one statement. Its arguments are, in order: updated_at,
// [last_message_at, preview], the conversation id, [chat id], [attachment
// id], [raw attachment id], [the 4 of clientIDTaken]; with shapeCTE then
// the INSERT's (appendMessage).
func appendStatement(sh appendShape) string {
	if p := appendSQL[sh].Load(); p != nil {
		return *p
	}
	var b strings.Builder
	if sh&shapeCTE != 0 {
		b.WriteString("WITH s AS (")
	}
	b.WriteString("UPDATE conversations SET last_seq = last_seq + 1, updated_at = ?")
	if sh&shapeText != 0 {
		b.WriteString(", last_message_at = ?, preview = ?")
	}
	b.WriteString(" WHERE id = ?")
	if sh&shapeChat != 0 {
		b.WriteString(" AND EXISTS (SELECT 1 FROM chats WHERE id = ?)")
	}
	if sh&shapeAtt != 0 {
		b.WriteString(" AND EXISTS (SELECT 1 FROM attachments WHERE id = ?)")
	}
	if sh&shapeRaw != 0 {
		b.WriteString(" AND EXISTS (SELECT 1 FROM attachments WHERE id = ?)")
	}
	if sh&shapeClient != 0 {
		b.WriteString(" AND NOT EXISTS (" + clientIDTaken + ")")
	}
	switch {
	case sh&shapeCTE != 0 && sh&shapeConv != 0:
		// The INSERT takes seq and chat id from the UPDATE (inserting
		// nothing when it refused); the row comes back too.
		b.WriteString(" RETURNING " + convReturning + "), i AS (" + messageInsert +
			" SELECT ?, s.last_seq, NULLIF(s.chat_id, 0), " + placeholders(len(messageInsertCols)-3) +
			" FROM s RETURNING id) SELECT i.id, " + convColsOfS + " FROM s, i")
	case sh&shapeCTE != 0:
		// The INSERT takes the seq from the UPDATE, and inserts nothing
		// when the UPDATE refused.
		b.WriteString(" RETURNING last_seq) " + messageInsert + " SELECT ?, s.last_seq, " +
			placeholders(len(messageInsertCols)-2) + " FROM s RETURNING id, seq")
	case sh&shapeConv != 0:
		b.WriteString(" RETURNING " + convReturning)
	default:
		b.WriteString(" RETURNING last_seq")
	}
	q := b.String()
	appendSQL[sh].Store(&q)
	return q
}

// appendMessage is AppendMessage, or with conv AppendToConversation.
func (t *txImpl) appendMessage(ctx context.Context, m *model.Message, conv *model.Conversation) error {
	// With the row lock held since an earlier statement (the caller read
	// the conversation in this Tx, as chat.Send does), the UPDATE's
	// snapshot is already late enough: no locking SELECT.
	locked := t.lock != "" && m.ClientID != "" && !t.lockedConvs[m.ConversationID]
	if locked && t.d.cteWrites {
		return t.appendInsertFirst(ctx, m, conv)
	}
	if locked {
		// Locks the row and checks the references before the UPDATE.
		if err := t.appendRefs(ctx, m); err != nil {
			return err
		}
	}

	var sh appendShape
	args := make([]any, 0, 24)
	args = append(args, dbTimeNotNull(m.CreatedAt))
	if m.Visibility == model.Public && m.Kind == model.KindText {
		sh |= shapeText
		args = append(args, dbTime(m.CreatedAt), preview(m.Body))
	}
	args = append(args, m.ConversationID)
	if !locked {
		if m.ChatID != 0 {
			sh |= shapeChat
			args = append(args, m.ChatID)
		}
		if m.AttachmentID != 0 {
			sh |= shapeAtt
			args = append(args, m.AttachmentID)
		}
		if m.RawAttachmentID != 0 {
			sh |= shapeRaw
			args = append(args, m.RawAttachmentID)
		}
	}
	if m.ClientID != "" {
		sh |= shapeClient
		args = append(args, m.ConversationID, string(m.AuthorKind), m.AuthorID, m.ClientID)
	}
	if conv != nil {
		sh |= shapeConv
	}
	if t.d.cteWrites {
		sh |= shapeCTE
		// The INSERT's arguments: messageInsertCols but the seq (and with
		// conv the chat id), which come from the UPDATE.
		args = append(args, m.ConversationID)
		if conv == nil {
			args = append(args, dbID(m.ChatID))
		}
		args = appendMessageArgs(args, m)
	}
	var id, seq int64
	var err error
	cd := convDest{v: conv}
	switch {
	case t.d.cteWrites && conv != nil:
		err = queryRow(ctx, t.q, appendStatement(sh), args...).Scan(append([]any{&id}, cd.dest()...)...)
	case t.d.cteWrites:
		err = queryRow(ctx, t.q, appendStatement(sh), args...).Scan(&id, &seq)
	case conv != nil:
		err = queryRow(ctx, t.q, appendStatement(sh), args...).Scan(cd.dest()...)
	default:
		err = queryRow(ctx, t.q, appendStatement(sh), args...).Scan(&seq)
	}
	if err == nil && conv != nil {
		cd.done()
		seq, m.ChatID = conv.LastSeq, conv.ChatID
	}
	if errors.Is(err, sql.ErrNoRows) {
		// Refused: say why. Locked, the references were checked already.
		if !locked {
			if err := t.appendRefs(ctx, m); err != nil {
				return err
			}
		}
		if m.ClientID == "" {
			return apperr.NotFound("conversation") // unreachable: appendRefs found every row
		}
		return errDuplicateClientID(nil)
	}
	if err != nil && !t.d.cteWrites {
		return fmt.Errorf("append message: next seq: %w", err)
	}
	if !t.d.cteWrites {
		// The INSERT, reusing args: its arguments replace the UPDATE's. The
		// id is the rowid SQLite (the dialect without writable WITH) just
		// assigned: a RETURNING clause would cost a temporary table and a
		// result set, ~8 % of what an append costs SQLite.
		args = append(args[:0], m.ConversationID, seq, dbID(m.ChatID))
		var res sql.Result
		if res, err = t.q.exec(ctx, messageInsertValues, appendMessageArgs(args, m)...); err == nil {
			id, err = res.LastInsertId()
		}
	}
	switch {
	case err == nil:
	case t.d.isUnique(err) && m.ClientID != "":
		// Not reachable through this method (see above); in PostgreSQL the
		// call's savepoint is now aborted, and the writer fails the call
		// even if its function goes on.
		return errDuplicateClientID(err)
	case t.d.isForeignKey(err):
		// A chat or attachment that vanished since the check: not
		// reachable either (nothing deletes them).
		return fmt.Errorf("append message: %w", err)
	default:
		return fmt.Errorf("append message: %w", err)
	}
	m.ID = id
	m.Seq = seq
	return nil
}

// appendMessageArgs appends the arguments of messageInsertCols after
// conversation_id, seq and chat_id.
func appendMessageArgs(args []any, m *model.Message) []any {
	return append(args, string(m.AuthorKind), m.AuthorID, m.AuthorName, m.ClientID, string(m.Kind),
		string(m.Visibility), m.Body, m.Event, dbID(m.AttachmentID), dbID(m.RawAttachmentID), dbTime(m.CreatedAt))
}

// appendInsertFirst is appendMessage in one statement, for PostgreSQL when
// the message has a client id and this Tx does not hold the conversation's
// row lock yet (otherwise that would take a locking SELECT first, see
// AppendMessage). The INSERT comes first and reads the seq from the
// conversation row under its lock; the UPDATE follows only if a row was
// inserted:
//
//	WITH ins AS (INSERT INTO messages (...) SELECT c.last_seq + 1, ... FROM conversations c
//	             WHERE c.id = ? [AND EXISTS (the chat, the attachments)] FOR NO KEY UPDATE
//	             ON CONFLICT (the client id index) DO NOTHING RETURNING id, seq),
//	     u AS (UPDATE conversations SET last_seq = ins.seq, ... FROM ins WHERE id = ? RETURNING ...)
//	SELECT ... FROM ins, u
//
// Why it is right under READ COMMITTED: the locking read waits for a
// transaction that holds the row (another node appending to the same
// conversation) and then returns the row's latest version, so last_seq is
// the committed one; ON CONFLICT sees committed and in-progress rows of the
// unique index whatever the snapshot (it waits for an in-progress inserter),
// so a duplicate that committed meanwhile inserts nothing, updates nothing,
// and aborts nothing: the caller gets duplicate_client_id with the
// transaction intact. No row: a duplicate or a missing reference, told
// apart by appendRefs.
func (t *txImpl) appendInsertFirst(ctx context.Context, m *model.Message, conv *model.Conversation) error {
	var args []any
	chat := "?"
	if conv != nil {
		chat = "NULLIF(c.chat_id, 0)"
	} else {
		args = append(args, dbID(m.ChatID))
	}
	args = append(args, string(m.AuthorKind), m.AuthorID, m.AuthorName, m.ClientID, string(m.Kind), string(m.Visibility),
		m.Body, m.Event, dbID(m.AttachmentID), dbID(m.RawAttachmentID), dbTime(m.CreatedAt), m.ConversationID)
	where := "c.id = ?"
	if m.ChatID != 0 && conv == nil {
		where += " AND EXISTS (SELECT 1 FROM chats WHERE id = ?)"
		args = append(args, m.ChatID)
	}
	if m.AttachmentID != 0 {
		where += " AND EXISTS (SELECT 1 FROM attachments WHERE id = ?)"
		args = append(args, m.AttachmentID)
	}
	if m.RawAttachmentID != 0 {
		where += " AND EXISTS (SELECT 1 FROM attachments WHERE id = ?)"
		args = append(args, m.RawAttachmentID)
	}
	set := "last_seq = ins.seq, updated_at = ?"
	args = append(args, dbTimeNotNull(m.CreatedAt))
	if m.Visibility == model.Public && m.Kind == model.KindText {
		set += ", last_message_at = ?, preview = ?"
		args = append(args, dbTime(m.CreatedAt), preview(m.Body))
	}
	args = append(args, m.ConversationID)
	returning, cols := "u.id", "ins.id, ins.seq, ins.chat_id"
	if conv != nil {
		returning = convColsOfU
		cols += ", " + convColsOfU
	}
	query := "WITH ins AS (" + messageInsert + " SELECT c.id, c.last_seq + 1, " + chat + ", " + placeholders(11) +
		" FROM conversations c WHERE " + where + t.lock +
		" ON CONFLICT (conversation_id, author_kind, author_id, client_id) WHERE client_id <> '' DO NOTHING" +
		" RETURNING id, seq, chat_id), u AS (UPDATE conversations AS u SET " + set + " FROM ins WHERE u.id = ? RETURNING " +
		returning + ") SELECT " + cols + " FROM ins, u"
	var id, seq int64
	var chatID sql.NullInt64
	dest := []any{&id, &seq, &chatID}
	cd := convDest{v: conv}
	if conv != nil {
		dest = append(dest, cd.dest()...)
	}
	err := queryRow(ctx, t.q, query, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		if err := t.appendRefs(ctx, m); err != nil {
			return err
		}
		return errDuplicateClientID(nil)
	}
	if err != nil {
		return fmt.Errorf("append message: %w", err)
	}
	if conv != nil {
		cd.done()
	}
	m.ID, m.Seq, m.ChatID = id, seq, chatID.Int64
	return nil
}

// messageInsertCols are the columns AppendMessage writes: conversation_id,
// seq and chat_id, then those of appendMessageArgs.
var messageInsertCols = []string{"conversation_id", "seq", "chat_id", "author_kind", "author_id", "author_name",
	"client_id", "kind", "visibility", "body", "event", "attachment_id", "raw_attachment_id", "created_at"}

// messageInsert is the head of AppendMessage's INSERT, and
// messageInsertValues the whole statement for arguments in that order
// (SQLite's: the id is the last insert rowid).
var (
	messageInsert       = "INSERT INTO messages (" + strings.Join(messageInsertCols, ", ") + ")"
	messageInsertValues = messageInsert + " VALUES (" + placeholders(len(messageInsertCols)) + ")"
)

// appendRefs checks, in one statement, that the conversation of m exists
// (taking the dialect's row lock on it) and its chat and attachments too;
// it returns thing_not_found for the first one missing.
func (t *txImpl) appendRefs(ctx context.Context, m *model.Message) error {
	cols := []string{"1"}
	var args []any
	if m.ChatID != 0 {
		cols = append(cols, "CASE WHEN EXISTS (SELECT 1 FROM chats WHERE id = ?) THEN 1 ELSE 0 END")
		args = append(args, m.ChatID)
	}
	if m.AttachmentID != 0 {
		cols = append(cols, "CASE WHEN EXISTS (SELECT 1 FROM attachments WHERE id = ?) THEN 1 ELSE 0 END")
		args = append(args, m.AttachmentID)
	}
	if m.RawAttachmentID != 0 {
		cols = append(cols, "CASE WHEN EXISTS (SELECT 1 FROM attachments WHERE id = ?) THEN 1 ELSE 0 END")
		args = append(args, m.RawAttachmentID)
	}
	args = append(args, m.ConversationID)
	found := make([]int, len(cols))
	dest := make([]any, len(cols))
	for i := range found {
		dest[i] = &found[i]
	}
	err := queryRow(ctx, t.q, "SELECT "+strings.Join(cols, ", ")+" FROM conversations WHERE id = ?"+t.lock,
		args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return apperr.NotFound("conversation")
	}
	if err != nil {
		return fmt.Errorf("append message: check references: %w", err)
	}
	i := 1
	if m.ChatID != 0 {
		if found[i] == 0 {
			return apperr.NotFound("chat")
		}
		i++
	}
	if m.AttachmentID != 0 {
		if found[i] == 0 {
			return apperr.NotFound("attachment")
		}
		i++
	}
	if m.RawAttachmentID != 0 && found[i] == 0 {
		return apperr.NotFound("attachment")
	}
	return nil
}

// clientIDTaken finds an author's earlier message with the same client id,
// for AppendMessage. Its arguments are conversation id, author kind, author
// id and client id. Repeating the partial unique index's condition lets
// SQLite use the index.
const clientIDTaken = "SELECT 1 FROM messages WHERE conversation_id = ? AND author_kind = ? AND author_id = ? " +
	"AND client_id = ? AND client_id <> ''"

func errDuplicateClientID(cause error) error {
	return apperr.Wrap(apperr.KindConflict, "duplicate_client_id", "a message with this client id was already sent", cause)
}

func (t *txImpl) CreateAttachment(ctx context.Context, a *model.Attachment) error {
	if err := mustExist(ctx, t.q, "conversations", "conversation", a.ConversationID); err != nil {
		return err
	}
	err := queryRow(ctx, t.q,
		"INSERT INTO attachments (conversation_id, uploader_kind, uploader_id, name, content_type, size, blob_key, created_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
		a.ConversationID, string(a.UploaderKind), a.UploaderID, a.Name, a.ContentType, a.Size, a.BlobKey,
		dbTime(a.CreatedAt)).Scan(&a.ID)
	if err != nil {
		return fmt.Errorf("create attachment: %w", err)
	}
	return nil
}

func (t *txImpl) SetReadMark(ctx context.Context, m model.ReadMark) error {
	if err := mustExist(ctx, t.q, "conversations", "conversation", m.ConversationID); err != nil {
		return err
	}
	_, err := t.q.exec(ctx,
		"INSERT INTO read_marks (conversation_id, reader_kind, reader_id, seq, at) VALUES (?, ?, ?, ?, ?) "+
			"ON CONFLICT (conversation_id, reader_kind, reader_id) DO UPDATE SET seq = excluded.seq, at = excluded.at "+
			"WHERE excluded.seq > read_marks.seq",
		m.ConversationID, string(m.ReaderKind), m.ReaderID, m.Seq, dbTime(m.At))
	if err != nil {
		return fmt.Errorf("set read mark: %w", err)
	}
	return nil
}

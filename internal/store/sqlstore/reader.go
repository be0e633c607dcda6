package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// reader implements store.Reader on a queryer: the reader pool for Store,
// the batch transaction for Tx.
type reader struct {
	d *dialect
	q queryer
	// snapshot runs f with a queryer that sees one consistent state of the
	// database across several statements (a read transaction on the pool;
	// the write transaction itself inside a Tx).
	snapshot func(ctx context.Context, f func(q queryer) error) error
	// lock is appended to the single-row reads of the rows that callers
	// read in order to change them (users, conversations, chats, queue
	// entries): the dialect's rowLock inside a Tx, empty on the pool. In
	// PostgreSQL this makes a Tx's read-modify-write (read a chat, check its
	// state, update it) as safe across nodes as it is under SQLite's single
	// writer: a second node's Tx waits at its read until the first one
	// commits, then reads the committed row (DESIGN.md §2.5).
	lock string
	// lockedConvs are the conversations whose rows this Tx function has
	// read with lock (GetConversation), hence holds locked until the batch
	// commits: AppendMessage need not lock them again.
	lockedConvs map[int64]bool
}

var _ store.Reader = (*reader)(nil)

// one scans a single row, mapping "no rows" to thing_not_found.
func one[T any](ctx context.Context, q queryer, thing string, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(queryRow(ctx, q, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, apperr.NotFound(thing)
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("get %s: %w", thing, err)
	}
	return v, nil
}

// exists reports whether query returns a row.
func exists(ctx context.Context, q queryer, query string, args ...any) (bool, error) {
	var one int
	err := queryRow(ctx, q, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// mustExist returns thing_not_found unless a row of table has this id.
func mustExist(ctx context.Context, q queryer, table, thing string, id int64) error {
	return mustExistLock(ctx, q, table, thing, id, "")
}

// mustExistLock is mustExist that also takes lock (a dialect's rowLock) on
// the row, for a write that replaces rows hanging off it (tags, sites of a
// user), so that two nodes doing it concurrently serialise.
func mustExistLock(ctx context.Context, q queryer, table, thing string, id int64, lock string) error {
	ok, err := exists(ctx, q, "SELECT 1 FROM "+table+" WHERE id = ?"+lock, id)
	if err != nil {
		return fmt.Errorf("check %s: %w", thing, err)
	}
	if !ok {
		return apperr.NotFound(thing)
	}
	return nil
}

// ---- sites

const siteCols = "id, site_key, name, allowed_origins, widget_mode, routing, email, identity, widget, bot, hours, created_at"

func scanSite(s scanner) (model.Site, error) {
	var v model.Site
	err := s.Scan(&v.ID, &v.Key, &v.Name, stringsCol{&v.AllowedOrigins}, &v.WidgetMode, jsonCol[model.RoutingSettings]{&v.Routing},
		jsonCol[model.EmailSettings]{&v.Email}, jsonCol[model.IdentitySettings]{&v.Identity},
		jsonCol[model.WidgetSettings]{&v.Widget}, jsonCol[model.BotSettings]{&v.Bot}, rawJSONCol{&v.Hours}, timeCol{&v.CreatedAt})
	return v, err
}

func (r *reader) GetSite(ctx context.Context, id int64) (model.Site, error) {
	return one(ctx, r.q, "site", scanSite, "SELECT "+siteCols+" FROM sites WHERE id = ?", id)
}

func (r *reader) GetSiteByKey(ctx context.Context, key string) (model.Site, error) {
	return one(ctx, r.q, "site", scanSite, "SELECT "+siteCols+" FROM sites WHERE site_key = ?", key)
}

func (r *reader) ListSites(ctx context.Context) ([]model.Site, error) {
	v, err := collect(ctx, r.q, scanSite, "SELECT "+siteCols+" FROM sites ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	return v, nil
}

// ---- users

// userCols are the columns of scanUser, of users aliased u.
const userCols = "u.id, u.email, u.name, u.role, u.password_hash, u.disabled, u.availability, u.capacity, " +
	"u.max_capacity, u.load, u.last_offer_at, u.missed_offers, u.created_at, u.updated_at, u.avatar_key"

func scanUser(s scanner) (model.User, error) {
	var v model.User
	err := s.Scan(&v.ID, &v.Email, &v.Name, &v.Role, &v.PasswordHash, &v.Disabled, &v.Availability,
		&v.Capacity, &v.MaxCapacity, &v.Load, timeCol{&v.LastOfferAt}, &v.MissedOffers,
		timeCol{&v.CreatedAt}, timeCol{&v.UpdatedAt}, &v.AvatarKey)
	v.AvatarURL = model.AvatarPath(v.AvatarKey)
	return v, err
}

func (r *reader) GetUserByAvatar(ctx context.Context, key string) (model.User, error) {
	if key == "" {
		return model.User{}, apperr.NotFound("user")
	}
	return one(ctx, r.q, "user", scanUser, "SELECT "+userCols+" FROM users u WHERE u.avatar_key = ?"+r.lock, key)
}

func (r *reader) GetUser(ctx context.Context, id int64) (model.User, error) {
	return one(ctx, r.q, "user", scanUser, "SELECT "+userCols+" FROM users u WHERE u.id = ?"+r.lock, id)
}

func (r *reader) GetUserByEmail(ctx context.Context, email string) (model.User, error) {
	return one(ctx, r.q, "user", scanUser, "SELECT "+userCols+" FROM users u WHERE u.email = ?"+r.lock, strings.ToLower(email))
}

func (r *reader) ListUsers(ctx context.Context) ([]model.User, error) {
	v, err := collect(ctx, r.q, scanUser, "SELECT "+userCols+" FROM users u ORDER BY u.id")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return v, nil
}

func scanInt64(s scanner) (int64, error) {
	var v int64
	err := s.Scan(&v)
	return v, err
}

func (r *reader) UserSiteIDs(ctx context.Context, userID int64) ([]int64, error) {
	v, err := collect(ctx, r.q, scanInt64, "SELECT site_id FROM user_sites WHERE user_id = ? ORDER BY site_id", userID)
	if err != nil {
		return nil, fmt.Errorf("user site ids: %w", err)
	}
	return v, nil
}

// ---- sessions

const authSessionCols = "token_hash, user_id, csrf_token, created_at, expires_at"

func scanAuthSession(s scanner) (model.AuthSession, error) {
	var v model.AuthSession
	err := s.Scan(&v.TokenHash, &v.UserID, &v.CSRFToken, timeCol{&v.CreatedAt}, timeCol{&v.ExpiresAt})
	return v, err
}

func (r *reader) GetAuthSession(ctx context.Context, tokenHash []byte) (model.AuthSession, error) {
	return one(ctx, r.q, "auth_session", scanAuthSession,
		"SELECT "+authSessionCols+" FROM auth_sessions WHERE token_hash = ?", tokenHash)
}

const visitorSessionCols = "id, site_id, contact_id, token_hash, created_at, revoked_at"

func scanVisitorSession(s scanner) (model.VisitorSession, error) {
	var v model.VisitorSession
	err := s.Scan(&v.ID, &v.SiteID, idCol{&v.ContactID}, &v.TokenHash, timeCol{&v.CreatedAt}, timeCol{&v.RevokedAt})
	return v, err
}

func (r *reader) GetVisitorSessionByToken(ctx context.Context, tokenHash []byte) (model.VisitorSession, error) {
	return one(ctx, r.q, "visitor_session", scanVisitorSession,
		"SELECT "+visitorSessionCols+" FROM visitor_sessions WHERE token_hash = ?", tokenHash)
}

// ---- contacts

const contactCols = "id, site_id, name, email, phone, external_id, attributes, created_at, visitor_attributes"

func scanContact(s scanner) (model.Contact, error) {
	var v model.Contact
	err := s.Scan(&v.ID, &v.SiteID, &v.Name, &v.Email, &v.Phone, &v.ExternalID, stringMapCol{&v.Attributes}, timeCol{&v.CreatedAt},
		stringMapCol{&v.VisitorAttributes})
	if len(v.VisitorAttributes) == 0 {
		v.VisitorAttributes = nil // "none" reads back as it was written
	}
	return v, err
}

func (r *reader) GetContact(ctx context.Context, id int64) (model.Contact, error) {
	return one(ctx, r.q, "contact", scanContact, "SELECT "+contactCols+" FROM contacts WHERE id = ?", id)
}

func (r *reader) GetContactByExternalID(ctx context.Context, siteID int64, externalID string) (model.Contact, error) {
	if externalID == "" {
		return model.Contact{}, apperr.NotFound("contact")
	}
	return one(ctx, r.q, "contact", scanContact,
		"SELECT "+contactCols+" FROM contacts WHERE site_id = ? AND external_id = ? ORDER BY id LIMIT 1", siteID, externalID)
}

func (r *reader) GetContactByPhone(ctx context.Context, siteID int64, phone string) (model.Contact, error) {
	if phone == "" {
		return model.Contact{}, apperr.NotFound("contact")
	}
	return one(ctx, r.q, "contact", scanContact,
		"SELECT "+contactCols+" FROM contacts WHERE site_id = ? AND phone = ? ORDER BY id LIMIT 1", siteID, phone)
}

// ---- conversations

const conversationCols = "c.id, c.site_id, c.contact_id, c.channel, c.status, c.priority, c.assignee_id, " +
	"c.department_id, c.last_seq, c.chat_id, c.chat_state, c.preview, c.last_message_at, c.created_at, c.updated_at"

func scanConversation(s scanner) (model.Conversation, error) {
	var v model.Conversation
	d := convDest{v: &v}
	err := s.Scan(d.dest()...)
	d.done()
	return v, err
}

// convDest scans conversationCols into v, followed by other columns if
// needed: Scan(dest()...), then done().
type convDest struct {
	v       *model.Conversation
	updated int64
}

func (d *convDest) dest() []any {
	v := d.v
	return []any{&v.ID, &v.SiteID, idCol{&v.ContactID}, &v.Channel, &v.Status, &v.Priority, idCol{&v.AssigneeID},
		&v.DepartmentID, &v.LastSeq, &v.ChatID, &v.ChatState, &v.Preview, timeCol{&v.LastMessageAt},
		timeCol{&v.CreatedAt}, &d.updated}
}

// done sets what the columns hold in another form: UpdatedAt, and Tags
// empty (non-nil) for the caller to fill.
func (d *convDest) done() {
	d.v.UpdatedAt = fromMicros(d.updated)
	d.v.Tags = []string{}
}

// fillTags sets the Tags of each conversation (sorted, non-nil).
func fillTags(ctx context.Context, q queryer, convs []model.Conversation) error {
	if len(convs) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(convs))
	args := make([]any, len(convs))
	for i, c := range convs {
		idx[c.ID] = i
		args[i] = c.ID
	}
	type pair struct {
		id  int64
		tag string
	}
	pairs, err := collect(ctx, q, func(s scanner) (pair, error) {
		var p pair
		err := s.Scan(&p.id, &p.tag)
		return p, err
	}, "SELECT conversation_id, tag FROM conversation_tags WHERE conversation_id IN ("+placeholders(len(args))+")", args...)
	if err != nil {
		return fmt.Errorf("load tags: %w", err)
	}
	for _, p := range pairs {
		i := idx[p.id]
		convs[i].Tags = append(convs[i].Tags, p.tag)
	}
	for i := range convs {
		slices.Sort(convs[i].Tags)
	}
	return nil
}

// GetConversation reads the row and its tags in one statement: no read
// transaction on the pool, one statement on the hot path of a send.
func (r *reader) GetConversation(ctx context.Context, id int64) (model.Conversation, error) {
	scan := func(s scanner) (model.Conversation, error) {
		var v model.Conversation
		var tags string
		d := convDest{v: &v}
		if err := s.Scan(append(d.dest(), &tags)...); err != nil {
			return v, err
		}
		d.done()
		if tags != "[]" {
			if err := json.Unmarshal([]byte(tags), &v.Tags); err != nil {
				return v, fmt.Errorf("tags: %w", err)
			}
			slices.Sort(v.Tags)
		}
		return v, nil
	}
	c, err := one(ctx, r.q, "conversation", scan,
		"SELECT "+conversationCols+", "+r.d.convTags+" FROM conversations c WHERE c.id = ?"+r.lock, id)
	if err == nil && r.lock != "" {
		if r.lockedConvs == nil {
			r.lockedConvs = map[int64]bool{}
		}
		r.lockedConvs[id] = true
	}
	return c, err
}

// liveChat selects the conversations whose latest chat is live, in the
// words of the partial index conversations_live (migration 00012): a query
// must repeat its WHERE verbatim for SQLite to use it.
const liveChat = "c.chat_state NOT IN ('', 'ended')"

const (
	defaultConversationLimit = 50
	maxConversationLimit     = 200
)

func (r *reader) ListConversations(ctx context.Context, f store.ConversationFilter) (store.ConversationPage, error) {
	page := store.ConversationPage{Conversations: []model.Conversation{}}
	limit := f.Limit
	if limit <= 0 {
		limit = defaultConversationLimit
	}
	limit = min(limit, maxConversationLimit)
	query, args, err := conversationsQuery(r.d, f, limit+1)
	if err != nil {
		return store.ConversationPage{}, err
	}
	if query == "" {
		return page, nil
	}
	err = r.snapshot(ctx, func(q queryer) error {
		convs, err := collect(ctx, q, scanConversation, query, args...)
		if err != nil {
			return err
		}
		if len(convs) > limit {
			convs = convs[:limit]
			last := convs[limit-1]
			page.Next = encodeCursor(last.UpdatedAt, last.ID)
		}
		if err := fillTags(ctx, q, convs); err != nil {
			return err
		}
		page.Conversations = convs
		return nil
	})
	if err != nil {
		return store.ConversationPage{}, fmt.Errorf("list conversations: %w", err)
	}
	return page, nil
}

// conversationsQuery is ListConversations' statement for f, reading up to
// limit rows; "" when f matches nothing.
func conversationsQuery(d *dialect, f store.ConversationFilter, limit int) (string, []any, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	// col is a column of c in a filter. A contact has a few conversations:
	// they are found through conversations_contact and sorted, whatever
	// else filters them. SQLite, which has no statistics, would rather walk
	// another filter's (x, updated_at) index in order, every conversation
	// of a site or a status until it has a page of the contact's; a unary +
	// keeps it from using an index for that term. (PostgreSQL has
	// statistics, and no unary + on text.)
	col := func(name string) string {
		if f.ContactID != 0 && d.name == "sqlite" {
			return "+c." + name
		}
		return "c." + name
	}
	if f.SiteIDs != nil {
		if len(f.SiteIDs) == 0 {
			return "", nil, nil
		}
		ph := make([]any, len(f.SiteIDs))
		for i, id := range f.SiteIDs {
			ph[i] = id
		}
		add(col("site_id")+" IN ("+placeholders(len(ph))+")", ph...)
	}
	if f.SiteID != 0 {
		add(col("site_id")+" = ?", f.SiteID)
	}
	if f.ContactID != 0 {
		add("c.contact_id = ?", f.ContactID)
	}
	if f.Status != "" {
		add(col("status")+" = ?", string(f.Status))
	}
	if f.ChatState != "" {
		add(col("chat_state")+" = ?", string(f.ChatState))
	}
	if f.ChatLive || f.ChatState.Live() && f.ContactID == 0 {
		// ChatLive's condition, which a live ChatState implies: verbatim the
		// WHERE of the partial index conversations_live, so that the
		// planner may use it.
		add(liveChat)
	}
	if f.AssigneeID != 0 {
		add(col("assignee_id")+" = ?", f.AssigneeID)
	}
	if f.Unassigned {
		add(col("assignee_id") + " IS NULL")
	}
	if f.Tag != "" {
		add("EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation_id = c.id AND t.tag = ?)", f.Tag)
	}
	if f.Priority != "" {
		add("c.priority = ?", string(f.Priority))
	}
	if f.Query != "" {
		pattern, err := likeContains(f.Query)
		if err != nil {
			return "", nil, err
		}
		like := " " + d.ilike + " ? ESCAPE '\\'"
		add("(EXISTS (SELECT 1 FROM contacts ct WHERE ct.id = c.contact_id AND (ct.name"+like+" OR ct.email"+like+")) "+
			"OR EXISTS (SELECT 1 FROM messages qm WHERE qm.conversation_id = c.id AND qm.visibility = ? AND qm.body"+like+"))",
			pattern, pattern, string(model.Public), pattern)
	}
	if f.Cursor != "" {
		micros, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return "", nil, err
		}
		add("(c.updated_at, c.id) < (?, ?)", micros, id)
	}
	query := "SELECT " + conversationCols + " FROM conversations c"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY c.updated_at DESC, c.id DESC LIMIT ?"
	return query, append(args, limit), nil
}

// ---- chats

const chatCols = "id, conversation_id, state, requested_at, offered_at, first_joined_at, first_response_at, " +
	"ended_at, ended_by, ended_by_user_id, end_reason, rating, rating_comment, rated_at"

func scanChat(s scanner) (model.Chat, error) {
	var v model.Chat
	err := s.Scan(&v.ID, &v.ConversationID, &v.State, timeCol{&v.RequestedAt}, timeCol{&v.OfferedAt},
		timeCol{&v.FirstJoinedAt}, timeCol{&v.FirstResponseAt}, timeCol{&v.EndedAt}, &v.EndedBy,
		&v.EndedByUserID, &v.EndReason, &v.Rating, &v.RatingComment, timeCol{&v.RatedAt})
	return v, err
}

func (r *reader) GetChat(ctx context.Context, id int64) (model.Chat, error) {
	return one(ctx, r.q, "chat", scanChat, "SELECT "+chatCols+" FROM chats WHERE id = ?"+r.lock, id)
}

func scanParticipant(s scanner) (model.Participant, error) {
	var v model.Participant
	err := s.Scan(&v.ChatID, &v.UserID, timeCol{&v.JoinedAt}, timeCol{&v.LeftAt})
	return v, err
}

func (r *reader) ListParticipants(ctx context.Context, chatID int64) ([]model.Participant, error) {
	v, err := collect(ctx, r.q, scanParticipant,
		"SELECT chat_id, user_id, joined_at, left_at FROM participants WHERE chat_id = ? ORDER BY joined_at, user_id", chatID)
	if err != nil {
		return nil, fmt.Errorf("list participants: %w", err)
	}
	return v, nil
}

// ---- messages and attachments

const messageCols = "m.id, m.conversation_id, m.seq, m.chat_id, m.author_kind, m.author_id, m.author_name, " +
	"m.client_id, m.kind, m.visibility, m.body, m.event, m.attachment_id, m.raw_attachment_id, m.created_at, " +
	"a.id, a.conversation_id, a.uploader_kind, a.uploader_id, a.name, a.content_type, a.size, a.blob_key, a.created_at"

const messageFrom = " FROM messages m LEFT JOIN attachments a ON a.id = m.attachment_id"

func scanMessage(s scanner) (model.Message, error) {
	var v model.Message
	var a model.Attachment
	var uploaderKind string
	err := s.Scan(&v.ID, &v.ConversationID, &v.Seq, idCol{&v.ChatID}, &v.AuthorKind, &v.AuthorID, &v.AuthorName,
		&v.ClientID, &v.Kind, &v.Visibility, &v.Body, &v.Event, idCol{&v.AttachmentID}, idCol{&v.RawAttachmentID},
		timeCol{&v.CreatedAt},
		idCol{&a.ID}, idCol{&a.ConversationID}, nullStr{&uploaderKind}, idCol{&a.UploaderID}, nullStr{&a.Name},
		nullStr{&a.ContentType}, idCol{&a.Size}, nullStr{&a.BlobKey}, timeCol{&a.CreatedAt})
	if err != nil {
		return v, err
	}
	if a.ID != 0 {
		a.UploaderKind = model.Party(uploaderKind)
		v.Attachment = &a
	}
	return v, nil
}

const (
	defaultMessageLimit = 100
	maxMessageLimit     = 1000
)

func (r *reader) ListMessages(ctx context.Context, mq store.MessageQuery) ([]model.Message, error) {
	limit := mq.Limit
	if limit <= 0 {
		limit = defaultMessageLimit
	}
	limit = min(limit, maxMessageLimit)
	query := "SELECT " + messageCols + messageFrom + " WHERE m.conversation_id = ? AND m.seq > ?"
	args := []any{mq.ConversationID, mq.AfterSeq}
	if !mq.IncludeInternal {
		query += " AND m.visibility = ?"
		args = append(args, string(model.Public))
	}
	query += " ORDER BY m.seq LIMIT ?"
	args = append(args, limit)
	v, err := collect(ctx, r.q, scanMessage, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return v, nil
}

func (r *reader) GetMessageByClientID(ctx context.Context, conversationID int64, author model.Party, authorID int64, clientID string) (model.Message, error) {
	if clientID == "" {
		return model.Message{}, apperr.NotFound("message")
	}
	return one(ctx, r.q, "message", scanMessage, messageByClientIDQuery, conversationID, string(author), authorID, clientID)
}

// messageByClientIDQuery finds a message by its idempotency key. Repeating
// the partial unique index's condition (client id not empty) lets SQLite use
// that index, whose WHERE must appear verbatim in the query; without it every
// lookup scans the whole conversation.
const messageByClientIDQuery = "SELECT " + messageCols + messageFrom +
	" WHERE m.conversation_id = ? AND m.author_kind = ? AND m.author_id = ? AND m.client_id = ? AND m.client_id <> ''"

const attachmentCols = "id, conversation_id, uploader_kind, uploader_id, name, content_type, size, blob_key, created_at"

func scanAttachment(s scanner) (model.Attachment, error) {
	var v model.Attachment
	err := s.Scan(&v.ID, &v.ConversationID, &v.UploaderKind, &v.UploaderID, &v.Name, &v.ContentType, &v.Size,
		&v.BlobKey, timeCol{&v.CreatedAt})
	return v, err
}

func (r *reader) GetAttachment(ctx context.Context, id int64) (model.Attachment, error) {
	return one(ctx, r.q, "attachment", scanAttachment, "SELECT "+attachmentCols+" FROM attachments WHERE id = ?", id)
}

func scanReadMark(s scanner) (model.ReadMark, error) {
	var v model.ReadMark
	err := s.Scan(&v.ConversationID, &v.ReaderKind, &v.ReaderID, &v.Seq, timeCol{&v.At})
	return v, err
}

func (r *reader) ListReadMarks(ctx context.Context, conversationID int64) ([]model.ReadMark, error) {
	v, err := collect(ctx, r.q, scanReadMark,
		"SELECT conversation_id, reader_kind, reader_id, seq, at FROM read_marks WHERE conversation_id = ? "+
			"ORDER BY reader_kind, reader_id", conversationID)
	if err != nil {
		return nil, fmt.Errorf("list read marks: %w", err)
	}
	return v, nil
}

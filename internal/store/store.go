// Package store defines the persistence contract of Switchboard. The store is
// the truth (DESIGN.md §2): whatever the bus or a cache says, a client that
// doubts fetches from here.
//
// Implementations live in subpackages (sqlstore: SQLite and, later,
// PostgreSQL). Every implementation must pass the contract suite in
// store/storetest, which is the executable form of the guarantees below.
//
// Errors: methods return *apperr.Error values for expected failures:
// KindNotFound (codes "<thing>_not_found": "site", "user", "contact",
// "visitor_session", "auth_session", "conversation", "chat", "participant",
// "message", "attachment", "department", "queue_entry", "mail", "mail_ref",
// "quick_reply") and KindConflict (codes "email_taken",
// "site_key_taken", "duplicate_client_id"). Anything else is an untyped error
// wrapped with context, which the transports report as "internal", except
// that a store that is closing returns KindUnavailable (retry elsewhere).
package store

import (
	"context"
	"time"

	"switchboard/internal/model"
)

// Reader is the read side, shared by Store (reads outside a transaction, from
// a reader pool, seeing only committed data) and Tx (reads inside the write
// transaction, seeing its own uncommitted writes).
type Reader interface {
	GetSite(ctx context.Context, id int64) (model.Site, error)
	GetSiteByKey(ctx context.Context, key string) (model.Site, error)
	ListSites(ctx context.Context) ([]model.Site, error) // ordered by id

	GetUser(ctx context.Context, id int64) (model.User, error)
	GetUserByEmail(ctx context.Context, email string) (model.User, error) // email compared lower-cased
	ListUsers(ctx context.Context) ([]model.User, error)                  // ordered by id
	// GetUserByAvatar returns the user whose current avatar is the blob
	// key; "" or any other key is user_not_found.
	GetUserByAvatar(ctx context.Context, key string) (model.User, error)
	// UserSiteIDs returns the sites a user is a member of, ascending.
	UserSiteIDs(ctx context.Context, userID int64) ([]int64, error)

	// GetAuthSession returns a staff session by token hash; expired sessions
	// are returned too (the caller checks ExpiresAt against its clock).
	GetAuthSession(ctx context.Context, tokenHash []byte) (model.AuthSession, error)
	GetVisitorSessionByToken(ctx context.Context, tokenHash []byte) (model.VisitorSession, error)

	GetContact(ctx context.Context, id int64) (model.Contact, error)
	// GetContactByExternalID finds a site's contact by verified identity
	// (contact_not_found).
	GetContactByExternalID(ctx context.Context, siteID int64, externalID string) (model.Contact, error)
	// GetContactByPhone finds a site's contact by E.164 phone number
	// (contact_not_found); the oldest when several share it.
	GetContactByPhone(ctx context.Context, siteID int64, phone string) (model.Contact, error)

	GetConversation(ctx context.Context, id int64) (model.Conversation, error) // with Tags
	ListConversations(ctx context.Context, f ConversationFilter) (ConversationPage, error)

	GetChat(ctx context.Context, id int64) (model.Chat, error)
	// ListParticipants returns every participant of a chat, present and
	// past, ordered by JoinedAt.
	ListParticipants(ctx context.Context, chatID int64) ([]model.Participant, error)

	// ListMessages returns a conversation's timeline ordered by seq, with
	// Attachment filled where AttachmentID is set. An unknown conversation
	// has an empty timeline (callers authorise against the conversation first).
	ListMessages(ctx context.Context, q MessageQuery) ([]model.Message, error)
	// GetMessageByClientID finds the message a client already sent with this
	// id (the idempotency key), or returns message_not_found.
	GetMessageByClientID(ctx context.Context, conversationID int64, author model.Party, authorID int64, clientID string) (model.Message, error)

	GetAttachment(ctx context.Context, id int64) (model.Attachment, error)
	ListReadMarks(ctx context.Context, conversationID int64) ([]model.ReadMark, error)

	// GetDepartment returns a department with MemberIDs (department_not_found).
	GetDepartment(ctx context.Context, id int64) (model.Department, error)
	// ListDepartments returns a site's departments (siteID 0: every site's),
	// ordered by id, with MemberIDs.
	ListDepartments(ctx context.Context, siteID int64) ([]model.Department, error)
	// ListRoutingAgents returns the staff who may take a site's chats of a
	// department, ordered by id: the department's members, or for
	// department 0 the site's members (user_sites). Disabled users and
	// supervisors are left out. Load, LastOfferAt and MissedOffers are set.
	ListRoutingAgents(ctx context.Context, siteID, departmentID int64) ([]model.User, error)
	// ListRoutingCandidates returns, of those, the ones who may be offered a
	// chat now (available or busy, Load < Capacity), ordered by id, with
	// only what a decision reads: it runs on every routing decision.
	ListRoutingCandidates(ctx context.Context, siteID, departmentID int64) ([]model.AgentLoad, error)
	// CountStaffedAgents counts, of ListRoutingAgents, the ones available
	// or busy (whether or not they have room): what a queue's estimate and
	// "anyone online" need, without reading every agent.
	CountStaffedAgents(ctx context.Context, siteID, departmentID int64) (int, error)
	// ListQueue returns queue entries in the order they are served.
	ListQueue(ctx context.Context, q QueueQuery) ([]model.QueueEntry, error)
	// QueuePosition returns a queued chat's 1-based place in its queue (both
	// states), in ListQueue's order (ByPriority as given), by counting the
	// entries ahead of it (queue_entry_not_found).
	QueuePosition(ctx context.Context, chatID int64, byPriority bool) (int, error)
	// GetQueueEntry returns a chat's queue entry (queue_entry_not_found).
	GetQueueEntry(ctx context.Context, chatID int64) (model.QueueEntry, error)
	// ListOffers returns offers ordered by OfferedAt, then user id.
	ListOffers(ctx context.Context, q OfferQuery) ([]model.Offer, error)

	// ListQuickReplies returns the shared quick replies and the user's own,
	// ordered by shortcut, then owner (shared first).
	ListQuickReplies(ctx context.Context, userID int64) ([]model.QuickReply, error)
	GetQuickReply(ctx context.Context, id int64) (model.QuickReply, error) // quick_reply_not_found

	// GetVisits returns what is known of a contact's visits; a contact never
	// seen (or unknown) has Count 0 and no error.
	GetVisits(ctx context.Context, contactID int64) (model.Visits, error)
	// ListPageViews returns a contact's most recent page views, newest first
	// (at most limit, 1..1000; 0 means 100).
	ListPageViews(ctx context.Context, contactID int64, limit int) ([]model.PageView, error)

	// ListMail returns a conversation's outgoing mails, oldest first.
	ListMail(ctx context.Context, conversationID int64) ([]model.OutboxMail, error)
	// ConversationByMailRef returns the conversation that one of these
	// Message-IDs (without angle brackets) belongs to, trying them in order
	// (In-Reply-To first, then References newest first);
	// mail_ref_not_found if none is known.
	ConversationByMailRef(ctx context.Context, messageIDs []string) (int64, error)
}

// QueueQuery selects queue entries.
type QueueQuery struct {
	SiteID        int64            // 0: every site (with AnyDepartment)
	DepartmentID  int64            // the department's queue (0: the site's general queue)
	AnyDepartment bool             // ignore DepartmentID
	State         model.QueueState // "": waiting and pending
	// ByPriority orders urgent first, then high, normal, low, and within a
	// priority oldest first; otherwise oldest first. Ties: chat id.
	ByPriority bool
	Limit      int // 0: no limit
}

// OfferQuery selects offers. At least one of ChatID and UserID is set.
type OfferQuery struct {
	ChatID      int64
	UserID      int64
	PendingOnly bool
}

// Tx is one write transaction. Its methods see the transaction's own writes.
type Tx interface {
	Reader

	CreateSite(ctx context.Context, s *model.Site) error // sets ID; site_key_taken
	UpdateSite(ctx context.Context, s model.Site) error  // name, origins, mode, routing, email, identity, hours

	CreateUser(ctx context.Context, u *model.User) error // sets ID; email_taken
	// UpdateUser writes every mutable field (email, name, role, password
	// hash, disabled, availability, capacity, max capacity, last offer,
	// missed offers, updated_at); Load is RecountLoad's.
	UpdateUser(ctx context.Context, u model.User) error
	// SetUserAvatar sets a user's AvatarKey ("" removes it) and UpdatedAt;
	// UpdateUser leaves the key alone, so a profile edit never loses a
	// picture uploaded meanwhile. user_not_found.
	SetUserAvatar(ctx context.Context, userID int64, key string, at time.Time) error
	SetUserSites(ctx context.Context, userID int64, siteIDs []int64) error // replaces

	CreateAuthSession(ctx context.Context, s model.AuthSession) error
	DeleteAuthSession(ctx context.Context, tokenHash []byte) error  // no error if absent
	DeleteUserAuthSessions(ctx context.Context, userID int64) error // every session of a user
	// DeleteExpiredAuthSessions removes sessions that expired before t and
	// reports how many.
	DeleteExpiredAuthSessions(ctx context.Context, before time.Time) (int64, error)

	CreateContact(ctx context.Context, c *model.Contact) error // sets ID
	UpdateContact(ctx context.Context, c model.Contact) error  // name, email, phone, external id, attributes, visitor attributes

	CreateVisitorSession(ctx context.Context, v *model.VisitorSession) error // sets ID
	RevokeVisitorSession(ctx context.Context, id int64, at time.Time) error
	// SetVisitorSessionContact moves a visitor session to another contact of
	// its site (a verified identity: the history follows the person).
	SetVisitorSessionContact(ctx context.Context, id, contactID int64) error

	// CreateConversation sets ID; LastSeq starts at 0; Tags are stored.
	CreateConversation(ctx context.Context, c *model.Conversation) error
	// UpdateConversation writes status, priority, assignee, department,
	// chat id/state, updated_at. It does not touch LastSeq, Preview,
	// LastMessageAt (AppendMessage owns those) nor Tags (SetTags).
	UpdateConversation(ctx context.Context, c model.Conversation) error
	SetTags(ctx context.Context, conversationID int64, tags []string) error // replaces

	CreateChat(ctx context.Context, c *model.Chat) error // sets ID
	UpdateChat(ctx context.Context, c model.Chat) error  // every field but ID/ConversationID

	// AddParticipant (re)joins a user to a chat: a user who had left gets a
	// fresh JoinedAt and a zero LeftAt.
	AddParticipant(ctx context.Context, chatID, userID int64, at time.Time) error
	// RemoveParticipant sets LeftAt; participant_not_found if not present.
	RemoveParticipant(ctx context.Context, chatID, userID int64, at time.Time) error

	// AppendMessage assigns m.ID and m.Seq = conversation's LastSeq+1 inside
	// this transaction, so seqs are gap-free and unique per conversation.
	// It also sets the conversation's LastSeq, UpdatedAt = m.CreatedAt, and,
	// for Public KindText messages, LastMessageAt and Preview (the first 140
	// runes of Body). With a non-empty ClientID already used by the same
	// author in the conversation it returns duplicate_client_id (callers look
	// the first one up with GetMessageByClientID and return it).
	AppendMessage(ctx context.Context, m *model.Message) error
	// AppendToConversation is AppendMessage to the conversation's current
	// chat: m.ChatID is set from the conversation (0 when it has none) by
	// the same statement that takes the seq, and the conversation is
	// returned as that statement left it (Tags empty). It saves a send that
	// needs no check before appending (a visitor's) reading the row first.
	AppendToConversation(ctx context.Context, m *model.Message) (model.Conversation, error)

	CreateAttachment(ctx context.Context, a *model.Attachment) error // sets ID
	// SetReadMark moves a reader's mark forward only; an older seq is ignored.
	SetReadMark(ctx context.Context, m model.ReadMark) error

	// CreateDepartment sets ID and stores MemberIDs.
	CreateDepartment(ctx context.Context, d *model.Department) error
	// UpdateDepartment writes name, overrides, hours and replaces members.
	UpdateDepartment(ctx context.Context, d model.Department) error
	// DeleteDepartment removes a department and its members; its queue
	// entries and conversations move to the site's general queue (0).
	DeleteDepartment(ctx context.Context, id int64) error

	// PutQueueEntry inserts or replaces a chat's queue entry.
	PutQueueEntry(ctx context.Context, e model.QueueEntry) error
	// DeleteQueueEntry removes a chat's entry; no error if absent.
	DeleteQueueEntry(ctx context.Context, chatID int64) error

	// PutOffer inserts or replaces the offer of a chat to a user.
	PutOffer(ctx context.Context, o model.Offer) error
	// ResolveOffers sets every pending offer of a chat to state at time at,
	// except the one to exceptUserID (0: none); it returns the users whose
	// offers it resolved, ascending.
	ResolveOffers(ctx context.Context, chatID, exceptUserID int64, state model.OfferState, at time.Time) ([]int64, error)

	// CreateQuickReply sets ID; shortcut_taken (KindConflict) when the owner
	// (or the shared set) already has the shortcut.
	CreateQuickReply(ctx context.Context, q *model.QuickReply) error
	// UpdateQuickReply writes shortcut, body, updated_at (shortcut_taken,
	// quick_reply_not_found).
	UpdateQuickReply(ctx context.Context, q model.QuickReply) error
	DeleteQuickReply(ctx context.Context, id int64) error // quick_reply_not_found

	// EnqueueMail stores an outgoing mail (sets ID; State pending, Attempts
	// 0). A mail with a DedupeKey already queued is not queued again:
	// mail_already_queued (KindConflict), and nothing changes.
	EnqueueMail(ctx context.Context, m *model.OutboxMail) error
	// ClaimDueMail leases up to limit pending mails of a transport due at now
	// (NextAttemptAt <= now, no live lease) to by until the given time, oldest
	// due first, and returns them. Two nodes never claim the same mail while
	// a lease lives (PostgreSQL: FOR UPDATE SKIP LOCKED).
	ClaimDueMail(ctx context.Context, transport, by string, now, until time.Time, limit int) ([]model.OutboxMail, error)
	// MarkMailSent records a successful send (only by the lease holder:
	// mail_not_found otherwise).
	MarkMailSent(ctx context.Context, id int64, by string, at time.Time) error
	// MarkMailRetry records a failed attempt: Attempts+1, LastError, and
	// either a NextAttemptAt (State stays pending) or, with giveUp, State
	// failed. The lease is released.
	MarkMailRetry(ctx context.Context, id int64, by string, next time.Time, lastError string, giveUp bool) error
	// PutMailRef records that a Message-ID belongs to a conversation (mails
	// sent and received), so replies find their thread. Idempotent.
	PutMailRef(ctx context.Context, messageID string, conversationID int64) error

	// RecordVisit records a sign of life of a contact's visitor (see
	// VisitRecord) and returns the contact's visits after it.
	RecordVisit(ctx context.Context, v VisitRecord) (model.Visits, error)

	// RecountLoad sets a user's Load from the store's truth (chats they are
	// in, left_at unset, plus their pending exclusive offers) and returns it.
	// Call it in the same Tx after any change to either.
	RecountLoad(ctx context.Context, userID int64) (int, error)

	// OnCommit registers f to run after this transaction's changes are
	// durable, before InTx returns. For any one conversation, callbacks run
	// in commit (and so seq) order, which lets callers publish events in seq
	// order; an implementation with several writers must keep that. They do
	// not run if the transaction (or this InTx's part of a batch) rolls
	// back. f must not block: it may run on the store's writer.
	OnCommit(f func())
}

// Store is the whole persistence layer.
type Store interface {
	Reader

	// InTx runs fn in a write transaction and returns once its effects are
	// durable (SQLite: WAL with synchronous=FULL; PostgreSQL: default commit)
	// or rolled back. If fn returns an error, none of its writes persist and
	// InTx returns that error unchanged.
	//
	// Group commit: an implementation may run several concurrent InTx calls
	// inside one database transaction, each isolated in a savepoint, so that
	// one flush acknowledges many writes. fn may therefore run on another
	// goroutine; it must not call InTx itself (deadlock), and must not block
	// on anything but the Tx. If ctx is done before fn starts, InTx returns
	// ctx.Err() and fn never runs.
	InTx(ctx context.Context, fn func(Tx) error) error

	// Epoch identifies this database's timeline. It is created with the
	// database and never changes; a client that resumes with another epoch
	// (the database was replaced) must reload instead of resuming.
	Epoch() string

	// Ping checks that the store answers and its migrations are applied.
	Ping(ctx context.Context) error

	// Close waits for queued transactions to finish, then closes.
	Close() error
}

// ConversationFilter selects conversations. Zero values do not filter.
type ConversationFilter struct {
	// SiteIDs restricts to these sites (the caller's access). nil: all sites;
	// a non-nil empty slice matches nothing.
	SiteIDs    []int64
	SiteID     int64
	ContactID  int64
	Status     model.TicketStatus
	ChatState  model.ChatState
	ChatLive   bool   // only conversations whose latest chat is live (not ended)
	AssigneeID int64  // with Unassigned false
	Unassigned bool   // only AssigneeID = 0
	Tag        string // conversations carrying this tag
	Priority   model.Priority
	// Query matches conversations whose contact's name or email, or a
	// public message body, contains it (case-insensitive); "" does not filter.
	Query  string
	Cursor string // from ConversationPage.Next; "" for the first page
	Limit  int    // 1..200; 0 means 50
}

// ConversationPage is one page of conversations, newest activity first
// (UpdatedAt descending, then ID descending). Next is "" on the last page.
type ConversationPage struct {
	Conversations []model.Conversation
	Next          string
}

// MessageQuery selects part of a timeline.
type MessageQuery struct {
	ConversationID  int64
	AfterSeq        int64 // messages with seq > AfterSeq
	Limit           int   // 1..1000; 0 means 100
	IncludeInternal bool  // false: Public entries only (what a visitor may see)
}

// VisitRecord is one sign of life of a contact's visitor, for RecordVisit.
// The contact's visit counter starts at 1 and grows when At is more than
// Gap after the last sight (an At before the last sight never moves it
// back). A non-empty URL is a page view, stored unless it repeats the
// contact's latest view (same URL and title) in the same visit; only the
// newest Keep views of the contact are kept. Non-empty TimeZone, Locale,
// Country and City replace the stored ones; empty ones keep them.
type VisitRecord struct {
	ContactID, VisitorSessionID     int64 // contact_not_found for an unknown contact
	At                              time.Time
	URL, Title                      string
	TimeZone, Locale, Country, City string
	Gap                             time.Duration // 0: model.VisitGap
	Keep                            int           // 0: 100
}

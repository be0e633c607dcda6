// Package model holds the entities of Switchboard and their enumerations,
// as described in DESIGN.md §1. It has no behaviour beyond validation of its
// own values: rules that involve several entities live in the domain packages
// (chat, identity, ...), persistence in store, transport in gateway/httpapi.
//
// IDs are int64 assigned by the store. Optional timestamps are the zero
// time.Time when unset. All times are UTC with microsecond precision.
package model

import (
	"encoding/json"
	"time"
)

// Role of a staff user.
type Role string

const (
	RoleAdmin      Role = "admin"
	RoleSupervisor Role = "supervisor"
	RoleAgent      Role = "agent"
)

func (r Role) Valid() bool { return r == RoleAdmin || r == RoleSupervisor || r == RoleAgent }

// Availability of a staff user for chats. Everyone is offline until they go online.
type Availability string

const (
	Available Availability = "available"
	Busy      Availability = "busy"
	Away      Availability = "away"
	Offline   Availability = "offline"
)

func (a Availability) Valid() bool {
	return a == Available || a == Busy || a == Away || a == Offline
}

// Online reports whether the user is signed in for chat at all.
func (a Availability) Online() bool { return a == Available || a == Busy || a == Away }

// WidgetMode says who answers a site's widget.
type WidgetMode string

const (
	ModeLive      WidgetMode = "live"      // humans only
	ModeAssistant WidgetMode = "assistant" // bot only
	ModeHybrid    WidgetMode = "hybrid"    // bot first, hand-off to a human
)

func (m WidgetMode) Valid() bool { return m == ModeLive || m == ModeAssistant || m == ModeHybrid }

// TicketStatus is the state of a conversation seen as a ticket.
type TicketStatus string

const (
	StatusOpen    TicketStatus = "open"
	StatusPending TicketStatus = "pending"
	StatusClosed  TicketStatus = "closed"
)

func (s TicketStatus) Valid() bool {
	return s == StatusOpen || s == StatusPending || s == StatusClosed
}

// Priority of a conversation.
type Priority string

const (
	PriorityLow    Priority = "low"
	PriorityNormal Priority = "normal"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

func (p Priority) Valid() bool {
	return p == PriorityLow || p == PriorityNormal || p == PriorityHigh || p == PriorityUrgent
}

// Rank orders priorities: urgent (3) > high > normal > low (0).
func (p Priority) Rank() int {
	switch p {
	case PriorityUrgent:
		return 3
	case PriorityHigh:
		return 2
	case PriorityNormal:
		return 1
	}
	return 0
}

// ChatState is the lifecycle of one live chat:
// bot → waiting → pending → active → ended.
type ChatState string

const (
	ChatBot     ChatState = "bot"     // talking to the assistant
	ChatWaiting ChatState = "waiting" // queued: asked for a human, nobody offered yet
	ChatPending ChatState = "pending" // offered to an agent, nobody joined yet
	ChatActive  ChatState = "active"  // at least one agent joined
	ChatEnded   ChatState = "ended"
)

func (s ChatState) Valid() bool {
	switch s {
	case ChatBot, ChatWaiting, ChatPending, ChatActive, ChatEnded:
		return true
	}
	return false
}

// Live reports whether the chat has not ended.
func (s ChatState) Live() bool { return s != "" && s != ChatEnded }

// Party is who did something: the author of a message, the one who ended a chat.
type Party string

const (
	PartyVisitor Party = "visitor"
	PartyAgent   Party = "agent" // any staff user
	PartyBot     Party = "bot"
	PartySystem  Party = "system"
)

// EndReason says why a chat ended.
type EndReason string

const (
	EndCompleted   EndReason = "completed"    // ended by an agent or the visitor after it was active
	EndUnanswered  EndReason = "unanswered"   // nobody joined in time
	EndVisitorLeft EndReason = "visitor_left" // the visitor gave up while waiting
)

// Visibility of a timeline entry.
type Visibility string

const (
	Public   Visibility = "public"   // visitor and staff
	Internal Visibility = "internal" // staff only: notes, supervisor comments
)

// MessageKind is the kind of timeline entry.
type MessageKind string

const (
	KindText  MessageKind = "text"  // written by a visitor, agent or bot
	KindNote  MessageKind = "note"  // internal note or @-comment (always Internal)
	KindEvent MessageKind = "event" // system line: joined, left, ended, ...
)

// Timeline event names carried by KindEvent messages.
const (
	EventChatRequested = "chat_requested"
	EventJoined        = "joined"
	EventLeft          = "left"
	EventEnded         = "ended"
	EventTransferred   = "transferred"
	EventAutoReply     = "auto_reply"
	EventUnanswered    = "unanswered"
)

// QueueState is where an unanswered chat stands in its queue.
type QueueState string

const (
	QueueWaiting QueueState = "waiting" // nobody offered yet
	QueuePending QueueState = "pending" // offered, nobody joined yet
)

// QueueEntry is a live chat nobody has joined yet. It exists while the
// chat is waiting or pending and is removed when someone joins or it ends.
type QueueEntry struct {
	ChatID         int64      `json:"chat_id"`
	ConversationID int64      `json:"conversation_id"`
	SiteID         int64      `json:"site_id"`
	DepartmentID   int64      `json:"department_id"` // 0: the site's general queue
	Priority       Priority   `json:"priority"`
	RequestedAt    time.Time  `json:"requested_at"`
	State          QueueState `json:"state"`
	Deadline       time.Time  `json:"deadline,omitzero"` // max wait; zero: none
	// Manual: a supervisor assigned it to a given agent; routing never
	// re-offers it elsewhere.
	Manual bool `json:"manual,omitempty"`
}

// QuickReply is a canned answer agents insert by typing "/" and its
// shortcut. Shared ones (OwnerID 0) are managed by admins; personal ones
// belong to one user.
type QuickReply struct {
	ID        int64     `json:"id"`
	OwnerID   int64     `json:"owner_id,omitempty"` // 0: shared
	Shortcut  string    `json:"shortcut"`           // unique per owner (and among shared ones)
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MailState is where an outgoing mail stands in the outbox.
type MailState string

const (
	MailPending MailState = "pending" // to send (again) at NextAttemptAt
	MailSent    MailState = "sent"
	MailFailed  MailState = "failed" // gave up after the last attempt, or refused permanently
)

// OutboxMail is an email to send, stored in the same transaction as the
// change that caused it, so a restart or a mail server that is down delays
// it but never loses it. Body is the complete RFC 5322 message.
type OutboxMail struct {
	ID             int64 `json:"id"`
	ConversationID int64 `json:"conversation_id,omitempty"`
	// Transport is how it goes: "email" (default), "sms" or "whatsapp";
	// each transport's sender claims only its own.
	Transport     string    `json:"transport"`
	Kind          string    `json:"kind"`       // transcript, reply, confirmation, message
	DedupeKey     string    `json:"dedupe_key"` // unique: the same cause never queues two mails
	From          string    `json:"from"`       // envelope sender (bounces)
	To            string    `json:"to"`
	MessageID     string    `json:"message_id"` // without angle brackets
	Body          []byte    `json:"-"`
	State         MailState `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LeaseUntil    time.Time `json:"-"` // a sender holds it until then
	LeaseBy       string    `json:"-"`
	LastError     string    `json:"last_error,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	SentAt        time.Time `json:"sent_at,omitzero"`
}

// AgentLoad is what a routing decision reads of an agent.
type AgentLoad struct {
	UserID       int64
	Availability Availability
	Capacity     int
	Load         int
	LastOfferAt  time.Time
}

// OfferState is the outcome of an offer.
type OfferState string

const (
	OfferPending   OfferState = "pending"
	OfferAccepted  OfferState = "accepted"
	OfferDeclined  OfferState = "declined"
	OfferMissed    OfferState = "missed"    // timed out
	OfferWithdrawn OfferState = "withdrawn" // someone else joined, or the chat ended
)

// OfferKind says why a chat was offered.
type OfferKind string

const (
	OfferRoute    OfferKind = "route"    // by the site's strategy
	OfferAssign   OfferKind = "assign"   // a supervisor or admin chose the agent
	OfferInvite   OfferKind = "invite"   // a participant invited a colleague in
	OfferTransfer OfferKind = "transfer" // a participant hands the chat over
)

// Offer is a chat offered to an agent. Exclusive offers (single-offer
// strategies, assignment, invite, transfer) count toward the agent's load;
// a broadcast offer does not.
type Offer struct {
	ChatID     int64      `json:"chat_id"`
	UserID     int64      `json:"user_id"`
	Kind       OfferKind  `json:"kind"`
	FromUserID int64      `json:"from_user_id,omitempty"` // who assigned, invited or transferred
	State      OfferState `json:"state"`
	Exclusive  bool       `json:"exclusive"`
	OfferedAt  time.Time  `json:"offered_at"`
	ExpiresAt  time.Time  `json:"expires_at,omitzero"` // zero: no timeout
	ResolvedAt time.Time  `json:"resolved_at,omitzero"`
}

// Site is one website with one widget.
type Site struct {
	ID             int64      `json:"id"`
	Key            string     `json:"key"` // public site key used by the widget
	Name           string     `json:"name"`
	AllowedOrigins []string   `json:"allowed_origins"` // empty: any origin
	WidgetMode     WidgetMode `json:"widget_mode"`
	// Routing says how chats are handed out and what waiting visitors see.
	Routing RoutingSettings `json:"routing"`
	// Email says how the site's conversations continue by email.
	Email EmailSettings `json:"email"`
	// Identity is the site's identity verification (docs/widget.md).
	Identity IdentitySettings `json:"identity"`
	// Widget is the widget's look, texts and pre-chat form (docs/widget.md).
	Widget WidgetSettings `json:"widget"`
	// Bot is the built-in assistant of the hybrid and assistant modes.
	Bot BotSettings `json:"bot"`
	// Hours is the site's business-hours schedule (hours.Schedule as JSON);
	// empty or null: always open. The store keeps it as given; the routing
	// domain validates it.
	Hours     json.RawMessage `json:"hours,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
}

// RoutingSettings are a site's routing choices (docs/routing.md). Zero
// values mean the documented defaults, so a site created before routing
// existed behaves as before: broadcast, no timeouts, position shown.
type RoutingSettings struct {
	Strategy            string `json:"strategy,omitempty"`              // round_robin, least_busy, priority, broadcast (default)
	OfferTimeoutSeconds int    `json:"offer_timeout_seconds,omitempty"` // single-offer strategies; default 30
	MaxMisses           int    `json:"max_misses,omitempty"`            // set away after this many missed offers in a row; 0: never
	MaxWaitSeconds      int    `json:"max_wait_seconds,omitempty"`      // end unanswered after this; 0: wait until someone joins
	QueueDisplay        string `json:"queue_display,omitempty"`         // position_and_estimate (default), position, estimate, none
	DefaultDepartmentID int64  `json:"default_department_id,omitempty"`
	// DisconnectGraceSeconds: an agent whose consoles all disconnected is
	// set offline after this; default 60.
	DisconnectGraceSeconds int `json:"disconnect_grace_seconds,omitempty"`
	// RequeueAfterMinutes: a disconnected agent's chats go back to the
	// queue after this many minutes without a reply from them; 0: keep them.
	RequeueAfterMinutes int    `json:"requeue_after_minutes,omitempty"`
	QueueMessage        string `json:"queue_message,omitempty"`       // shown while waiting
	UnansweredMessage   string `json:"unanswered_message,omitempty"`  // sent when the max wait passes
	AfterHoursMessage   string `json:"after_hours_message,omitempty"` // shown outside business hours
	AutoReply           string `json:"auto_reply,omitempty"`          // sent once per conversation outside hours
	// OfflineWhenUnavailable: with nobody online to take chats, requests
	// are handled as outside business hours (the offline form, a ticket).
	OfflineWhenUnavailable bool `json:"offline_when_unavailable,omitempty"`
}

// EmailSettings are a site's email choices (docs/email.md).
type EmailSettings struct {
	// Transcript: "on_request" (default: when the visitor asks from the
	// widget), "always", or "never".
	Transcript  string `json:"transcript,omitempty"`
	FromName    string `json:"from_name,omitempty"`    // sender display name; default the site's name
	AccentColor string `json:"accent_color,omitempty"` // #rrggbb used in HTML mails
}

// IdentitySettings is a site's visitor identity verification: the site's
// backend signs who its logged-in user is (HMAC-SHA256 with Secret), the
// widget passes the signature, and the server trusts only verified claims.
type IdentitySettings struct {
	// Secret is shown to admins only; empty: verification not set up.
	Secret string `json:"secret,omitempty"`
	// Required: visitors may not claim a name or email without a verified
	// identity.
	Required bool `json:"required,omitempty"`
}

// WidgetSettings are a site's widget appearance and pre-chat form, set by
// admins and sent to the widget before a visitor has a session. Empty
// fields mean the widget's defaults (or what the page configures).
type WidgetSettings struct {
	Color        string          `json:"color,omitempty"`         // accent, #rrggbb
	Position     string          `json:"position,omitempty"`      // "left" or "right" (default)
	Greeting     string          `json:"greeting,omitempty"`      // at the top of a new conversation
	LauncherText string          `json:"launcher_text,omitempty"` // next to the launcher icon
	Prechat      PrechatSettings `json:"prechat"`
	// Strings override the widget's visible texts by key
	// (web/widget/src/strings.ts); unknown keys are refused.
	Strings  map[string]string `json:"strings,omitempty"`
	Language string            `json:"language,omitempty"` // BCP 47 tag for times and numbers
	Dir      string            `json:"dir,omitempty"`      // "ltr" or "rtl"; empty: the page's
}

// PrechatSettings say what the pre-chat form asks. Empty means the default.
type PrechatSettings struct {
	Name       string `json:"name,omitempty"`       // hidden, optional (default), required
	Email      string `json:"email,omitempty"`      // hidden, optional (default), required
	Department string `json:"department,omitempty"` // on (default: a choice when the site has departments), off
	Question   string `json:"question,omitempty"`   // off, on, required (default)
}

// BotSettings are the built-in assistant's answers (chat/bot.go).
type BotSettings struct {
	Name     string      `json:"name,omitempty"`     // author name of its messages; default "Assistant"
	Greeting string      `json:"greeting,omitempty"` // its first message in a new chat; empty: none
	Fallback string      `json:"fallback,omitempty"` // when no answer matches; empty: a default
	Answers  []BotAnswer `json:"answers,omitempty"`
}

// BotAnswer is one answer the assistant gives to questions that look like
// Question or mention its Keywords.
type BotAnswer struct {
	Question string   `json:"question"`
	Keywords []string `json:"keywords,omitempty"`
	Answer   string   `json:"answer"`
}

// Department is a team inside a site. Zero overrides use the site's setting.
type Department struct {
	ID                  int64           `json:"id"`
	SiteID              int64           `json:"site_id"`
	Name                string          `json:"name"`
	Strategy            string          `json:"strategy,omitempty"`
	OfferTimeoutSeconds int             `json:"offer_timeout_seconds,omitempty"`
	MaxWaitSeconds      int             `json:"max_wait_seconds,omitempty"`
	Hours               json.RawMessage `json:"hours,omitempty"` // empty: the site's hours
	MemberIDs           []int64         `json:"member_ids"`      // ascending
	CreatedAt           time.Time       `json:"created_at"`
}

// User is a staff member.
type User struct {
	ID           int64        `json:"id"`
	Email        string       `json:"email"` // lower-cased, unique
	Name         string       `json:"name"`
	Role         Role         `json:"role"`
	PasswordHash string       `json:"-"`
	Disabled     bool         `json:"disabled"`
	Availability Availability `json:"availability"`
	Capacity     int          `json:"capacity"`     // most concurrent chats, the agent's preference
	MaxCapacity  int          `json:"max_capacity"` // admin maximum for Capacity
	// Load is the chats the user is in now plus the exclusive offers they
	// have not answered; the store recounts it (Tx.RecountLoad), nobody
	// writes it directly.
	Load         int       `json:"load"`
	LastOfferAt  time.Time `json:"last_offer_at,omitzero"` // round-robin turn
	MissedOffers int       `json:"missed_offers"`          // in a row; reset on join
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// AvatarKey names the user's profile picture in the blob store ("" for
	// none); only Tx.SetUserAvatar writes it. AvatarURL is derived from it
	// by the store (AvatarPath), so every user in JSON carries it.
	AvatarKey string `json:"-"`
	AvatarURL string `json:"avatar_url"`
}

// AvatarPath is the public, root-relative URL of the profile picture stored
// under key, or "" when key is "". The key is random and changes whenever
// the picture does, so the URL is cacheable forever and reveals nothing else.
func AvatarPath(key string) string {
	if key == "" {
		return ""
	}
	return "/api/v1/avatars/" + key
}

// AuthSession is a signed-in staff browser. Only the SHA-256 of the token is stored.
type AuthSession struct {
	TokenHash []byte
	UserID    int64
	CSRFToken string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Contact is a customer.
type Contact struct {
	ID     int64  `json:"id"`
	SiteID int64  `json:"site_id"`
	Name   string `json:"name"`
	Email  string `json:"email"`
	Phone  string `json:"phone,omitempty"` // E.164, for SMS/WhatsApp
	// ExternalID is the verified identity the site's backend signed (its
	// user id, or "email:" and the address); empty while unverified.
	ExternalID string            `json:"external_id,omitempty"`
	Attributes map[string]string `json:"attributes"`
	// VisitorAttributes are what the visitor's widget sent without a
	// verified identity: unverified, shown as such, and kept apart from
	// Attributes (which only a verified identity sets) so they can never
	// overwrite them. Nil when none.
	VisitorAttributes map[string]string `json:"visitor_attributes,omitempty"`
	CreatedAt         time.Time         `json:"created_at"`
}

// VisitorSession is one browser of a contact on a site. Only the SHA-256 of
// its token is stored.
type VisitorSession struct {
	ID        int64
	SiteID    int64
	ContactID int64
	TokenHash []byte
	CreatedAt time.Time
	RevokedAt time.Time // zero while valid
}

// Visits is what is known of a contact's visits to their site, from their
// visitors' presence: how many visits (a new one starts after
// VisitGap of absence), first and last sight, and where they are. Empty
// strings are unknown.
type Visits struct {
	ContactID int64     `json:"contact_id"`
	SiteID    int64     `json:"site_id"`
	Count     int       `json:"visits"` // 0: never seen
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	TimeZone  string    `json:"timezone"` // IANA name, from the browser
	Locale    string    `json:"locale"`   // BCP 47 tag, from the browser
	Country   string    `json:"country"`  // from a trusted proxy header
	City      string    `json:"city"`     // from a trusted proxy header
}

// VisitGap is the absence after which a visitor's next sign of life counts
// as a new visit.
const VisitGap = 30 * time.Minute

// PageView is one page a contact's visitor viewed, in their Visit-th visit.
type PageView struct {
	ID               int64     `json:"id"`
	ContactID        int64     `json:"contact_id"`
	VisitorSessionID int64     `json:"visitor_session_id"`
	Visit            int       `json:"visit"`
	URL              string    `json:"url"`
	Title            string    `json:"title"`
	ViewedAt         time.Time `json:"viewed_at"`
}

// Conversation is the durable thread with a contact; it is also the ticket.
// ChatID/ChatState mirror its latest chat so lists filter without a join.
type Conversation struct {
	ID            int64        `json:"id"`
	SiteID        int64        `json:"site_id"`
	ContactID     int64        `json:"contact_id"`
	Channel       string       `json:"channel"` // "widget", later "email", "sms", ...
	Status        TicketStatus `json:"status"`
	Priority      Priority     `json:"priority"`
	AssigneeID    int64        `json:"assignee_id,omitempty"` // 0: unassigned
	DepartmentID  int64        `json:"department_id,omitempty"`
	Tags          []string     `json:"tags"`
	LastSeq       int64        `json:"last_seq"`
	ChatID        int64        `json:"chat_id,omitempty"`    // latest chat, 0 if none
	ChatState     ChatState    `json:"chat_state,omitempty"` // state of the latest chat
	Preview       string       `json:"preview"`              // last public text, truncated
	LastMessageAt time.Time    `json:"last_message_at,omitzero"`
	CreatedAt     time.Time    `json:"created_at"`
	UpdatedAt     time.Time    `json:"updated_at"`
}

// Chat is one live session inside a conversation. The timestamps are the ones
// analytics need: wait time = FirstJoinedAt-RequestedAt, first response time =
// FirstResponseAt-RequestedAt, duration = EndedAt-FirstJoinedAt.
type Chat struct {
	ID              int64     `json:"id"`
	ConversationID  int64     `json:"conversation_id"`
	State           ChatState `json:"state"`
	RequestedAt     time.Time `json:"requested_at"`
	OfferedAt       time.Time `json:"offered_at,omitzero"`
	FirstJoinedAt   time.Time `json:"first_joined_at,omitzero"`
	FirstResponseAt time.Time `json:"first_response_at,omitzero"`
	EndedAt         time.Time `json:"ended_at,omitzero"`
	EndedBy         Party     `json:"ended_by,omitempty"`
	EndedByUserID   int64     `json:"ended_by_user_id,omitempty"`
	EndReason       EndReason `json:"end_reason,omitempty"`
	Rating          int       `json:"rating,omitempty"` // the visitor's satisfaction, 1-5; 0: not rated
	RatingComment   string    `json:"rating_comment,omitempty"`
	RatedAt         time.Time `json:"rated_at,omitzero"`
}

// Participant is a staff user in a chat. LeftAt is zero while they are in it.
type Participant struct {
	ChatID   int64     `json:"chat_id"`
	UserID   int64     `json:"user_id"`
	JoinedAt time.Time `json:"joined_at"`
	LeftAt   time.Time `json:"left_at,omitzero"`
}

// Message is one entry of a conversation's timeline.
// (ConversationID, AuthorKind, AuthorID, ClientID) is unique when ClientID is set.
type Message struct {
	ID             int64       `json:"id"`
	ConversationID int64       `json:"conversation_id"`
	Seq            int64       `json:"seq"`
	ChatID         int64       `json:"chat_id,omitempty"`
	AuthorKind     Party       `json:"author_kind"`
	AuthorID       int64       `json:"author_id,omitempty"` // user id, contact id, or 0
	AuthorName     string      `json:"author_name,omitempty"`
	ClientID       string      `json:"client_id,omitempty"`
	Kind           MessageKind `json:"kind"`
	Visibility     Visibility  `json:"visibility"`
	Body           string      `json:"body"`
	Event          string      `json:"event,omitempty"` // for KindEvent
	AttachmentID   int64       `json:"attachment_id,omitempty"`
	Attachment     *Attachment `json:"attachment,omitempty"` // filled when read
	// RawAttachmentID is the original email (message/rfc822) an inbound
	// mail message was made from: the body shown is trimmed of quoted
	// history and signatures, the raw message is kept.
	RawAttachmentID int64     `json:"raw_attachment_id,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
}

// Attachment is an uploaded file. The bytes live in the blob store under BlobKey.
type Attachment struct {
	ID             int64     `json:"id"`
	ConversationID int64     `json:"conversation_id"`
	UploaderKind   Party     `json:"uploader_kind"`
	UploaderID     int64     `json:"uploader_id"`
	Name           string    `json:"name"`
	ContentType    string    `json:"content_type"` // sniffed, never the client's claim
	Size           int64     `json:"size"`
	BlobKey        string    `json:"-"`
	CreatedAt      time.Time `json:"created_at"`
}

// ReadMark is the last seq a reader has read in a conversation.
type ReadMark struct {
	ConversationID int64     `json:"conversation_id"`
	ReaderKind     Party     `json:"reader_kind"` // visitor or agent
	ReaderID       int64     `json:"reader_id"`
	Seq            int64     `json:"seq"`
	At             time.Time `json:"at"`
}

// Package chat owns the rules of conversations and live chats: who may see
// and write what, the chat lifecycle (DESIGN.md §1), the timeline with its
// idempotent, gap-free seq (§2.2), and the events that tell everyone else
// something changed (published after commit, §2.1). It knows nothing of
// HTTP, SQL or WebSockets: transports call it with an Actor, and it returns
// *apperr.Error values for everything a caller can get wrong.
package chat

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/blob"
	"switchboard/internal/bus"
	"switchboard/internal/clock"
	"switchboard/internal/model"
	"switchboard/internal/presence"
	"switchboard/internal/store"
)

// Limits bound what clients may write.
type Limits struct {
	MaxBodyBytes       int   // a message or note body; default 8 KiB
	MaxAttachmentBytes int64 // one upload; default 10 MiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 8 << 10
	}
	if l.MaxAttachmentBytes <= 0 {
		l.MaxAttachmentBytes = 10 << 20
	}
	return l
}

// Service is the chat domain. It is safe for concurrent use.
type Service struct {
	st       store.Store
	bus      bus.Bus
	blobs    blob.Store
	clk      clock.Clock
	node     string
	log      *slog.Logger
	limits   Limits
	presence *presence.Registry
	router   *router
	mail     MailConfig
	channels ChannelConfig

	refs convRefs
	// visits records visit history from presence (visits.go).
	visits visitRecorder
}

// MailConfig wires email into the chat service. A zero From turns email off.
type MailConfig struct {
	From   string // the address mails come from, e.g. support@example.com
	Secret []byte // signs reply addresses; shared by every node
	Kick   func() // called after commit when mail was queued (the outbox)
}

func (m MailConfig) enabled() bool { return m.From != "" && len(m.Secret) > 0 }

// Config wires a Service.
type Config struct {
	Store  store.Store
	Bus    bus.Bus
	Blobs  blob.Store
	Clock  clock.Clock
	NodeID string
	Logger *slog.Logger
	Limits Limits
	// PresenceTTL is how long a visitor stays online after the last signal
	// (0: presence.DefaultTTL).
	PresenceTTL time.Duration
	// Mail turns email on (transcripts, replies, confirmations).
	Mail MailConfig
	// Channels turns SMS and WhatsApp on.
	Channels ChannelConfig
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Service{
		st: cfg.Store, bus: cfg.Bus, blobs: cfg.Blobs, clk: cfg.Clock, node: cfg.NodeID,
		log: cfg.Logger, limits: cfg.Limits.withDefaults(), mail: cfg.Mail, channels: cfg.Channels,
		refs: convRefs{m: make(map[int64]convRef)},
	}
	s.presence = presence.New(cfg.Clock, cfg.PresenceTTL, s.publishPresence)
	s.router = newRouter(s)
	// Other nodes' visitors (their presence announcements), consoles,
	// offers and waits.
	if _, err := cfg.Bus.Subscribe(func(e bus.Event) {
		s.observeRemote(e)
		s.router.observe(e)
	}); err != nil {
		s.log.Error("subscribe to presence announcements", "err", err)
	}
	return s
}

// Presence returns the registry of online visitors.
func (s *Service) Presence() *presence.Registry { return s.presence }

// Actor is who is calling: a staff user or a visitor.
type Actor struct {
	Party model.Party // PartyAgent (any staff role) or PartyVisitor

	// Staff.
	User model.User
	// SiteIDs are the sites a staff user belongs to; nil for admins, who see all.
	SiteIDs []int64

	// Visitor.
	SiteID           int64
	ContactID        int64
	VisitorSessionID int64
	Name             string // display name of the visitor ("" while anonymous)
}

// IsStaff reports whether the actor is a staff user.
func (a Actor) IsStaff() bool { return a.Party == model.PartyAgent }

// SeesSite reports whether a staff actor may see conversations of a site.
func (a Actor) SeesSite(siteID int64) bool {
	if !a.IsStaff() {
		return false
	}
	if a.SiteIDs == nil {
		return true
	}
	for _, id := range a.SiteIDs {
		if id == siteID {
			return true
		}
	}
	return false
}

func (a Actor) authorID() int64 {
	if a.IsStaff() {
		return a.User.ID
	}
	return a.ContactID
}

// convRef is the immutable part of a conversation that decides who may see
// it. It never changes after creation, so it is cached without invalidation
// (DESIGN.md §2.9: no database read on the hot path that a cache answers).
type convRef struct {
	SiteID    int64
	ContactID int64
}

type convRefs struct {
	mu sync.RWMutex
	m  map[int64]convRef
}

const maxConvRefs = 200_000

func (c *convRefs) get(id int64) (convRef, bool) {
	c.mu.RLock()
	r, ok := c.m[id]
	c.mu.RUnlock()
	return r, ok
}

func (c *convRefs) put(id int64, r convRef) {
	c.mu.Lock()
	if len(c.m) >= maxConvRefs {
		// Drop an arbitrary tenth; a miss costs one indexed read.
		n := 0
		for k := range c.m {
			delete(c.m, k)
			if n++; n >= maxConvRefs/10 {
				break
			}
		}
	}
	c.m[id] = r
	c.mu.Unlock()
}

// ref returns who may see a conversation, from the cache or the store.
func (s *Service) ref(ctx context.Context, id int64) (convRef, error) {
	if r, ok := s.refs.get(id); ok {
		return r, nil
	}
	c, err := s.st.GetConversation(ctx, id)
	if err != nil {
		return convRef{}, err
	}
	r := convRef{SiteID: c.SiteID, ContactID: c.ContactID}
	s.refs.put(id, r)
	return r, nil
}

// authorize checks that actor may see conversation id. Foreign conversations
// are reported as not found, so ids cannot be probed.
func (s *Service) authorize(ctx context.Context, a Actor, id int64) (convRef, error) {
	if id <= 0 {
		return convRef{}, apperr.NotFound("conversation")
	}
	r, err := s.ref(ctx, id)
	if err != nil {
		return convRef{}, err
	}
	if !canSee(a, r) {
		return convRef{}, apperr.NotFound("conversation")
	}
	return r, nil
}

func canSee(a Actor, r convRef) bool {
	switch a.Party {
	case model.PartyVisitor:
		return a.ContactID == r.ContactID && a.SiteID == r.SiteID
	case model.PartyAgent:
		return a.SeesSite(r.SiteID)
	}
	return false
}

// CanSee reports whether actor may see a conversation (used by the gateway
// when it replays a timeline or follows a conversation).
func (s *Service) CanSee(ctx context.Context, a Actor, conversationID int64) error {
	_, err := s.authorize(ctx, a, conversationID)
	return err
}

// requireWriter refuses staff who may only watch (supervisors write notes,
// never to customers).
func requireChatWriter(a Actor) error {
	if a.IsStaff() && a.User.Role == model.RoleSupervisor {
		return apperr.Forbidden("supervisor_read_only", "supervisors cannot write to customers")
	}
	return nil
}

// validateBody checks a message body: valid UTF-8, not only white space
// (unless allowEmpty), within the size limit.
func (s *Service) validateBody(body string, allowEmpty bool) (string, error) {
	if !utf8.ValidString(body) {
		return "", apperr.Invalid("invalid_utf8", "message is not valid UTF-8")
	}
	if strings.IndexByte(body, 0) >= 0 {
		// PostgreSQL cannot store U+0000 in text, and no person types it.
		return "", apperr.Invalid("invalid_character", "message contains a NUL character")
	}
	if len(body) > s.limits.MaxBodyBytes {
		return "", apperr.TooLarge("message_too_long", "message is longer than the limit")
	}
	trimmed := strings.TrimSpace(body)
	if trimmed == "" && !allowEmpty {
		return "", apperr.Invalid("empty_message", "message is empty")
	}
	return trimmed, nil
}

// validateClientID checks the client-generated idempotency key.
func validateClientID(id string) error {
	if id == "" {
		return apperr.Invalid("client_id_required", "client_id is required")
	}
	if len(id) > 64 {
		return apperr.Invalid("invalid_client_id", "client_id is longer than 64 bytes")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':') {
			return apperr.Invalid("invalid_client_id", "client_id may contain only letters, digits and - _ . :")
		}
	}
	return nil
}

// Upload stores an attachment for a conversation the actor can see. The
// content type is sniffed by the blob store; the size is limited while
// streaming. The returned attachment is referenced by a later Send.
func (s *Service) Upload(ctx context.Context, a Actor, conversationID int64, name string, r io.Reader) (model.Attachment, error) {
	if _, err := s.authorize(ctx, a, conversationID); err != nil {
		return model.Attachment{}, err
	}
	if err := requireChatWriter(a); err != nil {
		return model.Attachment{}, err
	}
	obj, err := s.blobs.Put(ctx, name, r, s.limits.MaxAttachmentBytes)
	if err != nil {
		return model.Attachment{}, err
	}
	att := model.Attachment{
		ConversationID: conversationID, UploaderKind: a.Party, UploaderID: a.authorID(),
		Name: blob.SafeFilename(name), ContentType: obj.ContentType, Size: obj.Size,
		BlobKey: obj.Key, CreatedAt: s.now(),
	}
	err = s.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateAttachment(ctx, &att) })
	if err != nil {
		_ = s.blobs.Delete(context.WithoutCancel(ctx), obj.Key)
		return model.Attachment{}, err
	}
	return att, nil
}

// OpenAttachment returns an attachment's bytes if the actor may see its
// conversation. Inline reports whether it may be shown inline (sniffed image).
func (s *Service) OpenAttachment(ctx context.Context, a Actor, id int64) (model.Attachment, io.ReadSeekCloser, bool, error) {
	att, err := s.st.GetAttachment(ctx, id)
	if err != nil {
		return model.Attachment{}, nil, false, err
	}
	if _, err := s.authorize(ctx, a, att.ConversationID); err != nil {
		return model.Attachment{}, nil, false, apperr.NotFound("attachment")
	}
	rc, obj, err := s.blobs.Open(ctx, att.BlobKey)
	if err != nil {
		return model.Attachment{}, nil, false, err
	}
	return att, rc, obj.Inline, nil
}

package chat

import (
	"context"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/email"
	"switchboard/internal/identity"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// VisitorStart is a new visitor session. Token is shown once: only its hash
// is stored, and it must never appear in a URL or a log line.
type VisitorStart struct {
	Token     string        `json:"token"`
	SessionID int64         `json:"visitor_session_id"`
	Site      PublicSite    `json:"site"`
	Contact   model.Contact `json:"contact"`
}

// PublicSite is what a visitor may know about a site.
type PublicSite struct {
	ID         int64            `json:"id"`
	Key        string           `json:"key"`
	Name       string           `json:"name"`
	WidgetMode model.WidgetMode `json:"widget_mode"`
	// Open reports business hours now (and, when the site asks for it,
	// that someone is online); otherwise the widget shows AfterHoursMessage
	// and the offline form.
	Open              bool      `json:"open"`
	NextOpen          time.Time `json:"next_open,omitzero"`
	AfterHoursMessage string    `json:"after_hours_message,omitempty"`
	QueueDisplay      string    `json:"queue_display"`
	// Departments a visitor may choose before the chat (empty: no choice).
	Departments []PublicDepartment `json:"departments"`
	// IdentityRequired: only a verified identity (Switchboard('identify',
	// {…, hash})) may give a name or email; the pre-chat form asks for neither.
	IdentityRequired bool `json:"identity_required"`
	// Transcript says whether the widget offers "email me the transcript"
	// ("on_request"), sends it by itself ("always"), or neither ("never",
	// also when this server sends no email).
	Transcript string `json:"transcript"`
	// Widget is the site's widget look, texts and pre-chat form (as GET
	// /api/v1/visitor/widget/{key} gives them before a session exists).
	Widget model.WidgetSettings `json:"widget"`
}

// PublicDepartment is a department as the pre-chat form lists it.
type PublicDepartment struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

// publicSite describes a site to its visitors, hours included.
func (s *Service) publicSite(ctx context.Context, site model.Site) (PublicSite, error) {
	p := PublicSite{ID: site.ID, Key: site.Key, Name: site.Name, WidgetMode: site.WidgetMode,
		Departments: []PublicDepartment{}, Transcript: "never", IdentityRequired: site.Identity.Required, Widget: site.Widget}
	if s.mail.enabled() {
		p.Transcript = site.Email.Transcript
		if p.Transcript == "" {
			p.Transcript = "on_request"
		}
	}
	// The hours that apply to a request without a choice: the default
	// department's, if it has its own.
	dept, err := s.chooseDepartment(ctx, site, 0)
	if err != nil {
		return PublicSite{}, err
	}
	qs, err := s.settingsFor(ctx, s.st, queueKey{site.ID, dept})
	if err != nil {
		return PublicSite{}, err
	}
	now := s.clk.Now()
	p.Open, p.QueueDisplay = qs.open(now), qs.display
	if !p.Open {
		p.AfterHoursMessage = afterHoursMessage(site)
		if next, ok := qs.hours.NextOpen(now); ok {
			p.NextOpen = next.UTC()
		}
	} else if site.Routing.OfflineWhenUnavailable {
		// Nobody online and the site says so: the offline form, as after hours.
		staffed, err := s.anyoneOnline(ctx, queueKey{site.ID, dept})
		if err != nil {
			return PublicSite{}, err
		}
		if !staffed {
			p.Open, p.AfterHoursMessage = false, afterHoursMessage(site)
		}
	}
	depts, err := s.st.ListDepartments(ctx, site.ID)
	if err != nil {
		return PublicSite{}, err
	}
	for _, d := range depts {
		p.Departments = append(p.Departments, PublicDepartment{ID: d.ID, Name: d.Name})
	}
	return p, nil
}

// VisitorSite describes the visitor's site now (hours, departments, queue
// display), for a widget that resumes a stored session.
func (s *Service) VisitorSite(ctx context.Context, a Actor) (PublicSite, error) {
	if a.Party != model.PartyVisitor {
		return PublicSite{}, apperr.Forbidden("visitors_only", "visitors only")
	}
	site, err := s.st.GetSite(ctx, a.SiteID)
	if err != nil {
		return PublicSite{}, err
	}
	return s.publicSite(ctx, site)
}

// anyoneOnline reports whether an agent of a queue is available or busy
// (whether or not they have room: a busy team still answers in time).
func (s *Service) anyoneOnline(ctx context.Context, k queueKey) (bool, error) {
	n, err := s.st.CountStaffedAgents(ctx, k.site, k.dept)
	return n > 0, err
}

func afterHoursMessage(site model.Site) string {
	if m := site.Routing.AfterHoursMessage; m != "" {
		return m
	}
	return "We are closed right now. Leave us a message and we will reply by email."
}

// VisitorConversation is a conversation as its visitor sees it: no tags,
// priority, assignee or other internal ticket fields.
type VisitorConversation struct {
	ID            int64           `json:"id"`
	LastSeq       int64           `json:"last_seq"`
	ChatID        int64           `json:"chat_id,omitempty"`
	ChatState     model.ChatState `json:"chat_state,omitempty"`
	Preview       string          `json:"preview"`
	LastMessageAt time.Time       `json:"last_message_at,omitzero"`
	CreatedAt     time.Time       `json:"created_at"`
}

func visitorConversation(c model.Conversation) VisitorConversation {
	return VisitorConversation{ID: c.ID, LastSeq: c.LastSeq, ChatID: c.ChatID, ChatState: c.ChatState,
		Preview: c.Preview, LastMessageAt: c.LastMessageAt, CreatedAt: c.CreatedAt}
}

// ValidSiteKey reports whether key has the shape of a site key, so malformed
// keys are refused before any lookup.
func ValidSiteKey(key string) bool {
	if key == "" || len(key) > 64 {
		return false
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// CheckOrigin refuses a browser origin the site does not allow. A site with
// no allowed origins accepts any. Entries are exact origins
// ("https://shop.example") or a wildcard subdomain ("https://*.example").
func CheckOrigin(site model.Site, origin string) error {
	if len(site.AllowedOrigins) == 0 {
		return nil
	}
	o := strings.ToLower(strings.TrimRight(origin, "/"))
	if o == "" {
		return apperr.Forbidden("origin_not_allowed", "this site only accepts requests from its own pages")
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return apperr.Forbidden("origin_not_allowed", "origin is not allowed for this site")
	}
	for _, a := range site.AllowedOrigins {
		a = strings.ToLower(strings.TrimRight(a, "/"))
		if a == "*" || a == o {
			return nil
		}
		if scheme, rest, ok := strings.Cut(a, "://*."); ok && u.Scheme == scheme && strings.HasSuffix(u.Host, "."+rest) {
			return nil
		}
	}
	return apperr.Forbidden("origin_not_allowed", "origin is not allowed for this site")
}

// StartVisitor creates a contact and a visitor session for a site key,
// after checking the browser's origin against the site's allowed origins.
func (s *Service) StartVisitor(ctx context.Context, siteKey, origin string) (VisitorStart, error) {
	if !ValidSiteKey(siteKey) {
		return VisitorStart{}, apperr.Invalid("invalid_site_key", "site key is malformed")
	}
	site, err := s.st.GetSiteByKey(ctx, siteKey)
	if err != nil {
		return VisitorStart{}, err
	}
	if err := CheckOrigin(site, origin); err != nil {
		return VisitorStart{}, err
	}
	token, hash := identity.NewToken()
	now := s.now()
	c := model.Contact{SiteID: site.ID, Attributes: map[string]string{}, CreatedAt: now}
	v := model.VisitorSession{SiteID: site.ID, TokenHash: hash, CreatedAt: now}
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		if err := tx.CreateContact(ctx, &c); err != nil {
			return err
		}
		v.ContactID = c.ID
		return tx.CreateVisitorSession(ctx, &v)
	})
	if err != nil {
		return VisitorStart{}, err
	}
	ps, err := s.publicSite(ctx, site)
	if err != nil {
		return VisitorStart{}, err
	}
	return VisitorStart{Token: token, SessionID: v.ID, Site: ps, Contact: c}, nil
}

// AuthenticateVisitor resolves a visitor token to an actor and its site.
func (s *Service) AuthenticateVisitor(ctx context.Context, token string) (Actor, model.Site, error) {
	if token == "" || len(token) > 256 {
		return Actor{}, model.Site{}, apperr.Unauthenticated("visitor token required")
	}
	v, err := s.st.GetVisitorSessionByToken(ctx, identity.HashToken(token))
	if apperr.IsNotFound(err) {
		return Actor{}, model.Site{}, apperr.Unauthenticated("unknown visitor token")
	}
	if err != nil {
		return Actor{}, model.Site{}, err
	}
	if !v.RevokedAt.IsZero() {
		return Actor{}, model.Site{}, apperr.New(apperr.KindUnauthenticated, "token_revoked", "visitor token was revoked")
	}
	site, err := s.st.GetSite(ctx, v.SiteID)
	if err != nil {
		return Actor{}, model.Site{}, err
	}
	c, err := s.st.GetContact(ctx, v.ContactID)
	if err != nil {
		return Actor{}, model.Site{}, err
	}
	return Actor{Party: model.PartyVisitor, SiteID: v.SiteID, ContactID: v.ContactID, VisitorSessionID: v.ID, Name: c.Name}, site, nil
}

// RequestChatInput is a visitor's request for a human, with the optional
// pre-chat form.
type RequestChatInput struct {
	Name         string
	Email        string
	Body         string // first question, optional
	ClientID     string // required with Body
	DepartmentID int64  // the pre-chat choice; 0: the site's default
}

// RequestChat asks for a human. If the visitor already has a live chat it is
// returned (a retried request creates nothing new). Otherwise the newest open
// conversation gets a new chat, or a new conversation is created, and the
// chat enters its department's queue (docs/routing.md). Outside business
// hours a question is kept as an open ticket instead, and a request without
// one is refused with outside_business_hours.
func (s *Service) RequestChat(ctx context.Context, a Actor, in RequestChatInput) (VisitorView, error) {
	if a.Party != model.PartyVisitor {
		return VisitorView{}, apperr.Forbidden("visitors_only", "only visitors request chats")
	}
	if utf8.RuneCountInString(in.Name) > 200 || !utf8.ValidString(in.Name) || hasControl(in.Name) {
		return VisitorView{}, apperr.Invalid("invalid_name", "name is too long or contains control characters")
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Email != "" {
		addr, err := mail.ParseAddress(in.Email)
		if err != nil || addr.Address != strings.TrimSpace(in.Email) {
			return VisitorView{}, apperr.Invalid("invalid_email", "email address is not valid")
		}
		in.Email = strings.ToLower(addr.Address)
	}
	if in.Body != "" {
		if _, err := s.validateBody(in.Body, false); err != nil {
			return VisitorView{}, err
		}
		if err := validateClientID(in.ClientID); err != nil {
			return VisitorView{}, err
		}
	}
	site, err := s.st.GetSite(ctx, a.SiteID)
	if err != nil {
		return VisitorView{}, err
	}
	if err := s.requireVerifiedClaim(ctx, site, a, in.Name, in.Email); err != nil {
		return VisitorView{}, err
	}
	if site.WidgetMode != model.ModeLive { // the assistant answers first (bot.go)
		return s.requestBotChat(ctx, a, site, in)
	}
	dept, err := s.chooseDepartment(ctx, site, in.DepartmentID)
	if err != nil {
		return VisitorView{}, err
	}
	k := queueKey{site.ID, dept}
	qs, err := s.settingsFor(ctx, s.st, k)
	if err != nil {
		return VisitorView{}, err
	}
	afterHours := !qs.open(s.clk.Now())
	offlineReason := "after_hours"
	if !afterHours && site.Routing.OfflineWhenUnavailable {
		staffed, err := s.anyoneOnline(ctx, k)
		if err != nil {
			return VisitorView{}, err
		}
		if !staffed {
			afterHours, offlineReason = true, "nobody_available"
		}
	}
	ref := convRef{SiteID: a.SiteID, ContactID: a.ContactID}
	var (
		conv     model.Conversation
		chatRow  model.Chat
		msgs     []model.Message
		created  bool
		chatView ChatView
		entry    model.QueueEntry
		offline  bool
	)
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		msgs, created, offline, entry = nil, false, false, model.QueueEntry{}
		now := s.now()
		if err := saveClaim(ctx, tx, &a, in.Name, in.Email); err != nil {
			return err
		}
		var err error
		if conv, chatRow, err = latestChat(ctx, tx, a); err != nil {
			return err
		}
		if chatRow.ID != 0 {
			// A live chat already: this request continues it.
		} else if afterHours && in.Body == "" {
			// Nothing to keep (a live chat, had there been one, is returned above).
			if offlineReason == "nobody_available" {
				return apperr.Conflict("nobody_available", afterHoursMessage(site))
			}
			return apperr.Conflict("outside_business_hours", afterHoursMessage(site))
		} else if afterHours {
			// Outside business hours the request becomes an open ticket
			// holding the question, answered later by email.
			return s.afterHoursTicket(ctx, tx, a, ref, conv, in, site, &conv, &offline)
		} else {
			if conv, chatRow, err = s.startChat(ctx, tx, a, conv, model.ChatWaiting, model.StatusOpen, dept, now); err != nil {
				return err
			}
			if entry, err = s.enqueue(ctx, tx, conv, chatRow, qs); err != nil {
				return err
			}
			ev := model.Message{ConversationID: conv.ID, ChatID: chatRow.ID, AuthorKind: model.PartySystem,
				Kind: model.KindEvent, Event: model.EventChatRequested, Visibility: model.Public,
				Body: "Waiting for an agent to join", CreatedAt: now}
			if err := tx.AppendMessage(ctx, &ev); err != nil {
				return err
			}
			msgs = append(msgs, ev)
			created = true
		}
		if in.Body != "" {
			m, dup, err := s.appendText(ctx, tx, a, conv.ID, chatRow.ID, in.ClientID, in.Body, nil)
			if err != nil {
				return err
			}
			if !dup {
				msgs = append(msgs, m)
			}
		}
		c2, err := tx.GetConversation(ctx, conv.ID)
		if err != nil {
			return err
		}
		conv = c2
		view, err := s.chatView(ctx, tx, chatRow.ID)
		if err != nil {
			return err
		}
		chatView = view
		sent := append([]model.Message(nil), msgs...)
		notify := created
		convCopy := conv
		e := entry
		tx.OnCommit(func() {
			s.refs.put(convCopy.ID, ref)
			if notify {
				s.publishConversation(convCopy)
				s.publishChat(ref, view)
				s.router.scheduleMaxWait(e)
				s.router.kick(k)
			}
			for _, m := range sent {
				s.publishMessage(ref, m)
			}
		})
		return nil
	})
	if err != nil {
		return VisitorView{}, err
	}
	if offline {
		info := &OfflineInfo{Reason: offlineReason, Message: afterHoursMessage(site)}
		if qs.hours != nil {
			if next, ok := qs.hours.NextOpen(s.clk.Now()); ok && offlineReason == "after_hours" {
				info.NextOpen = next.UTC()
			}
		}
		return VisitorView{Conversation: visitorConversation(conv), Offline: info}, nil
	}
	v := VisitorView{Conversation: visitorConversation(conv), Chat: &chatView}
	if chatView.Chat.State.Live() {
		if v.Queue, err = s.queueStatusOf(ctx, chatView.Chat.ID); err != nil {
			return VisitorView{}, err
		}
	}
	return v, nil
}

// chooseDepartment resolves the pre-chat choice, or the site's default.
func (s *Service) chooseDepartment(ctx context.Context, site model.Site, chosen int64) (int64, error) {
	if chosen < 0 {
		return 0, apperr.NotFound("department")
	}
	id := chosen
	if id == 0 {
		id = site.Routing.DefaultDepartmentID
	}
	if id == 0 {
		return 0, nil
	}
	d, err := s.st.GetDepartment(ctx, id)
	if apperr.IsNotFound(err) || (err == nil && d.SiteID != site.ID) {
		if chosen == 0 {
			return 0, nil // the default was deleted: the general queue
		}
		return 0, apperr.NotFound("department")
	}
	if err != nil {
		return 0, err
	}
	return d.ID, nil
}

// afterHoursTicket keeps a question asked outside business hours as an open
// ticket (the visitor's newest open conversation, or a new one) and sends
// the site's auto-reply once per conversation.
func (s *Service) afterHoursTicket(ctx context.Context, tx store.Tx, a Actor, ref convRef, conv model.Conversation, in RequestChatInput, site model.Site, out *model.Conversation, offline *bool) error {
	now := s.now()
	if conv.ID == 0 || conv.Status == model.StatusClosed {
		var err error
		if conv, err = s.newConversation(ctx, tx, a.SiteID, a.ContactID, "widget", now); err != nil {
			return err
		}
	}
	m, dup, err := s.appendText(ctx, tx, a, conv.ID, 0, in.ClientID, in.Body, nil)
	if err != nil {
		return err
	}
	sent := []model.Message{}
	if !dup {
		sent = append(sent, m)
	}
	reply, err := s.autoReply(ctx, tx, conv.ID, site)
	if err != nil {
		return err
	}
	if reply != nil {
		sent = append(sent, *reply)
	}
	if conv, err = tx.GetConversation(ctx, conv.ID); err != nil {
		return err
	}
	*out, *offline = conv, true
	c := conv
	tx.OnCommit(func() {
		s.refs.put(c.ID, ref)
		s.publishConversation(c)
		for _, m := range sent {
			s.publishMessage(ref, m)
		}
	})
	return nil
}

// autoReplyClientID makes the after-hours auto-reply once per conversation:
// the timeline's idempotency key refuses a second one.
const autoReplyClientID = "auto-reply"

// autoReply appends the site's after-hours auto-reply unless the
// conversation already has it; nil when none was added.
func (s *Service) autoReply(ctx context.Context, tx store.Tx, convID int64, site model.Site) (*model.Message, error) {
	if site.Routing.AutoReply == "" {
		return nil, nil
	}
	m := model.Message{ConversationID: convID, AuthorKind: model.PartySystem, ClientID: autoReplyClientID,
		Kind: model.KindEvent, Event: model.EventAutoReply, Visibility: model.Public, Body: site.Routing.AutoReply,
		CreatedAt: s.now()}
	if err := tx.AppendMessage(ctx, &m); err != nil {
		if apperr.CodeOf(err) == "duplicate_client_id" {
			return nil, nil
		}
		return nil, err
	}
	return &m, nil
}

// VisitorView is a conversation with its live chat, as a visitor sees it.
type VisitorView struct {
	Conversation VisitorConversation `json:"conversation"`
	Chat         *ChatView           `json:"chat,omitempty"`
	ReadMarks    []model.ReadMark    `json:"read_marks,omitempty"` // so "Seen" survives a reload
	// Queue is where the chat stands while nobody has joined it.
	Queue *QueueStatus `json:"queue,omitempty"`
	// Offline is set when no live chat could start (outside business
	// hours): the widget shows the message and the offline form.
	Offline *OfflineInfo `json:"offline,omitempty"`
}

// OfflineInfo says why a chat request did not start a live chat.
type OfflineInfo struct {
	Reason   string    `json:"reason"` // after_hours
	Message  string    `json:"message"`
	NextOpen time.Time `json:"next_open,omitzero"`
}

// VisitorConversations lists the visitor's own conversations, newest first.
func (s *Service) VisitorConversations(ctx context.Context, a Actor) ([]VisitorConversation, error) {
	if a.Party != model.PartyVisitor {
		return nil, apperr.Forbidden("visitors_only", "visitors only")
	}
	page, err := s.st.ListConversations(ctx, store.ConversationFilter{SiteID: a.SiteID, ContactID: a.ContactID, Limit: 200})
	if err != nil {
		return nil, err
	}
	out := make([]VisitorConversation, 0, len(page.Conversations))
	for _, c := range page.Conversations {
		out = append(out, visitorConversation(c))
	}
	return out, nil
}

// VisitorConversation returns one of the visitor's conversations with its chat.
func (s *Service) VisitorConversation(ctx context.Context, a Actor, id int64) (VisitorView, error) {
	if _, err := s.authorize(ctx, a, id); err != nil {
		return VisitorView{}, err
	}
	c, err := s.st.GetConversation(ctx, id)
	if err != nil {
		return VisitorView{}, err
	}
	v := VisitorView{Conversation: visitorConversation(c)}
	if v.ReadMarks, err = s.st.ListReadMarks(ctx, id); err != nil {
		return VisitorView{}, err
	}
	if c.ChatID != 0 {
		cv, err := s.chatView(ctx, s.st, c.ChatID)
		if err != nil {
			return VisitorView{}, err
		}
		v.Chat = &cv
		if cv.Chat.State.Live() {
			if v.Queue, err = s.queueStatusOf(ctx, c.ChatID); err != nil {
				return VisitorView{}, err
			}
		}
	}
	return v, nil
}

// Signal records a visitor's presence (page, title, visibility).
func (s *Service) Signal(a Actor, p protocol.PresenceData) error {
	if a.Party != model.PartyVisitor {
		return apperr.Forbidden("visitors_only", "presence signals are for visitors")
	}
	if len(p.URL) > 2048 || !utf8.ValidString(p.URL) {
		return apperr.Invalid("invalid_url", "url is too long")
	}
	if len(p.Title) > 512 || !utf8.ValidString(p.Title) {
		return apperr.Invalid("invalid_title", "title is too long")
	}
	if p.URL != "" {
		u, err := url.Parse(p.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return apperr.Invalid("invalid_url", "url must be an http(s) URL")
		}
	}
	tz, locale, err := checkVisitorPlace(p)
	if err != nil {
		return err
	}
	s.presence.Signal(presenceOf(a, p))
	s.visits.observe(s, a, &p, tz, locale, Geo{})
	return nil
}

// Touch keeps a connected visitor online between signals, and brings one
// whose presence had expired back online (with an unknown page until the
// next presence signal), without blanking a page already known.
func (s *Service) Touch(a Actor) {
	if a.Party == model.PartyVisitor && !s.presence.Touch(a.VisitorSessionID) {
		s.presence.Signal(presenceOf(a, protocol.PresenceData{Visible: true}))
	}
	if a.Party == model.PartyVisitor {
		s.visits.observe(s, a, nil, "", "", Geo{})
	}
}

// hasControl reports whether s contains control characters (NUL included),
// which no display name needs and PostgreSQL cannot store (U+0000).
func hasControl(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// LeaveMessageInput is the offline form: the visitor could not reach a
// human (nobody available, outside business hours, or an assistant-only
// site) and leaves a message.
type LeaveMessageInput struct {
	Name     string
	Email    string // required: how the team answers
	Body     string
	ClientID string // makes a resubmitted form return the first ticket
}

// LeaveMessage creates an open, unassigned ticket holding the visitor's
// message, with no live chat. A retry with the same client id returns the
// ticket it created.
func (s *Service) LeaveMessage(ctx context.Context, a Actor, in LeaveMessageInput) (VisitorView, error) {
	if a.Party != model.PartyVisitor {
		return VisitorView{}, apperr.Forbidden("visitors_only", "only visitors leave messages")
	}
	if utf8.RuneCountInString(in.Name) > 200 || !utf8.ValidString(in.Name) || hasControl(in.Name) {
		return VisitorView{}, apperr.Invalid("invalid_name", "name is too long or contains control characters")
	}
	addr, err := mail.ParseAddress(strings.TrimSpace(in.Email))
	if in.Email == "" || err != nil || addr.Address != strings.TrimSpace(in.Email) {
		return VisitorView{}, apperr.Invalid("invalid_email", "an email address is needed to answer you")
	}
	if _, err := s.validateBody(in.Body, false); err != nil {
		return VisitorView{}, err
	}
	if err := validateClientID(in.ClientID); err != nil {
		return VisitorView{}, err
	}
	site, err := s.st.GetSite(ctx, a.SiteID)
	if err != nil {
		return VisitorView{}, err
	}
	if err := s.requireVerifiedClaim(ctx, site, a, in.Name, in.Email); err != nil {
		return VisitorView{}, err
	}
	qs, err := s.settingsFor(ctx, s.st, queueKey{site.ID, 0})
	if err != nil {
		return VisitorView{}, err
	}
	closed := !qs.open(s.clk.Now())
	ref := convRef{SiteID: a.SiteID, ContactID: a.ContactID}
	var conv model.Conversation
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		// A resubmitted form: its message is in the visitor's newest conversation.
		page, err := tx.ListConversations(ctx, store.ConversationFilter{SiteID: a.SiteID, ContactID: a.ContactID, Limit: 1})
		if err != nil {
			return err
		}
		if len(page.Conversations) > 0 {
			if _, err := tx.GetMessageByClientID(ctx, page.Conversations[0].ID, a.Party, a.ContactID, in.ClientID); err == nil {
				conv = page.Conversations[0]
				return nil
			} else if !apperr.IsNotFound(err) {
				return err
			}
		}
		c, err := tx.GetContact(ctx, a.ContactID)
		if err != nil {
			return err
		}
		if name := strings.TrimSpace(in.Name); name != "" {
			c.Name = name
			a.Name = name
		}
		c.Email = strings.ToLower(addr.Address)
		if err := tx.UpdateContact(ctx, c); err != nil {
			return err
		}
		now := s.now()
		if conv, err = s.newConversation(ctx, tx, a.SiteID, a.ContactID, "widget", now); err != nil {
			return err
		}
		m, _, err := s.appendText(ctx, tx, a, conv.ID, 0, in.ClientID, in.Body, nil)
		if err != nil {
			return err
		}
		var reply *model.Message
		if closed {
			if reply, err = s.autoReply(ctx, tx, conv.ID, site); err != nil {
				return err
			}
		}
		if s.mail.enabled() {
			// Tell the customer by email that their message arrived.
			subject, text, html := email.Confirmation(site, in.Body)
			if err := s.queueMail(ctx, tx, site, conv, c.Email, "confirmation", fmt.Sprintf("confirm:%d", m.ID), subject, text, html); err != nil {
				return err
			}
		}
		if conv, err = tx.GetConversation(ctx, conv.ID); err != nil {
			return err
		}
		c2 := conv
		tx.OnCommit(func() {
			s.refs.put(c2.ID, ref)
			s.publishConversation(c2)
			s.publishMessage(ref, m)
			if reply != nil {
				s.publishMessage(ref, *reply)
			}
		})
		return nil
	})
	if err != nil {
		return VisitorView{}, err
	}
	return VisitorView{Conversation: visitorConversation(conv)}, nil
}

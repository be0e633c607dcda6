package chat

// The queue side of the chat lifecycle: settings resolution and the
// bookkeeping every lifecycle change does inside its transaction (queue
// entries, offers, agents' load). The decisions themselves are the pure
// rules of internal/routing; the engine that applies them is router.go.

import (
	"context"
	"encoding/json"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/hours"
	"switchboard/internal/model"
	"switchboard/internal/routing"
	"switchboard/internal/store"
)

// Defaults of model.RoutingSettings' zero values (docs/routing.md).
const (
	defaultStrategy        = routing.Broadcast
	defaultOfferTimeout    = 30 * time.Second
	defaultDisconnectGrace = 60 * time.Second
	defaultQueueDisplay    = "position_and_estimate"
)

// queueKey names one queue: a site's department, or its general queue (0).
type queueKey struct{ site, dept int64 }

// queueSettings is the effective routing of one queue: the department's
// overrides over the site's settings over the defaults.
type queueSettings struct {
	site         model.Site
	dept         *model.Department
	strategy     routing.Strategy
	offerTimeout time.Duration // 0: offers never time out
	maxWait      time.Duration // 0: no limit
	maxMisses    int
	grace        time.Duration
	requeueAfter time.Duration // 0: keep a disconnected agent's chats
	display      string
	hours        *hours.Compiled // nil: always open
}

func (q queueSettings) showPosition() bool {
	return q.display == "position_and_estimate" || q.display == "position"
}

func (q queueSettings) showEstimate() bool {
	return q.display == "position_and_estimate" || q.display == "estimate"
}

// open reports whether the queue is within business hours at t.
func (q queueSettings) open(t time.Time) bool { return q.hours == nil || q.hours.IsOpen(t) }

// compileHours compiles a stored schedule; empty or null means always open.
func compileHours(raw json.RawMessage) (*hours.Compiled, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var sch hours.Schedule
	if err := json.Unmarshal(raw, &sch); err != nil {
		return nil, apperr.Invalid("invalid_hours", "hours is not a valid schedule: "+err.Error())
	}
	return sch.Compile()
}

// settingsFor resolves a queue's settings through r.
func (s *Service) settingsFor(ctx context.Context, r store.Reader, k queueKey) (queueSettings, error) {
	site, err := r.GetSite(ctx, k.site)
	if err != nil {
		return queueSettings{}, err
	}
	q := queueSettings{site: site}
	rs := site.Routing
	q.strategy = defaultStrategy
	if rs.Strategy != "" {
		q.strategy = routing.Strategy(rs.Strategy)
	}
	q.offerTimeout = defaultOfferTimeout
	if rs.OfferTimeoutSeconds > 0 {
		q.offerTimeout = time.Duration(rs.OfferTimeoutSeconds) * time.Second
	}
	q.maxWait = time.Duration(rs.MaxWaitSeconds) * time.Second
	q.maxMisses = rs.MaxMisses
	q.grace = defaultDisconnectGrace
	if rs.DisconnectGraceSeconds > 0 {
		q.grace = time.Duration(rs.DisconnectGraceSeconds) * time.Second
	}
	q.requeueAfter = time.Duration(rs.RequeueAfterMinutes) * time.Minute
	q.display = defaultQueueDisplay
	if rs.QueueDisplay != "" {
		q.display = rs.QueueDisplay
	}
	raw := site.Hours
	if k.dept != 0 {
		d, err := r.GetDepartment(ctx, k.dept)
		if err != nil && !apperr.IsNotFound(err) {
			return queueSettings{}, err
		}
		if err == nil && d.SiteID == site.ID {
			q.dept = &d
			if d.Strategy != "" {
				q.strategy = routing.Strategy(d.Strategy)
			}
			if d.OfferTimeoutSeconds > 0 {
				q.offerTimeout = time.Duration(d.OfferTimeoutSeconds) * time.Second
			}
			if d.MaxWaitSeconds > 0 {
				q.maxWait = time.Duration(d.MaxWaitSeconds) * time.Second
			}
			if len(d.Hours) > 0 && string(d.Hours) != "null" {
				raw = d.Hours
			}
		}
	}
	if q.hours, err = compileHours(raw); err != nil {
		// Validated on write; a stored schedule that no longer compiles
		// (a zone removed from tzdata) must not close the site.
		s.log.Warn("stored business hours do not compile; treating as always open", "site", site.ID, "err", err)
		q.hours = nil
	}
	return q, nil
}

// routingAgents converts users to what the pure rules need. Round robin's
// turn and least busy's "idle longest" tie-break both read LastOfferAt: the
// agent offered a chat longest ago is the one idle longest.
func routingAgents(cands []model.AgentLoad, skip map[int64]bool) []routing.Agent {
	out := make([]routing.Agent, 0, len(cands))
	for _, u := range cands {
		if skip[u.UserID] {
			continue
		}
		out = append(out, routing.Agent{UserID: u.UserID, Availability: u.Availability, Active: u.Load,
			Capacity: u.Capacity, LastOfferAt: u.LastOfferAt, IdleSince: u.LastOfferAt})
	}
	return out
}

// hasRoom reports whether u may take one more chat.
func hasRoom(u model.User) bool {
	return !u.Disabled && u.Role != model.RoleSupervisor &&
		routing.Agent{Availability: u.Availability, Active: u.Load, Capacity: u.Capacity}.Eligible()
}

// enqueue puts a chat in its queue as waiting, with its max-wait deadline.
func (s *Service) enqueue(ctx context.Context, tx store.Tx, conv model.Conversation, c model.Chat, qs queueSettings) (model.QueueEntry, error) {
	e := model.QueueEntry{ChatID: c.ID, ConversationID: conv.ID, SiteID: conv.SiteID, DepartmentID: conv.DepartmentID,
		Priority: conv.Priority, RequestedAt: c.RequestedAt, State: model.QueueWaiting}
	if qs.maxWait > 0 {
		e.Deadline = s.now().Add(qs.maxWait)
	}
	return e, tx.PutQueueEntry(ctx, e)
}

// withdrawOffers withdraws a chat's pending offers (except one user's),
// recounts the load of everyone whose offer it withdrew, and tells them
// after commit (conv is read then, so callers may still update it).
func (s *Service) withdrawOffers(ctx context.Context, tx store.Tx, conv *model.Conversation, chatID, except int64) error {
	pending, err := tx.ListOffers(ctx, store.OfferQuery{ChatID: chatID, PendingOnly: true})
	if err != nil {
		return err
	}
	now := s.now()
	users, err := tx.ResolveOffers(ctx, chatID, except, model.OfferWithdrawn, now)
	if err != nil {
		return err
	}
	var gone []model.Offer
	for _, o := range pending {
		if o.UserID == except {
			continue
		}
		o.State, o.ResolvedAt = model.OfferWithdrawn, now
		gone = append(gone, o)
	}
	for _, u := range users {
		if _, err := tx.RecountLoad(ctx, u); err != nil {
			return err
		}
	}
	s.freed(tx, users...)
	if len(gone) > 0 {
		tx.OnCommit(func() {
			for _, o := range gone {
				s.publishOffer(o, *conv)
			}
		})
	}
	return nil
}

// pendingOffer returns user's pending offer of a chat, if any.
func pendingOffer(ctx context.Context, r store.Reader, chatID, userID int64) (model.Offer, bool, error) {
	offers, err := r.ListOffers(ctx, store.OfferQuery{ChatID: chatID, UserID: userID, PendingOnly: true})
	if err != nil || len(offers) == 0 {
		return model.Offer{}, false, err
	}
	return offers[0], true, nil
}

// validateRouting checks a site's routing settings.
func validateRouting(ctx context.Context, r store.Reader, siteID int64, rs model.RoutingSettings) error {
	if rs.Strategy != "" {
		if _, err := routing.ParseStrategy(rs.Strategy); err != nil {
			return err
		}
	}
	switch {
	case rs.OfferTimeoutSeconds < 0 || rs.OfferTimeoutSeconds > 3600 || (rs.OfferTimeoutSeconds > 0 && rs.OfferTimeoutSeconds < 5):
		return apperr.Invalid("invalid_offer_timeout", "offer_timeout_seconds is 5 to 3600 (0: the default, 30)")
	case rs.MaxWaitSeconds < 0 || rs.MaxWaitSeconds > 7*86400:
		return apperr.Invalid("invalid_max_wait", "max_wait_seconds is 0 (no limit) to 604800")
	case rs.MaxMisses < 0 || rs.MaxMisses > 100:
		return apperr.Invalid("invalid_max_misses", "max_misses is 0 (never) to 100")
	case rs.DisconnectGraceSeconds < 0 || rs.DisconnectGraceSeconds > 3600:
		return apperr.Invalid("invalid_disconnect_grace", "disconnect_grace_seconds is 0 (the default, 60) to 3600")
	case rs.RequeueAfterMinutes < 0 || rs.RequeueAfterMinutes > 1440:
		return apperr.Invalid("invalid_requeue_after", "requeue_after_minutes is 0 (keep the chats) to 1440")
	}
	switch rs.QueueDisplay {
	case "", "position_and_estimate", "position", "estimate", "none":
	default:
		return apperr.Invalid("invalid_queue_display", "queue_display is one of position_and_estimate, position, estimate, none")
	}
	for _, m := range []string{rs.QueueMessage, rs.UnansweredMessage, rs.AfterHoursMessage, rs.AutoReply} {
		if len(m) > 2000 || !utf8.ValidString(m) || strings.IndexByte(m, 0) >= 0 {
			return apperr.Invalid("invalid_message", "routing messages are at most 2000 bytes of text")
		}
	}
	if rs.DefaultDepartmentID != 0 {
		d, err := r.GetDepartment(ctx, rs.DefaultDepartmentID)
		if apperr.IsNotFound(err) || (err == nil && d.SiteID != siteID) {
			return apperr.NotFound("department")
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// validateEmailSettings checks a site's email settings.
func validateEmailSettings(e model.EmailSettings) error {
	switch e.Transcript {
	case "", "on_request", "always", "never":
	default:
		return apperr.Invalid("invalid_transcript_setting", "transcript is one of on_request, always, never")
	}
	if utf8.RuneCountInString(e.FromName) > 100 || !utf8.ValidString(e.FromName) || hasControl(e.FromName) {
		return apperr.Invalid("invalid_from_name", "from_name is at most 100 characters, without control characters")
	}
	if e.AccentColor != "" && !accentColor.MatchString(e.AccentColor) {
		return apperr.Invalid("invalid_accent_color", "accent_color looks like #1a73e8")
	}
	return nil
}

var accentColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// normalizeEmail checks an email address and lower-cases it.
func normalizeEmail(in string) (string, error) {
	addr, err := mail.ParseAddress(strings.TrimSpace(in))
	if err != nil || addr.Address != strings.TrimSpace(in) || len(addr.Address) > 254 {
		return "", apperr.Invalid("invalid_email", "email address is not valid")
	}
	return strings.ToLower(addr.Address), nil
}

// validateHours checks a schedule and returns it compacted; empty stays empty.
func validateHours(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) > 64<<10 {
		return nil, apperr.TooLarge("hours_too_large", "the schedule is larger than 64 KiB")
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	var sch hours.Schedule
	if err := dec.Decode(&sch); err != nil {
		return nil, apperr.Invalid("invalid_hours", "hours is not a valid schedule: "+err.Error())
	}
	if _, err := sch.Compile(); err != nil {
		return nil, err
	}
	return json.Marshal(sch)
}

// takeOut removes users from a chat, recounts their load and, after
// commit, kicks the queues they serve: they have room again.
func (s *Service) takeOut(ctx context.Context, tx store.Tx, chatID int64, users []int64, at time.Time) error {
	for _, id := range users {
		if err := tx.RemoveParticipant(ctx, chatID, id, at); err != nil {
			return err
		}
		if _, err := tx.RecountLoad(ctx, id); err != nil {
			return err
		}
	}
	s.freed(tx, users...)
	return nil
}

// staffWriter checks that a staff actor who may write to customers can see
// a conversation (the common start of the agents' write operations).
func (s *Service) staffWriter(ctx context.Context, a Actor, convID int64) (convRef, error) {
	if !a.IsStaff() {
		return convRef{}, apperr.NotFound("conversation")
	}
	ref, err := s.authorize(ctx, a, convID)
	if err != nil {
		return convRef{}, err
	}
	return ref, requireChatWriter(a)
}

// freed kicks, after commit, every queue the users serve: their load went
// down, so chats waiting anywhere they work may now go to them.
func (s *Service) freed(tx store.Tx, users ...int64) {
	if len(users) == 0 {
		return
	}
	tx.OnCommit(func() {
		for _, u := range users {
			s.kickUserQueues(u)
		}
	})
}

package chat

import (
	"context"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// Visit history: which pages a contact's visitors viewed, how many visits,
// first and last sight, and where they are (time zone and language from the
// browser, country and city from a trusted proxy). Presence itself stays
// ephemeral (DESIGN.md §2.7); this is a bounded summary of it, recorded
// cheaply:
//
//   - A signal writes only when something worth keeping changed (another
//     page, time zone, language or place, a new visit), plus a refresh of
//     last_seen at most every visitTouchEvery, so that another node (or
//     this one after a restart) can tell a new visit from a continued one.
//     That is decided in memory; a signal that changes nothing costs a map
//     lookup.
//   - Writes never delay the presence command: they are queued and written
//     by one goroutine (running only while there is work), many in one
//     transaction. History is best effort: when the queue is full a record
//     is dropped (and counted), never the command.

// visitTouchEvery is how often a visitor still on the site refreshes their
// contact's last_seen (so a new visit is told within this much of the gap).
const visitTouchEvery = 5 * time.Minute

// visitQueueMax bounds the records waiting to be written.
const visitQueueMax = 8192

// visitBatchMax bounds the records written in one transaction.
const visitBatchMax = 256

// visitSeen is what this node last recorded of one visitor session.
type visitSeen struct {
	contactID                       int64
	url, title                      string
	timeZone, locale, country, city string
	written                         time.Time // last record queued
	seen                            time.Time // last sign of life
}

// visitRecorder decides which signals are written and writes them.
// Its zero value is ready to use.
type visitRecorder struct {
	mu      sync.Mutex
	seen    map[int64]*visitSeen // by visitor session
	swept   time.Time
	queue   []store.VisitRecord
	running bool // a writer goroutine is draining queue
	idle    sync.Cond
	dropped atomic.Int64
}

// Geo is where a visitor is, as a trusted proxy in front of the server
// says (e.g. Cloudflare's CF-IPCountry). Empty fields are unknown.
type Geo struct {
	Country string // ISO 3166-1 alpha-2, upper case
	City    string
}

var (
	// timeZonePattern is the shape of an IANA time zone name
	// ("Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+3", "UTC").
	timeZonePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,3}$`)
	// localePattern is the shape of a BCP 47 language tag ("en", "pt-BR",
	// "zh-Hant-TW", "de-DE-u-co-phonebk").
	localePattern  = regexp.MustCompile(`^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,8}$`)
	countryPattern = regexp.MustCompile(`^[A-Z][A-Z0-9]$`)
)

// knownZones caches which well-formed time zone names this server's time
// zone database knows (time.LoadLocation reads a file each call). Bounded:
// past knownZonesMax names, answers are computed and not kept.
var (
	knownZones    sync.Map // string → bool
	knownZonesLen atomic.Int64
)

const knownZonesMax = 2048

func knownZone(name string) bool {
	if v, ok := knownZones.Load(name); ok {
		return v.(bool)
	}
	_, err := time.LoadLocation(name)
	ok := err == nil && name != "Local"
	if knownZonesLen.Add(1) <= knownZonesMax {
		knownZones.Store(name, ok)
	}
	return ok
}

// checkVisitorPlace validates the time zone and locale of a presence frame.
// A malformed value is a client bug: a typed error. A well-formed time zone
// this server's time zone database does not know is ignored (returned
// empty): the browser may know newer zones than the server.
func checkVisitorPlace(p protocol.PresenceData) (timeZone, locale string, err error) {
	if p.TimeZone != "" {
		if len(p.TimeZone) > 64 || !timeZonePattern.MatchString(p.TimeZone) {
			return "", "", apperr.Invalid("invalid_timezone", "timezone must be an IANA time zone name such as Europe/Paris")
		}
		if knownZone(p.TimeZone) {
			timeZone = p.TimeZone
		}
	}
	if p.Locale != "" {
		if len(p.Locale) > 35 || !localePattern.MatchString(p.Locale) {
			return "", "", apperr.Invalid("invalid_locale", "locale must be a BCP 47 language tag such as en-GB")
		}
		locale = p.Locale
	}
	return timeZone, locale, nil
}

// cleanGeo keeps what a proxy header says only when it looks right: a
// country code ("XX", unknown, is dropped) and a short printable city.
func cleanGeo(g Geo) Geo {
	if !countryPattern.MatchString(g.Country) || g.Country == "XX" {
		g.Country = ""
	}
	if len(g.City) > 100 || !utf8.ValidString(g.City) || hasControl(g.City) {
		g.City = ""
	}
	return g
}

// NoteGeo records where a visitor is, from the headers a trusted proxy set
// on one of their requests (only when the operator configured them).
func (s *Service) NoteGeo(a Actor, g Geo) {
	if a.Party != model.PartyVisitor {
		return
	}
	if g = cleanGeo(g); g != (Geo{}) {
		s.visits.observe(s, a, nil, "", "", g)
	}
}

// observe notes a visitor's sign of life: page is nil for a ping (or a
// geo note), which never records a page. It queues a record when one is
// due.
func (r *visitRecorder) observe(s *Service, a Actor, page *protocol.PresenceData, timeZone, locale string, g Geo) {
	now := s.now()
	r.mu.Lock()
	e := r.seen[a.VisitorSessionID]
	if e == nil && page == nil && g == (Geo{}) {
		// A ping from a visitor this node has no record of: their next
		// presence frame (which follows every auth) says more.
		r.mu.Unlock()
		return
	}
	write := false
	if e == nil || e.contactID != a.ContactID {
		if r.seen == nil {
			r.seen = make(map[int64]*visitSeen)
		}
		e = &visitSeen{contactID: a.ContactID}
		r.seen[a.VisitorSessionID] = e
		write = true
	}
	if now.Sub(e.seen) > model.VisitGap {
		// Back after a long absence: a new visit, whose first page is a
		// view even if it is the page they left on.
		e.url, e.title = "", ""
		write = true
	}
	rec := store.VisitRecord{ContactID: a.ContactID, VisitorSessionID: a.VisitorSessionID, At: now}
	if page != nil && page.URL != "" && (page.URL != e.url || page.Title != e.title) {
		e.url, e.title = page.URL, page.Title
		rec.URL, rec.Title = page.URL, page.Title
		write = true
	}
	for _, f := range []struct {
		known *string
		now   string
		rec   *string
	}{{&e.timeZone, timeZone, &rec.TimeZone}, {&e.locale, locale, &rec.Locale}, {&e.country, g.Country, &rec.Country}, {&e.city, g.City, &rec.City}} {
		if f.now != "" && f.now != *f.known {
			*f.known, *f.rec = f.now, f.now
			write = true
		}
	}
	if now.Sub(e.written) >= visitTouchEvery {
		write = true
	}
	e.seen = now
	if write {
		e.written = now
	}
	r.sweep(now)
	if write {
		r.enqueueLocked(s, rec)
	}
	r.mu.Unlock()
}

// sweep forgets, at most once a minute, visitors not heard of for a whole
// visit gap (their next signal starts a new visit anyway). r.mu is held.
func (r *visitRecorder) sweep(now time.Time) {
	if now.Sub(r.swept) < time.Minute {
		return
	}
	r.swept = now
	for id, e := range r.seen {
		if now.Sub(e.seen) > model.VisitGap {
			delete(r.seen, id)
		}
	}
}

// enqueueLocked queues a record and starts the writer if it is not
// running. r.mu is held.
func (r *visitRecorder) enqueueLocked(s *Service, rec store.VisitRecord) {
	if len(r.queue) >= visitQueueMax {
		if r.dropped.Add(1)%1000 == 1 {
			s.log.Warn("visit history: write queue full, records dropped", "dropped", r.dropped.Load())
		}
		return
	}
	r.queue = append(r.queue, rec)
	if !r.running {
		r.running = true
		go r.write(s)
	}
}

// write drains the queue, visitBatchMax records per transaction, and
// exits when it is empty.
func (r *visitRecorder) write(s *Service) {
	for {
		r.mu.Lock()
		n := min(len(r.queue), visitBatchMax)
		if n == 0 {
			r.running = false
			r.idle.Broadcast()
			r.mu.Unlock()
			return
		}
		batch := make([]store.VisitRecord, n)
		copy(batch, r.queue)
		r.queue = append(r.queue[:0], r.queue[n:]...)
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := s.st.InTx(ctx, func(tx store.Tx) error {
			for _, rec := range batch {
				// A contact that is gone is no reason to lose the others.
				if _, err := tx.RecordVisit(ctx, rec); err != nil && !apperr.IsNotFound(err) {
					return err
				}
			}
			return nil
		})
		cancel()
		if err != nil {
			s.log.Warn("visit history: write failed", "records", len(batch), "err", err)
		}
	}
}

// waitVisits returns once every queued visit record is written (tests).
func (s *Service) waitVisits() {
	r := &s.visits
	r.mu.Lock()
	if r.idle.L == nil {
		r.idle.L = &r.mu
	}
	for r.running {
		r.idle.Wait()
	}
	r.mu.Unlock()
}

// VisitsView is a contact's visit history for the console's sidebar.
type VisitsView struct {
	model.Visits
	// Views are the contact's most recent page views, newest first.
	Views []model.PageView `json:"views"`
}

// ContactVisits returns a contact's visit history, for staff of the
// contact's site; anyone else is told the contact does not exist.
func (s *Service) ContactVisits(ctx context.Context, a Actor, contactID int64) (VisitsView, error) {
	if !a.IsStaff() {
		return VisitsView{}, apperr.Forbidden("staff_only", "only staff see visit history")
	}
	c, err := s.st.GetContact(ctx, contactID)
	if err != nil {
		return VisitsView{}, err
	}
	if !a.SeesSite(c.SiteID) {
		return VisitsView{}, apperr.NotFound("contact")
	}
	v, err := s.st.GetVisits(ctx, contactID)
	if err != nil {
		return VisitsView{}, err
	}
	if v.SiteID == 0 {
		v.SiteID = c.SiteID
	}
	views, err := s.st.ListPageViews(ctx, contactID, 100)
	if err != nil {
		return VisitsView{}, err
	}
	return VisitsView{Visits: v, Views: views}, nil
}

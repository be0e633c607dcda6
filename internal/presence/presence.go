// Package presence tracks which visitors are on their site right now and
// where, as known to this node: its own visitors, plus those other nodes
// announce over the bus (Observe), kept until announced offline or not heard
// of for RemoteTTL. Presence is ephemeral (DESIGN.md §2.7): it lives in memory, is never
// written to a timeline, and expires on its own: a visitor is online while
// signals arrive and offline TTL after the last one (60 s by default), which
// is what lets a console drop a customer who closed the tab without any
// goodbye from the browser.
package presence

import (
	"sort"
	"sync"
	"time"

	"switchboard/internal/clock"
)

// DefaultTTL is how long a visitor stays online after their last signal.
const DefaultTTL = 60 * time.Second

// Visitor is the presence of one visitor session (one browser on one site).
type Visitor struct {
	SessionID int64     `json:"visitor_session_id"`
	SiteID    int64     `json:"site_id"`
	ContactID int64     `json:"contact_id"`
	Online    bool      `json:"online"`
	URL       string    `json:"url"`
	Title     string    `json:"title"`
	Visible   bool      `json:"visible"`
	Minimized bool      `json:"minimized"`
	LastSeen  time.Time `json:"last_seen"`
}

type entry struct {
	v       Visitor
	timer   clock.Timer
	remote  bool      // learnt from another node's announcement
	lastPub time.Time // local entries: when onChange last announced it
}

// RepublishEvery is how often a node re-announces a visitor who is still
// online, so other nodes keep them (their copies expire after RemoteTTL).
const RepublishEvery = 45 * time.Second

// RemoteTTL is how long a node keeps another node's visitor without hearing
// of them again: a node that dies cannot announce its visitors offline.
const RemoteTTL = 2 * time.Minute

// Registry holds the presence of the visitors seen by this node.
// It is safe for concurrent use.
type Registry struct {
	clk      clock.Clock
	ttl      time.Duration
	onChange func(v Visitor, changed bool)

	mu       sync.Mutex
	visitors map[int64]*entry // by visitor session id
}

// New returns a registry. onChange is called (outside the registry's lock)
// whenever a visitor comes online, goes offline, or changes page, title,
// visibility or minimised state (changed = true), and every RepublishEvery
// for a visitor still online without change (changed = false: only other
// nodes need that, to keep them; consoles do not). It must not block.
func New(clk clock.Clock, ttl time.Duration, onChange func(v Visitor, changed bool)) *Registry {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if onChange == nil {
		onChange = func(Visitor, bool) {}
	}
	return &Registry{clk: clk, ttl: ttl, onChange: onChange, visitors: make(map[int64]*entry)}
}

// Signal records a sign of life with the visitor's current state and
// restarts their expiry.
func (r *Registry) Signal(v Visitor) {
	now := r.clk.Now()
	v.Online = true
	v.LastSeen = now
	r.mu.Lock()
	e, ok := r.visitors[v.SessionID]
	changed := !ok || e.remote || e.v.URL != v.URL || e.v.Title != v.Title || e.v.Visible != v.Visible || e.v.Minimized != v.Minimized
	if !ok {
		e = &entry{}
		r.visitors[v.SessionID] = e
	} else if e.timer != nil {
		e.timer.Stop()
	}
	e.v, e.remote = v, false
	// Re-announce now and then even without a change, so other nodes keep
	// this visitor (see RemoteTTL).
	announce := changed || now.Sub(e.lastPub) >= RepublishEvery
	if announce {
		e.lastPub = now
	}
	id := v.SessionID
	e.timer = r.clk.AfterFunc(r.ttl, func() { r.expire(id, now) })
	r.mu.Unlock()
	if announce {
		r.onChange(v, changed)
	}
}

// Observe records another node's announcement of a visitor. It never calls
// onChange (the other node announced it already). An online visitor is kept
// for RemoteTTL unless announced again; an offline one is forgotten, unless
// this node has them itself (the same browser reconnected here).
func (r *Registry) Observe(v Visitor) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.visitors[v.SessionID]
	if ok && !e.remote {
		return // this node's own knowledge wins
	}
	if !v.Online {
		if ok {
			e.timer.Stop()
			delete(r.visitors, v.SessionID)
		}
		return
	}
	if !ok {
		e = &entry{remote: true}
		r.visitors[v.SessionID] = e
	} else {
		e.timer.Stop()
	}
	e.v = v
	seen := r.clk.Now()
	e.v.LastSeen = seen
	id := v.SessionID
	e.timer = r.clk.AfterFunc(RemoteTTL, func() { r.expireRemote(id, seen) })
}

// expireRemote forgets another node's visitor not announced again in time.
func (r *Registry) expireRemote(sessionID int64, seen time.Time) {
	r.mu.Lock()
	e, ok := r.visitors[sessionID]
	if !ok || !e.remote || e.v.LastSeen.After(seen) {
		r.mu.Unlock()
		return
	}
	delete(r.visitors, sessionID)
	v := e.v
	r.mu.Unlock()
	v.Online = false
	// Their node went quiet (it may have died): announce them offline, so
	// consoles everywhere stop showing them.
	r.onChange(v, true)
}

// Touch keeps a visitor online without changing what they are looking at
// (a socket heartbeat). It reports false, doing nothing, for a visitor who is
// not online.
func (r *Registry) Touch(sessionID int64) bool {
	r.mu.Lock()
	e, ok := r.visitors[sessionID]
	if !ok || e.remote {
		r.mu.Unlock()
		return false
	}
	v := e.v
	r.mu.Unlock()
	r.Signal(v)
	return true
}

// expire marks the visitor offline if no signal came after the one at seen.
func (r *Registry) expire(sessionID int64, seen time.Time) {
	r.mu.Lock()
	e, ok := r.visitors[sessionID]
	if !ok || e.remote || e.v.LastSeen.After(seen) {
		r.mu.Unlock()
		return
	}
	delete(r.visitors, sessionID)
	v := e.v
	r.mu.Unlock()
	v.Online = false
	r.onChange(v, true)
}

// Get returns the presence of one visitor session.
func (r *Registry) Get(sessionID int64) (Visitor, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.visitors[sessionID]
	if !ok {
		return Visitor{}, false
	}
	return e.v, true
}

// ContactOnline reports whether any browser of the contact is online, and
// the most recently active one.
func (r *Registry) ContactOnline(contactID int64) (Visitor, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var best Visitor
	found := false
	for _, e := range r.visitors {
		if e.v.ContactID == contactID && (!found || e.v.LastSeen.After(best.LastSeen)) {
			best, found = e.v, true
		}
	}
	return best, found
}

// Online lists the online visitors of the given sites (nil: all sites),
// ordered by session id.
func (r *Registry) Online(siteIDs []int64) []Visitor {
	allowed := make(map[int64]bool, len(siteIDs))
	for _, id := range siteIDs {
		allowed[id] = true
	}
	r.mu.Lock()
	out := make([]Visitor, 0, len(r.visitors))
	for _, e := range r.visitors {
		if siteIDs == nil || allowed[e.v.SiteID] {
			out = append(out, e.v)
		}
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].SessionID < out[j].SessionID })
	return out
}

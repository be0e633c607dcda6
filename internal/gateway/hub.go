package gateway

import (
	"sync"

	"switchboard/internal/bus"
	"switchboard/internal/model"
)

type set map[*socket]struct{}

func (s set) add(x *socket) { s[x] = struct{}{} }

// hub indexes the open sockets so an event reaches only those that may see
// it, without scanning every socket.
type hub struct {
	mu        sync.RWMutex
	sockets   set
	byContact map[int64]set // visitors by contact
	bySite    map[int64]set // staff by site membership
	allSites  set           // admins (every site)
	staff     set           // every staff socket
	byUser    map[int64]set // staff by user
	byConv    map[int64]set // staff following a conversation
}

func (h *hub) init() {
	h.sockets = set{}
	h.byContact = map[int64]set{}
	h.bySite = map[int64]set{}
	h.allSites = set{}
	h.staff = set{}
	h.byUser = map[int64]set{}
	h.byConv = map[int64]set{}
}

func addTo(m map[int64]set, k int64, s *socket) {
	x := m[k]
	if x == nil {
		x = set{}
		m[k] = x
	}
	x.add(s)
}

func removeFrom(m map[int64]set, k int64, s *socket) {
	if x := m[k]; x != nil {
		delete(x, s)
		if len(x) == 0 {
			delete(m, k)
		}
	}
}

// track records an open socket, authenticated or not, so Shutdown can
// close it.
func (h *hub) track(s *socket) {
	h.mu.Lock()
	h.sockets.add(s)
	h.mu.Unlock()
}

// register indexes an authenticated socket for event delivery.
func (h *hub) register(s *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.sockets[s]; !ok {
		return // already gone
	}
	s.registered = true
	a := s.actorCopy()
	if a.Party == model.PartyVisitor {
		addTo(h.byContact, a.ContactID, s)
		return
	}
	h.staff.add(s)
	addTo(h.byUser, a.User.ID, s)
	if a.SiteIDs == nil {
		h.allSites.add(s)
	} else {
		for _, id := range a.SiteIDs {
			addTo(h.bySite, id, s)
		}
	}
}

func (h *hub) unregister(s *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.sockets[s]; !ok {
		return
	}
	delete(h.sockets, s)
	if !s.registered {
		return
	}
	a := s.actorCopy()
	if a.Party == model.PartyVisitor {
		removeFrom(h.byContact, a.ContactID, s)
		return
	}
	delete(h.staff, s)
	delete(h.allSites, s)
	removeFrom(h.byUser, a.User.ID, s)
	for _, id := range a.SiteIDs {
		removeFrom(h.bySite, id, s)
	}
	if s.st != nil {
		for id := range s.st.follows {
			removeFrom(h.byConv, id, s)
		}
	}
}

// follow makes a staff socket receive a conversation's timeline events.
func (h *hub) follow(s *socket, convID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.sockets[s]; !ok || s.st == nil {
		return
	}
	if s.st.follows == nil {
		s.st.follows = make(map[int64]struct{})
	}
	s.st.follows[convID] = struct{}{}
	addTo(h.byConv, convID, s)
}

func (h *hub) unfollow(s *socket, convID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.st != nil {
		delete(s.st.follows, convID)
	}
	removeFrom(h.byConv, convID, s)
}

func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.sockets)
}

func (h *hub) all() []*socket {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*socket, 0, len(h.sockets))
	for s := range h.sockets {
		out = append(out, s)
	}
	return out
}

func (h *hub) user(id int64) []*socket {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*socket, 0, len(h.byUser[id]))
	for s := range h.byUser[id] {
		out = append(out, s)
	}
	return out
}

// recipients calls fn for every socket that may receive e. It holds the read
// lock while calling fn, so fn must only enqueue.
func (h *hub) recipients(e *bus.Event, fn func(*socket)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	visit := func(x set) {
		for s := range x {
			if e.ExceptSocket == "" || s.id != e.ExceptSocket {
				fn(s)
			}
		}
	}
	switch e.Type {
	case bus.TypeMessage:
		// Visitors get internal message events too, but only to advance their
		// cursor: the socket never writes an internal frame to a visitor.
		visit(h.byContact[e.ContactID])
		visit(h.byConv[e.ConversationID])
	case bus.TypeTyping, bus.TypeRead:
		if e.Visibility == model.Public {
			visit(h.byContact[e.ContactID])
		}
		visit(h.byConv[e.ConversationID])
	case bus.TypeChat, bus.TypeConversation, bus.TypePresence:
		if e.Visibility == model.Public {
			visit(h.byContact[e.ContactID])
		}
		visit(h.bySite[e.SiteID])
		visit(h.allSites)
	case bus.TypeQueue:
		// Where a waiting visitor stands: theirs alone.
		visit(h.byContact[e.ContactID])
	case bus.TypeOffer, bus.TypeMention:
		visit(h.byUser[e.UserID])
	case bus.TypeAvailability:
		// One event per site of the user: colleagues of that site, admins,
		// and the user's own other sockets.
		seen := set{}
		for _, x := range []set{h.bySite[e.SiteID], h.allSites, h.byUser[e.UserID]} {
			for s := range x {
				seen.add(s)
			}
		}
		visit(seen)
	}
}

// Package routing decides who gets a chat and in what order chats are served.
//
// This file holds the pure decision rules: which agents are eligible, which
// one a strategy picks, in what order waiting chats are served, and how long
// a visitor can expect to wait. They read no clock and no store, so they are
// table-tested and fast (a decision over 1,000 agents is a linear scan). The
// engine that applies them claims each decision through the store, so a chat
// is offered once across nodes (DESIGN.md §2.5).
package routing

import (
	"sort"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
)

// Strategy is how a site or department hands out chats.
type Strategy string

const (
	// RoundRobin offers each chat to the eligible agent who was offered a
	// chat longest ago (never offered counts as longest), so chats are
	// spread evenly in turn.
	RoundRobin Strategy = "round_robin"
	// LeastBusy offers to the eligible agent with the fewest active chats;
	// ties go to the one idle longest.
	LeastBusy Strategy = "least_busy"
	// PriorityBased serves urgent chats before high, normal and low, oldest
	// first within a priority; each goes to agents in round-robin turn.
	PriorityBased Strategy = "priority"
	// Broadcast offers each chat to every eligible agent; the first to join
	// takes it.
	Broadcast Strategy = "broadcast"
)

// ParseStrategy validates a strategy name.
func ParseStrategy(s string) (Strategy, error) {
	switch st := Strategy(s); st {
	case RoundRobin, LeastBusy, PriorityBased, Broadcast:
		return st, nil
	}
	return "", apperr.Invalid("unknown_strategy", "strategy is one of round_robin, least_busy, priority, broadcast")
}

// Agent is what routing needs to know about a staff user for one department.
type Agent struct {
	UserID       int64
	Availability model.Availability
	Active       int       // chats they are in or offered now
	Capacity     int       // most concurrent chats
	LastOfferAt  time.Time // zero: never offered
	IdleSince    time.Time // when their active count last dropped to its value
}

// Eligible reports whether an agent may be offered one more chat: online
// and accepting (available, or busy with room) and under capacity. Away and
// offline agents are never offered chats.
func (a Agent) Eligible() bool {
	if a.Availability != model.Available && a.Availability != model.Busy {
		return false
	}
	return a.Active < a.Capacity
}

// Choose returns the agents a new chat is offered to, best first: one agent
// for the single-offer strategies, every eligible agent for Broadcast, none
// when nobody has room. It does not modify agents.
func Choose(s Strategy, agents []Agent) []int64 {
	if s == Broadcast {
		out := make([]int64, 0, len(agents))
		for _, a := range agents {
			if a.Eligible() {
				out = append(out, a.UserID)
			}
		}
		return out
	}
	best := -1
	for i, a := range agents {
		if !a.Eligible() {
			continue
		}
		if best < 0 || better(s, a, agents[best]) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	return []int64{agents[best].UserID}
}

// better reports whether a should get the chat rather than b.
func better(s Strategy, a, b Agent) bool {
	if s == LeastBusy {
		if a.Active != b.Active {
			return a.Active < b.Active
		}
		if !a.IdleSince.Equal(b.IdleSince) {
			return a.IdleSince.Before(b.IdleSince)
		}
		return a.UserID < b.UserID
	}
	// Round robin (and priority, which orders chats, not agents).
	if !a.LastOfferAt.Equal(b.LastOfferAt) {
		return a.LastOfferAt.Before(b.LastOfferAt)
	}
	return a.UserID < b.UserID
}

// Waiting is a chat in the queue.
type Waiting struct {
	ChatID      int64
	Priority    model.Priority
	RequestedAt time.Time
}

// Order sorts waiting chats in the order they will be served: by priority
// (urgent first) for PriorityBased, then oldest first; oldest first for the
// other strategies. Ties are broken by chat id, so the order is total.
func Order(s Strategy, q []Waiting) {
	sort.Slice(q, func(i, j int) bool {
		a, b := q[i], q[j]
		if s == PriorityBased && a.Priority.Rank() != b.Priority.Rank() {
			return a.Priority.Rank() > b.Priority.Rank()
		}
		if !a.RequestedAt.Equal(b.RequestedAt) {
			return a.RequestedAt.Before(b.RequestedAt)
		}
		return a.ChatID < b.ChatID
	})
}

// Positions returns each waiting chat's 1-based place in the queue.
func Positions(s Strategy, q []Waiting) map[int64]int {
	sorted := append([]Waiting(nil), q...)
	Order(s, sorted)
	out := make(map[int64]int, len(sorted))
	for i, w := range sorted {
		out[w.ChatID] = i + 1
	}
	return out
}

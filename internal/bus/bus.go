// Package bus carries "something changed" notices between the parts of one
// node and between nodes. It is NOT a source of truth (DESIGN.md §2.1).
//
// Guarantee: at-most-once, best effort. A published event reaches every
// subscriber that is subscribed when it is published, at most once, in
// publication order per publisher; it may be lost (a broker outage, a slow
// subscriber dropped by the broker). Nothing durable depends on an event
// arriving: a client that sees a gap in a conversation's seq fetches the
// missing entries from the store, and work that must happen once is claimed
// through the store.
//
// Implementations: Memory (one process) and, later, NATS (several nodes).
// Both must pass the contract suite in bus/bustest.
package bus

import (
	"context"

	"switchboard/internal/model"
)

// Event types. The gateway routes them to sockets; Frame is what clients get.
const (
	TypeMessage      = "message"      // a timeline entry was appended (Seq set)
	TypeChat         = "chat"         // a chat changed state or participants
	TypeConversation = "conversation" // ticket fields changed (status, tags, priority, ...)
	TypeTyping       = "typing"       // ephemeral
	TypeRead         = "read"         // a read mark moved
	TypePresence     = "presence"     // a visitor's presence changed (ephemeral)
	// TypePresenceRefresh re-announces a visitor still online without
	// change, for other nodes' registries only: never sent to sockets.
	TypePresenceRefresh = "presence_refresh"
	TypeAvailability    = "availability" // a staff user's availability changed
	TypeUserRevoked     = "user_revoked" // a user was disabled or changed password: close their sockets
	TypeQueue           = "queue"        // a waiting visitor's place and estimated wait (to that visitor)
	TypeOffer           = "offer"        // a chat offered to an agent, or the offer gone (to that agent)
	TypeMention         = "mention"      // a colleague @-mentioned the user in a note (to that user)
	// TypeStaffPresence says a node has (or no longer has) a console of a
	// user open, for other nodes' disconnect grace: never sent to sockets.
	TypeStaffPresence = "staff_presence"
	// TypeWaitSample is a queue wait that just ended, for every node's wait
	// estimates: never sent to sockets.
	TypeWaitSample = "wait_sample"
)

// Event is one notice. Routing fields say who may receive it; Frame is the
// server frame, encoded once by the publisher and written as-is to every
// socket that should receive it.
type Event struct {
	Type           string           `json:"type"`
	SiteID         int64            `json:"site_id,omitempty"`
	ConversationID int64            `json:"conversation_id,omitempty"`
	ContactID      int64            `json:"contact_id,omitempty"` // the visitor side of the conversation
	UserID         int64            `json:"user_id,omitempty"`    // for user-scoped events
	Seq            int64            `json:"seq,omitempty"`        // for TypeMessage
	Visibility     model.Visibility `json:"visibility,omitempty"` // Internal: never to visitors
	// ExceptSocket names a socket that must not receive the event (the
	// sender of a typing indicator). Empty: none.
	ExceptSocket string `json:"except_socket,omitempty"`
	Frame        []byte `json:"frame"`
	Origin       string `json:"origin,omitempty"` // node id of the publisher
}

// Bus publishes events to every subscriber, on this node and others.
type Bus interface {
	// Publish sends e to every current subscriber. It does not wait for
	// remote subscribers; an error means the event certainly was not sent.
	Publish(ctx context.Context, e Event) error

	// Subscribe calls fn for every event published from now on, including
	// this node's own. fn is called from one goroutine per subscription, in
	// order; it must not block (hand work to a bounded queue instead).
	// The returned cancel stops delivery; after it returns fn is not called.
	Subscribe(fn func(Event)) (cancel func(), err error)

	// Close stops all deliveries and releases resources.
	Close() error
}

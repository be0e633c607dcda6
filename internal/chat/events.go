package chat

import (
	"context"
	"encoding/json"
	"time"

	"switchboard/internal/bus"
	"switchboard/internal/model"
	"switchboard/internal/presence"
	"switchboard/internal/protocol"
)

// now is the service's clock, at the store's precision.
func (s *Service) now() time.Time { return s.clk.Now().UTC().Truncate(time.Microsecond) }

// publish sends an event on the bus. A failed publish is logged, never
// returned: the write it announces is already durable and clients catch up
// from the store (DESIGN.md §2.1).
func (s *Service) publish(e bus.Event) {
	e.Origin = s.node
	if err := s.bus.Publish(context.Background(), e); err != nil {
		s.log.Warn("publish event", "type", e.Type, "conversation", e.ConversationID, "err", err)
	}
}

// publishMessage runs in commit callbacks, on the store's writer: the frame
// is written without reflection (MessageEvent).
func (s *Service) publishMessage(r convRef, m model.Message) {
	s.publish(bus.Event{
		Type: bus.TypeMessage, SiteID: r.SiteID, ConversationID: m.ConversationID, ContactID: r.ContactID,
		Seq: m.Seq, Visibility: m.Visibility,
		Frame: MessageEvent(m),
	})
}

// publishChat announces a chat's state and participants. It is public: the
// visitor's widget shows who joined and when the chat ended.
func (s *Service) publishChat(r convRef, v ChatView) {
	s.publish(bus.Event{
		Type: bus.TypeChat, SiteID: r.SiteID, ConversationID: v.Chat.ConversationID, ContactID: r.ContactID,
		Visibility: model.Public,
		Frame:      protocol.Event(bus.TypeChat, v.Chat.ConversationID, 0, v),
	})
}

// publishConversation announces ticket fields; staff only (tags, priority
// and assignment are internal).
func (s *Service) publishConversation(c model.Conversation) {
	s.publish(bus.Event{
		Type: bus.TypeConversation, SiteID: c.SiteID, ConversationID: c.ID, ContactID: c.ContactID,
		Visibility: model.Internal,
		Frame:      protocol.Event(bus.TypeConversation, c.ID, 0, c),
	})
}

// TypingEvent is the data of a typing frame.
type TypingEvent struct {
	Party  model.Party `json:"party"`
	UserID int64       `json:"user_id,omitempty"`
	Name   string      `json:"name,omitempty"`
	Typing bool        `json:"typing"`
}

// AvailabilityEvent is the data of an availability frame.
type AvailabilityEvent struct {
	UserID       int64              `json:"user_id"`
	Name         string             `json:"name"`
	Availability model.Availability `json:"availability"`
}

// publishPresence announces a visitor's presence. A re-announcement without
// change goes out as presence_refresh, which only other nodes' registries
// read: consoles are not sent a frame per online visitor every 45 s.
func (s *Service) publishPresence(v presence.Visitor, changed bool) {
	typ := bus.TypePresence
	if !changed {
		typ = bus.TypePresenceRefresh
	}
	s.publish(bus.Event{
		Type: typ, SiteID: v.SiteID, ContactID: v.ContactID,
		Visibility: model.Internal,
		Frame:      protocol.Event(bus.TypePresence, 0, 0, v),
	})
}

// observeRemote records presence announced by other nodes, so every node
// knows who is on the site (DESIGN.md: presence consistent across nodes).
// It runs on the bus's delivery goroutine and does not block.
func (s *Service) observeRemote(e bus.Event) {
	if (e.Type != bus.TypePresence && e.Type != bus.TypePresenceRefresh) || e.Origin == s.node {
		return
	}
	var f struct {
		Data presence.Visitor `json:"data"`
	}
	if err := json.Unmarshal(e.Frame, &f); err != nil || f.Data.SessionID == 0 {
		s.log.Warn("undecodable presence announcement", "origin", e.Origin, "err", err)
		return
	}
	s.presence.Observe(f.Data)
}

package gateway

import (
	"context"
	"strings"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/bus"
	"switchboard/internal/chat"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
)

// commandTimeout bounds one command, including its durable commit.
const commandTimeout = 15 * time.Second

// handle runs one client frame and enqueues exactly one reply (for
// subscribe, the writer sends it after the replay).
func (s *socket) handle(data []byte) {
	if s.authed.Load() {
		// Most frames are messages: their common form is read in one pass,
		// without reflection; any other form goes the general way below.
		if f, d, ok := protocol.DecodeSend(data); ok {
			s.send(f, d)
			return
		}
	}
	f, err := protocol.DecodeClientFrame(data)
	if err != nil {
		s.reply(f.ID, err)
		return
	}
	if !s.authed.Load() {
		if f.Type != protocol.CmdAuth {
			s.reply(f.ID, apperr.New(apperr.KindUnauthenticated, "auth_required", "the first frame must be auth"))
			s.closeAfterFlush(protocol.CloseUnauthenticated, "authentication required")
			return
		}
		s.auth(f)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	a := s.actorCopy()
	switch f.Type {
	case protocol.CmdAuth:
		s.reply(f.ID, apperr.Conflict("already_authenticated", "this socket is already authenticated"))
	case protocol.CmdPing:
		s.g.chat.Touch(a)
		s.ack(f.ID, map[string]any{"time": s.g.clk.Now().UTC()})
	case protocol.CmdSubscribe:
		var d protocol.SubscribeData
		if err := s.decode(f, &d); err != nil {
			return
		}
		if d.AfterSeq < 0 {
			s.reply(f.ID, apperr.Invalid("invalid_seq", "after_seq must not be negative"))
			return
		}
		if err := s.g.chat.CanSee(ctx, a, d.ConversationID); err != nil {
			s.reply(f.ID, err)
			return
		}
		if a.IsStaff() {
			s.g.hub.follow(s, d.ConversationID)
		}
		s.enqueue(item{sub: &subReq{id: f.ID, convID: d.ConversationID, afterSeq: d.AfterSeq, epoch: d.Epoch}})
	case protocol.CmdUnsubscribe:
		var d protocol.ConversationData
		if err := s.decode(f, &d); err != nil {
			return
		}
		if a.IsStaff() {
			s.g.hub.unfollow(s, d.ConversationID)
		}
		s.enqueue(item{unsub: &subReq{id: f.ID, convID: d.ConversationID}})
	case protocol.CmdSend, protocol.CmdNote:
		var d protocol.SendData
		if err := s.decode(f, &d); err != nil {
			return
		}
		s.send(f, d)
	case protocol.CmdTyping:
		var d protocol.TypingData
		if err := s.decode(f, &d); err != nil {
			return
		}
		// Authorise first: the throttle must not answer for conversations
		// the actor cannot see, nor remember their ids.
		if err := s.g.chat.CanSee(ctx, a, d.ConversationID); err != nil {
			s.reply(f.ID, err)
			return
		}
		now := s.g.clk.Now()
		if last, ok := s.typingAt[d.ConversationID]; d.Typing && ok && now.Sub(last) < s.g.opts.TypingInterval {
			s.ack(f.ID, map[string]any{"relayed": false}) // throttled: the last one is still showing
			return
		}
		err := s.g.chat.Typing(ctx, a, d.ConversationID, d.Typing, s.id)
		if err == nil {
			if d.Typing {
				if s.typingAt == nil || len(s.typingAt) >= 1024 {
					s.typingAt = make(map[int64]time.Time) // bound the memory; worst case one extra relay
				}
				s.typingAt[d.ConversationID] = now
			} else {
				delete(s.typingAt, d.ConversationID)
			}
		}
		s.result(f.ID, map[string]any{"relayed": true}, err)
	case protocol.CmdRead:
		var d protocol.ReadData
		if err := s.decode(f, &d); err != nil {
			return
		}
		mark, err := s.g.chat.MarkRead(ctx, a, d.ConversationID, d.Seq)
		s.result(f.ID, mark, err)
	case protocol.CmdPresence:
		var d protocol.PresenceData
		if err := s.decode(f, &d); err != nil {
			return
		}
		s.result(f.ID, nil, s.g.chat.Signal(a, d))
	case protocol.CmdRequestChat:
		var d protocol.RequestChatData
		if err := s.decode(f, &d); err != nil {
			return
		}
		v, err := s.g.chat.RequestChat(ctx, a, chat.RequestChatInput{Name: d.Name, Email: d.Email, Body: d.Body, ClientID: d.ClientID, DepartmentID: d.DepartmentID})
		if err == nil && d.Name != "" {
			s.setVisitorName(d.Name)
		}
		s.result(f.ID, v, err)
	case protocol.CmdHandoff:
		var d protocol.HandoffData
		if err := s.decode(f, &d); err != nil {
			return
		}
		v, err := s.g.chat.Handoff(ctx, a, d.ConversationID, d.DepartmentID)
		s.result(f.ID, v, err)
	case protocol.CmdEndChat:
		var d protocol.ConversationData
		if err := s.decode(f, &d); err != nil {
			return
		}
		v, err := s.g.chat.End(ctx, a, d.ConversationID)
		s.result(f.ID, viewFor(a, v), err)
	case protocol.CmdJoin, protocol.CmdLeave:
		var d protocol.ConversationData
		if err := s.decode(f, &d); err != nil {
			return
		}
		if !a.IsStaff() {
			s.reply(f.ID, apperr.Invalid("unknown_command", "unknown command type "+f.Type))
			return
		}
		var v chat.ConversationView
		if f.Type == protocol.CmdJoin {
			v, err = s.g.chat.Join(ctx, a, d.ConversationID)
		} else {
			v, err = s.g.chat.Leave(ctx, a, d.ConversationID)
		}
		s.result(f.ID, v, err)
	case protocol.CmdDecline:
		var d protocol.ConversationData
		if err := s.decode(f, &d); err != nil {
			return
		}
		if !a.IsStaff() {
			s.reply(f.ID, apperr.Invalid("unknown_command", "unknown command type "+f.Type))
			return
		}
		s.result(f.ID, map[string]any{"declined": true}, s.g.chat.Decline(ctx, a, d.ConversationID))
	case protocol.CmdTransfer, protocol.CmdInvite, protocol.CmdAssign:
		var d protocol.HandOverData
		if err := s.decode(f, &d); err != nil {
			return
		}
		if !a.IsStaff() {
			s.reply(f.ID, apperr.Invalid("unknown_command", "unknown command type "+f.Type))
			return
		}
		if f.Type != protocol.CmdTransfer && d.DepartmentID != 0 {
			s.reply(f.ID, apperr.Invalid("invalid_"+f.Type, f.Type+" takes a user_id only"))
			return
		}
		var v chat.ConversationView
		switch f.Type {
		case protocol.CmdTransfer:
			v, err = s.g.chat.Transfer(ctx, a, d.ConversationID, chat.TransferInput{UserID: d.UserID, DepartmentID: d.DepartmentID})
		case protocol.CmdInvite:
			v, err = s.g.chat.Invite(ctx, a, d.ConversationID, d.UserID)
		default:
			v, err = s.g.chat.Assign(ctx, a, d.ConversationID, d.UserID)
		}
		s.result(f.ID, v, err)
	case protocol.CmdAvailable:
		var d protocol.AvailabilityData
		if err := s.decode(f, &d); err != nil {
			return
		}
		u, err := s.g.chat.SetAvailability(ctx, a, model.Availability(d.Availability))
		s.result(f.ID, u, err)
	default:
		s.reply(f.ID, apperr.Invalid("unknown_command", "unknown command type "+f.Type))
	}
}

// send runs a send or note command of an authenticated socket. The ack
// carries the message, written without reflection (chat.MessageAck).
func (s *socket) send(f protocol.ClientFrame, d protocol.SendData) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	a := s.actorCopy()
	in := chat.SendInput{ConversationID: d.ConversationID, ClientID: d.ClientID, Body: d.Body, AttachmentID: d.AttachmentID, Mentions: d.Mentions}
	var m model.Message
	var err error
	if f.Type == protocol.CmdSend {
		m, err = s.g.chat.Send(ctx, a, in)
	} else {
		m, err = s.g.chat.Note(ctx, a, in)
	}
	if err != nil {
		s.result(f.ID, nil, err)
		return
	}
	s.enqueue(item{frame: chat.MessageAck(f.ID, m)})
}

// viewFor strips what a visitor may not see from a staff view.
func viewFor(a chat.Actor, v chat.ConversationView) any {
	if a.IsStaff() {
		return v
	}
	return map[string]any{"chat": v.Chat}
}

func (s *socket) decode(f protocol.ClientFrame, v any) error {
	if err := protocol.DecodeData(f.Data, v); err != nil {
		s.reply(f.ID, err)
		return err
	}
	return nil
}

func (s *socket) result(id string, data any, err error) {
	if err != nil {
		if apperr.KindOf(err) == apperr.KindInternal {
			s.g.log.Error("command failed", "socket", s.id, "err", err)
		}
		s.reply(id, err)
		return
	}
	s.ack(id, data)
}

// auth authenticates a visitor socket with its first frame.
func (s *socket) auth(f protocol.ClientFrame) {
	var d protocol.AuthData
	if err := protocol.DecodeData(f.Data, &d); err != nil {
		s.reply(f.ID, err)
		s.closeAfterFlush(protocol.CloseUnauthenticated, "authentication failed")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	actor, site, err := s.g.chat.AuthenticateVisitor(ctx, d.Token)
	if err != nil {
		s.reply(f.ID, err)
		s.closeAfterFlush(protocol.CloseUnauthenticated, "authentication failed")
		return
	}
	if err := chat.CheckOrigin(site, s.origin); err != nil {
		s.reply(f.ID, err)
		s.closeAfterFlush(protocol.CloseForbidden, "origin not allowed")
		return
	}
	convs, err := s.g.chat.VisitorConversations(ctx, actor)
	if err != nil {
		s.reply(f.ID, err)
		s.closeAfterFlush(protocol.CloseUnauthenticated, "authentication failed")
		return
	}
	s.amu.Lock()
	s.vis = compactVisitor(actor)
	s.amu.Unlock()
	s.authed.Store(true)
	s.timerMu.Lock()
	if s.authT != nil {
		s.authT.Stop()
		s.authT = nil // an idle socket keeps no spent timer
	}
	s.timerMu.Unlock()
	s.g.hub.register(s)
	s.g.chat.Touch(actor) // online, keeping the page another tab reported
	s.ack(f.ID, map[string]any{
		"epoch": s.g.st.Epoch(), "socket_id": s.id, "site_id": actor.SiteID, "contact_id": actor.ContactID,
		"visitor_session_id": actor.VisitorSessionID, "conversations": convs,
	})
}

// RevokeUser closes a user's sockets with 4009: their sessions or their
// access (role, sites) changed. The sockets stop executing commands at once.
func (g *Gateway) RevokeUser(userID int64) {
	for _, s := range g.hub.user(userID) {
		s.closeAfterFlush(protocol.CloseRevoked, "session or access changed")
	}
}

// RevokeSession closes the sockets one sign-in of a user opened (sign-out).
// Other nodes close theirs at their next session check.
func (g *Gateway) RevokeSession(userID int64, session string) {
	for _, s := range g.hub.user(userID) {
		if s.st != nil && s.st.session == session {
			s.closeAfterFlush(protocol.CloseRevoked, "signed out")
		}
	}
}

// dispatch routes a bus event to the sockets that may receive it. It runs on
// the bus's delivery goroutine and only enqueues.
func (g *Gateway) dispatch(e bus.Event) {
	if e.Type == bus.TypeUserRevoked {
		g.RevokeUser(e.UserID)
		return
	}
	ev := &e
	g.hub.recipients(ev, func(s *socket) { s.enqueue(item{ev: ev}) })
}

// actorCopy returns the socket's actor. The reader sets it (auth, name from
// the pre-chat form); the writer reads it for replays, hence the lock.
func (s *socket) actorCopy() chat.Actor {
	if s.st != nil {
		return s.st.actor // set before the socket is served, never changed
	}
	s.amu.RLock()
	defer s.amu.RUnlock()
	return s.vis.actor()
}

func (s *socket) setVisitorName(name string) {
	s.amu.Lock()
	s.vis.setName(strings.TrimSpace(name))
	s.amu.Unlock()
}

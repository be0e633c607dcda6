package chat

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/bus"
	"switchboard/internal/model"
	"switchboard/internal/presence"
	"switchboard/internal/protocol"
	"switchboard/internal/store"
)

// ParticipantView is a staff participant of a chat with their display name.
type ParticipantView struct {
	UserID   int64     `json:"user_id"`
	Name     string    `json:"name"`
	JoinedAt time.Time `json:"joined_at"`
	LeftAt   time.Time `json:"left_at,omitzero"` // zero while in the chat
	// AvatarURL is the root-relative URL of their profile picture (see
	// model.AvatarPath), absent when they have none; the widget, on
	// another origin, prefixes the server's base.
	AvatarURL string `json:"avatar_url,omitempty"`
}

// ChatView is a chat with its participants.
type ChatView struct {
	Chat         model.Chat        `json:"chat"`
	Participants []ParticipantView `json:"participants"`
}

// active reports whether user is currently in the chat.
func (v ChatView) active(userID int64) bool {
	for _, p := range v.Participants {
		if p.UserID == userID && p.LeftAt.IsZero() {
			return true
		}
	}
	return false
}

// present returns the users in the chat now.
func (v ChatView) present() []int64 {
	var out []int64
	for _, p := range v.Participants {
		if p.LeftAt.IsZero() {
			out = append(out, p.UserID)
		}
	}
	return out
}

func (v ChatView) activeCount() int {
	n := 0
	for _, p := range v.Participants {
		if p.LeftAt.IsZero() {
			n++
		}
	}
	return n
}

// chatView loads a chat and its participants through r (the store or a tx).
func (s *Service) chatView(ctx context.Context, r store.Reader, chatID int64) (ChatView, error) {
	c, err := r.GetChat(ctx, chatID)
	if err != nil {
		return ChatView{}, err
	}
	ps, err := r.ListParticipants(ctx, chatID)
	if err != nil {
		return ChatView{}, err
	}
	v := ChatView{Chat: c, Participants: make([]ParticipantView, 0, len(ps))}
	for _, p := range ps {
		u, err := r.GetUser(ctx, p.UserID)
		if err != nil {
			return ChatView{}, err
		}
		v.Participants = append(v.Participants, ParticipantView{UserID: p.UserID, Name: u.Name, JoinedAt: p.JoinedAt, LeftAt: p.LeftAt,
			AvatarURL: u.AvatarURL})
	}
	return v, nil
}

func presenceOf(a Actor, p protocol.PresenceData) presence.Visitor {
	return presence.Visitor{SessionID: a.VisitorSessionID, SiteID: a.SiteID, ContactID: a.ContactID,
		URL: p.URL, Title: p.Title, Visible: p.Visible, Minimized: p.Minimized}
}

func authorName(a Actor) string {
	if a.IsStaff() {
		return a.User.Name
	}
	if a.Name != "" {
		return a.Name
	}
	return "Visitor"
}

// appendText appends a text message once per client id. dup reports that the
// client id was already used: the first message is returned and nothing is
// written (DESIGN.md §2.2).
func (s *Service) appendText(ctx context.Context, tx store.Tx, a Actor, convID, chatID int64, clientID, body string, att *model.Attachment) (model.Message, bool, error) {
	m := model.Message{ConversationID: convID, ChatID: chatID, AuthorKind: a.Party, AuthorID: a.authorID(),
		AuthorName: authorName(a), ClientID: clientID, Kind: model.KindText, Visibility: model.Public,
		Body: body, CreatedAt: s.now()}
	if att != nil {
		m.AttachmentID = att.ID
	}
	if err := tx.AppendMessage(ctx, &m); err != nil {
		if apperr.CodeOf(err) == "duplicate_client_id" {
			first, err := tx.GetMessageByClientID(ctx, convID, a.Party, a.authorID(), clientID)
			return first, true, err
		}
		return model.Message{}, false, err
	}
	m.Attachment = att
	return m, false, nil
}

// appendVisitorText is appendText for a visitor's message to the
// conversation's current chat (none: no chat), which it returns as the
// append left it, without tags; on a duplicate, the conversation is zero.
func (s *Service) appendVisitorText(ctx context.Context, tx store.Tx, a Actor, convID int64, clientID, body string, att *model.Attachment) (model.Message, model.Conversation, bool, error) {
	m := model.Message{ConversationID: convID, AuthorKind: a.Party, AuthorID: a.authorID(),
		AuthorName: authorName(a), ClientID: clientID, Kind: model.KindText, Visibility: model.Public,
		Body: body, CreatedAt: s.now()}
	if att != nil {
		m.AttachmentID = att.ID
	}
	conv, err := tx.AppendToConversation(ctx, &m)
	if err != nil {
		if apperr.CodeOf(err) == "duplicate_client_id" {
			first, err := tx.GetMessageByClientID(ctx, convID, a.Party, a.authorID(), clientID)
			return first, model.Conversation{}, true, err
		}
		return model.Message{}, model.Conversation{}, false, err
	}
	m.Attachment = att
	return m, conv, false, nil
}

// SendInput is a message to append.
type SendInput struct {
	ConversationID int64
	ClientID       string
	Body           string
	AttachmentID   int64
	Mentions       []int64 // notes only: colleagues to notify (@-mentions)
}

// Send appends a visitor's or an agent's message. Agents must be in the
// active chat; supervisors cannot write to customers. A retry with the same
// client id returns the first message and creates nothing, even if the chat
// ended in between. The message is returned only after it is durable.
func (s *Service) Send(ctx context.Context, a Actor, in SendInput) (model.Message, error) {
	ref, err := s.authorize(ctx, a, in.ConversationID)
	if err != nil {
		return model.Message{}, err
	}
	if err := requireChatWriter(a); err != nil {
		return model.Message{}, err
	}
	if len(in.Mentions) > 0 {
		return model.Message{}, apperr.Invalid("mentions_in_notes_only", "colleagues are mentioned in internal notes, never in messages to the customer")
	}
	if err := validateClientID(in.ClientID); err != nil {
		return model.Message{}, err
	}
	if _, err := s.validateBody(in.Body, in.AttachmentID != 0); err != nil {
		return model.Message{}, err
	}
	var out model.Message
	// One conversation's messages commit on one writer (PostgreSQL), in
	// the order they were sent, without waiting on each other's locks.
	ctx = store.WithAffinity(ctx, in.ConversationID)
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		// A refused check may be a retry of a message that was accepted
		// before the state changed (the chat ended since): answer a retry
		// with the first ack. The append itself detects plain duplicates,
		// so the lookup is only paid on this rare path.
		refuse := func(cause error) error {
			first, err := tx.GetMessageByClientID(ctx, in.ConversationID, a.Party, a.authorID(), in.ClientID)
			if err == nil {
				out = first
				return nil
			}
			if !apperr.IsNotFound(err) {
				return err
			}
			return cause
		}
		// A visitor writes to whatever chat the conversation has, with no
		// check before appending: the append reads the row itself (one
		// statement fewer on the hot path). Staff are checked first.
		var err error // this function's own, not Send's
		var conv model.Conversation
		var chatRow model.Chat
		if a.IsStaff() {
			if conv, err = tx.GetConversation(ctx, in.ConversationID); err != nil {
				return err
			}
			if conv.ChatID == 0 || !conv.ChatState.Live() {
				return refuse(apperr.Conflict("no_live_chat", "there is no live chat in this conversation"))
			}
			if chatRow, err = tx.GetChat(ctx, conv.ChatID); err != nil {
				return err
			}
			joined, err := isParticipant(ctx, tx, chatRow.ID, a.User.ID)
			if err != nil {
				return err
			}
			if chatRow.State != model.ChatActive || !joined {
				return refuse(apperr.Conflict("not_a_participant", "join the chat before writing to the customer"))
			}
		}
		var att *model.Attachment
		if in.AttachmentID != 0 {
			x, err := tx.GetAttachment(ctx, in.AttachmentID)
			if err != nil || x.ConversationID != in.ConversationID || x.UploaderKind != a.Party || x.UploaderID != a.authorID() {
				return refuse(apperr.NotFound("attachment"))
			}
			att = &x
		}
		var m model.Message
		var dup bool
		if a.IsStaff() {
			m, dup, err = s.appendText(ctx, tx, a, conv.ID, conv.ChatID, in.ClientID, in.Body, att)
		} else {
			m, conv, dup, err = s.appendVisitorText(ctx, tx, a, in.ConversationID, in.ClientID, in.Body, att)
		}
		if err != nil {
			return err
		}
		out = m
		if dup {
			return nil
		}
		if err := s.botAnswer(ctx, tx, ref, conv, m); err != nil { // hybrid/assistant mode (bot.go)
			return err
		}
		var reopened *model.Conversation
		if !a.IsStaff() && conv.Status == model.StatusClosed && !conv.ChatState.Live() {
			// A customer writing again reopens their ticket. (Read again:
			// the append returned the row without its tags.)
			if conv, err = tx.GetConversation(ctx, conv.ID); err != nil {
				return err
			}
			conv.Status, conv.UpdatedAt = model.StatusOpen, m.CreatedAt
			if err := tx.UpdateConversation(ctx, conv); err != nil {
				return err
			}
			reopened = &conv
		}
		if a.IsStaff() && (conv.Channel == "sms" || conv.Channel == "whatsapp") {
			// The customer is on their phone: the reply goes there too.
			if err := s.relayToChannel(ctx, tx, conv, m); err != nil {
				return err
			}
		}
		if a.IsStaff() && chatRow.FirstResponseAt.IsZero() {
			chatRow.FirstResponseAt = m.CreatedAt
			if err := tx.UpdateChat(ctx, chatRow); err != nil {
				return err
			}
		}
		tx.OnCommit(func() {
			if reopened != nil {
				s.publishConversation(*reopened)
			}
			s.publishMessage(ref, m)
		})
		return nil
	})
	if err != nil {
		return model.Message{}, err
	}
	if out.AttachmentID != 0 && out.Attachment == nil {
		if att, err := s.st.GetAttachment(ctx, out.AttachmentID); err == nil {
			out.Attachment = &att
		}
	}
	return out, nil
}

// Note appends an internal note (or supervisor @-comment). Only staff write
// notes and only staff ever receive them.
func (s *Service) Note(ctx context.Context, a Actor, in SendInput) (model.Message, error) {
	if !a.IsStaff() {
		return model.Message{}, apperr.NotFound("conversation")
	}
	ref, err := s.authorize(ctx, a, in.ConversationID)
	if err != nil {
		return model.Message{}, err
	}
	if err := validateClientID(in.ClientID); err != nil {
		return model.Message{}, err
	}
	if in.AttachmentID != 0 {
		return model.Message{}, apperr.Invalid("note_attachment_unsupported", "notes cannot carry attachments")
	}
	if _, err := s.validateBody(in.Body, false); err != nil {
		return model.Message{}, err
	}
	mentioned, err := s.mentionable(ctx, ref.SiteID, a.User.ID, in.Mentions)
	if err != nil {
		return model.Message{}, err
	}
	var out model.Message
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		first, err := tx.GetMessageByClientID(ctx, in.ConversationID, a.Party, a.authorID(), in.ClientID)
		if err == nil {
			out = first
			return nil
		}
		if !apperr.IsNotFound(err) {
			return err
		}
		conv, err := tx.GetConversation(ctx, in.ConversationID)
		if err != nil {
			return err
		}
		m := model.Message{ConversationID: conv.ID, ChatID: conv.ChatID, AuthorKind: model.PartyAgent,
			AuthorID: a.User.ID, AuthorName: a.User.Name, ClientID: in.ClientID, Kind: model.KindNote,
			Visibility: model.Internal, Body: in.Body, CreatedAt: s.now()}
		if err := tx.AppendMessage(ctx, &m); err != nil {
			if apperr.CodeOf(err) == "duplicate_client_id" {
				// Another node stored the same note first: return its ack.
				out, err = tx.GetMessageByClientID(ctx, conv.ID, a.Party, a.authorID(), in.ClientID)
			}
			return err
		}
		out = m
		tx.OnCommit(func() {
			s.publishMessage(ref, m)
			for _, uid := range mentioned {
				s.publish(bus.Event{Type: bus.TypeMention, SiteID: ref.SiteID, ConversationID: m.ConversationID, UserID: uid,
					Visibility: model.Internal, Frame: protocol.Event(bus.TypeMention, m.ConversationID, m.Seq, m)})
			}
		})
		return nil
	})
	return out, err
}

// mentionable checks @-mentioned colleagues: enabled staff who can see the
// site (the author is dropped: nobody is notified of their own note).
func (s *Service) mentionable(ctx context.Context, siteID, author int64, ids []int64) ([]int64, error) {
	if len(ids) > 20 {
		return nil, apperr.Invalid("too_many_mentions", "at most 20 mentions in a note")
	}
	var out []int64
	for _, id := range ids {
		if id == author || slices.Contains(out, id) {
			continue
		}
		u, err := s.st.GetUser(ctx, id)
		if apperr.IsNotFound(err) || (err == nil && u.Disabled) {
			return nil, apperr.Invalid("invalid_mention", "a mentioned colleague does not exist")
		}
		if err != nil {
			return nil, err
		}
		if u.Role != model.RoleAdmin {
			sites, err := s.st.UserSiteIDs(ctx, id)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(sites, siteID) {
				return nil, apperr.Invalid("invalid_mention", u.Name+" cannot see this conversation")
			}
		}
		out = append(out, id)
	}
	return out, nil
}

// appendEvent appends a public system line to the timeline.
func (s *Service) appendEvent(ctx context.Context, tx store.Tx, convID, chatID int64, event, body string) (model.Message, error) {
	m := model.Message{ConversationID: convID, ChatID: chatID, AuthorKind: model.PartySystem, Kind: model.KindEvent,
		Event: event, Visibility: model.Public, Body: body, CreatedAt: s.now()}
	err := tx.AppendMessage(ctx, &m)
	return m, err
}

// liveChat loads the conversation and its live chat inside tx.
func (s *Service) liveChat(ctx context.Context, tx store.Tx, convID int64) (model.Conversation, ChatView, error) {
	conv, err := tx.GetConversation(ctx, convID)
	if err != nil {
		return model.Conversation{}, ChatView{}, err
	}
	if conv.ChatID == 0 {
		return conv, ChatView{}, apperr.Conflict("no_live_chat", "there is no chat in this conversation")
	}
	cv, err := s.chatView(ctx, tx, conv.ChatID)
	if err != nil {
		return conv, ChatView{}, err
	}
	if cv.Chat.State == model.ChatEnded {
		return conv, cv, apperr.Conflict("chat_ended", "the chat has already ended")
	}
	return conv, cv, nil
}

// Join puts an online agent into a waiting, pending or (if already theirs)
// active chat, or into an active chat they were invited or transferred to.
// Joining a chat someone else has taken is refused. Routing gives an agent
// chats only within their capacity; an agent may still pick one from the
// queue by hand beyond it (their load then keeps routing away).
func (s *Service) Join(ctx context.Context, a Actor, convID int64) (ConversationView, error) {
	ref, err := s.staffWriter(ctx, a, convID)
	if err != nil {
		return ConversationView{}, err
	}
	var view ConversationView
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, a.User.ID)
		if err != nil {
			return err
		}
		if !u.Availability.Online() {
			return apperr.Conflict("agent_offline", "go online before joining chats")
		}
		conv, cv, err := s.liveChat(ctx, tx, convID)
		if err != nil {
			return err
		}
		offer, offered, err := pendingOffer(ctx, tx, cv.Chat.ID, u.ID)
		if err != nil {
			return err
		}
		switch cv.Chat.State {
		case model.ChatActive:
			if cv.active(u.ID) {
				view = ConversationView{Conversation: conv, Chat: &cv}
				return nil
			}
			if !offered {
				return apperr.Conflict("chat_already_taken", "another agent has already joined this chat")
			}
			return s.joinInvited(ctx, tx, ref, conv, cv, u, offer, &view)
		case model.ChatBot:
			return apperr.Conflict("chat_with_bot", "the visitor has not asked for a human")
		}
		now := s.now()
		chatRow := cv.Chat
		chatRow.State = model.ChatActive
		firstJoin := chatRow.FirstJoinedAt.IsZero()
		if firstJoin {
			chatRow.FirstJoinedAt = now
		}
		if err := tx.UpdateChat(ctx, chatRow); err != nil {
			return err
		}
		if err := tx.AddParticipant(ctx, chatRow.ID, u.ID, now); err != nil {
			return err
		}
		if offered {
			offer.State, offer.ResolvedAt = model.OfferAccepted, now
			if err := tx.PutOffer(ctx, offer); err != nil {
				return err
			}
		}
		if err := s.withdrawOffers(ctx, tx, &conv, chatRow.ID, u.ID); err != nil {
			return err
		}
		if err := tx.DeleteQueueEntry(ctx, chatRow.ID); err != nil {
			return err
		}
		if _, err := tx.RecountLoad(ctx, u.ID); err != nil {
			return err
		}
		if u.MissedOffers != 0 {
			u.MissedOffers = 0
			if err := tx.UpdateUser(ctx, u); err != nil {
				return err
			}
		}
		conv.ChatState, conv.AssigneeID, conv.UpdatedAt = model.ChatActive, u.ID, now
		if err := tx.UpdateConversation(ctx, conv); err != nil {
			return err
		}
		ev, err := s.appendEvent(ctx, tx, conv.ID, chatRow.ID, model.EventJoined, u.Name+" joined the chat")
		if err != nil {
			return err
		}
		k := queueKey{conv.SiteID, conv.DepartmentID}
		wait := now.Sub(chatRow.RequestedAt)
		tx.OnCommit(func() {
			if firstJoin {
				s.publishWaitSample(conv.DepartmentID, wait)
			}
			s.router.kick(k) // the queue moved up
		})
		return s.finish(ctx, tx, ref, convID, ev, &view)
	})
	return view, err
}

// joinInvited adds an invited (or transferred-to) agent to an active chat.
// A transfer completes at once: the agent who handed over leaves.
func (s *Service) joinInvited(ctx context.Context, tx store.Tx, ref convRef, conv model.Conversation, cv ChatView, u model.User, offer model.Offer, view *ConversationView) error {
	now := s.now()
	if err := tx.AddParticipant(ctx, cv.Chat.ID, u.ID, now); err != nil {
		return err
	}
	offer.State, offer.ResolvedAt = model.OfferAccepted, now
	if err := tx.PutOffer(ctx, offer); err != nil {
		return err
	}
	if _, err := tx.RecountLoad(ctx, u.ID); err != nil {
		return err
	}
	event, body := model.EventJoined, u.Name+" joined the chat"
	// A transfer takes out the agent who handed over; an assignment by a
	// supervisor takes out whoever was in the chat.
	var leaving []int64
	switch offer.Kind {
	case model.OfferTransfer:
		if cv.active(offer.FromUserID) {
			leaving = []int64{offer.FromUserID}
		}
	case model.OfferAssign:
		leaving = cv.present()
	}
	// Those who handed over have room again.
	if err := s.takeOut(ctx, tx, cv.Chat.ID, leaving, now); err != nil {
		return err
	}
	if (offer.Kind == model.OfferTransfer || offer.Kind == model.OfferAssign) && offer.FromUserID != 0 {
		from, err := tx.GetUser(ctx, offer.FromUserID)
		if err != nil {
			return err
		}
		verb := " transferred the chat to "
		if offer.Kind == model.OfferAssign {
			verb = " assigned the chat to "
		}
		event, body = model.EventTransferred, from.Name+verb+u.Name
	}
	conv.AssigneeID, conv.UpdatedAt = u.ID, now
	if err := tx.UpdateConversation(ctx, conv); err != nil {
		return err
	}
	ev, err := s.appendEvent(ctx, tx, conv.ID, cv.Chat.ID, event, body)
	if err != nil {
		return err
	}
	return s.finish(ctx, tx, ref, conv.ID, ev, view)
}

// newConversation opens a new open ticket for a contact on a channel.
func (s *Service) newConversation(ctx context.Context, tx store.Tx, siteID, contactID int64, channel string, now time.Time) (model.Conversation, error) {
	c := model.Conversation{SiteID: siteID, ContactID: contactID, Channel: channel, Status: model.StatusOpen,
		Priority: model.PriorityNormal, Tags: []string{}, CreatedAt: now, UpdatedAt: now}
	err := tx.CreateConversation(ctx, &c)
	return c, err
}

// finish reloads the conversation and chat after a lifecycle change and
// publishes them with the timeline event after commit.
func (s *Service) finish(ctx context.Context, tx store.Tx, ref convRef, convID int64, ev model.Message, view *ConversationView) error {
	if err := s.viewOf(ctx, tx, convID, view); err != nil {
		return err
	}
	conv, cv := view.Conversation, *view.Chat
	tx.OnCommit(func() {
		s.publishMessage(ref, ev)
		s.publishChat(ref, cv)
		s.publishConversation(conv)
	})
	return nil
}

// Leave takes an agent out of a chat. When the last agent leaves an active
// chat it goes back to the queue, unassigned, so someone else can take it.
func (s *Service) Leave(ctx context.Context, a Actor, convID int64) (ConversationView, error) {
	if !a.IsStaff() {
		return ConversationView{}, apperr.NotFound("conversation")
	}
	if _, err := s.authorize(ctx, a, convID); err != nil {
		return ConversationView{}, err
	}
	return s.leave(ctx, a, convID, false)
}

// leave is Leave without the access check. requeue marks the routing
// engine taking a disconnected agent out, which it says on the timeline.
func (s *Service) leave(ctx context.Context, a Actor, convID int64, requeue bool) (ConversationView, error) {
	ref, err := s.ref(ctx, convID)
	if err != nil {
		return ConversationView{}, err
	}
	var view ConversationView
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		conv, cv, err := s.liveChat(ctx, tx, convID)
		if err != nil {
			return err
		}
		if !cv.active(a.User.ID) {
			return apperr.Conflict("not_a_participant", "you are not in this chat")
		}
		now := s.now()
		if err := s.takeOut(ctx, tx, cv.Chat.ID, []int64{a.User.ID}, now); err != nil {
			return err
		}
		k := queueKey{conv.SiteID, conv.DepartmentID}
		if cv.activeCount() == 1 {
			chatRow := cv.Chat
			chatRow.State = model.ChatWaiting
			if err := tx.UpdateChat(ctx, chatRow); err != nil {
				return err
			}
			qs, err := s.settingsFor(ctx, tx, k)
			if err != nil {
				return err
			}
			e, err := s.enqueue(ctx, tx, conv, chatRow, qs)
			if err != nil {
				return err
			}
			tx.OnCommit(func() { s.router.scheduleMaxWait(e) })
			conv.ChatState, conv.AssigneeID = model.ChatWaiting, 0
		} else if conv.AssigneeID == a.User.ID {
			for _, p := range cv.Participants {
				if p.LeftAt.IsZero() && p.UserID != a.User.ID {
					conv.AssigneeID = p.UserID // the ticket follows who is still chatting
				}
			}
		}
		conv.UpdatedAt = now
		if err := tx.UpdateConversation(ctx, conv); err != nil {
			return err
		}
		body := a.User.Name + " left the chat"
		if requeue {
			body = a.User.Name + " is away; the chat is back in the queue"
		}
		ev, err := s.appendEvent(ctx, tx, conv.ID, cv.Chat.ID, model.EventLeft, body)
		if err != nil {
			return err
		}
		tx.OnCommit(func() { s.router.kick(k) })
		return s.finish(ctx, tx, ref, convID, ev, &view)
	})
	return view, err
}

// End ends the live chat. The conversation becomes a ticket: closed when the
// chat had been answered, open and unassigned when nobody had joined.
// Staff must be in the chat (admins may end any chat they can see).
func (s *Service) End(ctx context.Context, a Actor, convID int64) (ConversationView, error) {
	if _, err := s.authorize(ctx, a, convID); err != nil {
		return ConversationView{}, err
	}
	if err := requireChatWriter(a); err != nil {
		return ConversationView{}, err
	}
	var view ConversationView
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		_, cv, err := s.liveChat(ctx, tx, convID)
		if err != nil {
			return err
		}
		if a.IsStaff() && a.User.Role != model.RoleAdmin && !cv.active(a.User.ID) {
			return apperr.Conflict("not_a_participant", "join the chat before ending it")
		}
		var by int64
		if a.IsStaff() {
			by = a.User.ID
		}
		view, err = s.endChat(ctx, tx, convID, a.Party, by, model.EventEnded, "The chat was ended by "+authorName(a))
		return err
	})
	return view, err
}

// endChat ends a conversation's live chat inside tx: participants out,
// offers withdrawn, out of the queue, the ticket closed if the chat was
// answered and open and unassigned if not, a timeline line, and a kick of
// its queue after commit.
func (s *Service) endChat(ctx context.Context, tx store.Tx, convID int64, by model.Party, byUser int64, event, body string) (ConversationView, error) {
	conv, cv, err := s.liveChat(ctx, tx, convID)
	if err != nil {
		return ConversationView{}, err
	}
	ref := convRef{SiteID: conv.SiteID, ContactID: conv.ContactID}
	now := s.now()
	chatRow := cv.Chat
	wasActive, wasBot := chatRow.State == model.ChatActive, chatRow.State == model.ChatBot
	chatRow.State, chatRow.EndedAt, chatRow.EndedBy, chatRow.EndedByUserID = model.ChatEnded, now, by, byUser
	switch {
	case wasActive || wasBot:
		chatRow.EndReason = model.EndCompleted
	case by == model.PartyVisitor:
		chatRow.EndReason = model.EndVisitorLeft
	default:
		chatRow.EndReason = model.EndUnanswered
	}
	if err := tx.UpdateChat(ctx, chatRow); err != nil {
		return ConversationView{}, err
	}
	if err := s.takeOut(ctx, tx, chatRow.ID, cv.present(), now); err != nil {
		return ConversationView{}, err
	}
	if err := s.withdrawOffers(ctx, tx, &conv, chatRow.ID, 0); err != nil {
		return ConversationView{}, err
	}
	if err := tx.DeleteQueueEntry(ctx, chatRow.ID); err != nil {
		return ConversationView{}, err
	}
	conv.ChatState, conv.UpdatedAt = model.ChatEnded, now
	if wasActive || wasBot {
		// Answered, by agents or by the assistant: nothing left to do.
		conv.Status = model.StatusClosed
	} else {
		conv.Status, conv.AssigneeID = model.StatusOpen, 0
	}
	if err := tx.UpdateConversation(ctx, conv); err != nil {
		return ConversationView{}, err
	}
	ev, err := s.appendEvent(ctx, tx, conv.ID, chatRow.ID, event, body)
	if err != nil {
		return ConversationView{}, err
	}
	// The transcript goes in the same transaction: as durable as the end.
	if err := s.transcriptOnEnd(ctx, tx, conv, chatRow.ID); err != nil {
		return ConversationView{}, err
	}
	var view ConversationView
	if err := s.finish(ctx, tx, ref, convID, ev, &view); err != nil {
		return ConversationView{}, err
	}
	k := queueKey{conv.SiteID, conv.DepartmentID}
	tx.OnCommit(func() {
		s.router.kick(k)
	})
	return view, nil
}

// MarkRead moves the actor's read mark in a conversation forward.
func (s *Service) MarkRead(ctx context.Context, a Actor, convID, seq int64) (model.ReadMark, error) {
	ref, err := s.authorize(ctx, a, convID)
	if err != nil {
		return model.ReadMark{}, err
	}
	if seq <= 0 {
		return model.ReadMark{}, apperr.Invalid("invalid_seq", "seq must be positive")
	}
	mark := model.ReadMark{ConversationID: convID, ReaderKind: a.Party, ReaderID: a.authorID(), Seq: seq, At: s.now()}
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		conv, err := tx.GetConversation(ctx, convID)
		if err != nil {
			return err
		}
		if seq > conv.LastSeq {
			return apperr.Invalid("seq_out_of_range", "seq is beyond the end of the timeline")
		}
		marks, err := tx.ListReadMarks(ctx, convID)
		if err != nil {
			return err
		}
		for _, m := range marks {
			if m.ReaderKind == mark.ReaderKind && m.ReaderID == mark.ReaderID && m.Seq >= seq {
				mark = m // marks only move forward: nothing to store or announce
				return nil
			}
		}
		if err := tx.SetReadMark(ctx, mark); err != nil {
			return err
		}
		tx.OnCommit(func() {
			s.publish(bus.Event{Type: bus.TypeRead, SiteID: ref.SiteID, ConversationID: convID, ContactID: ref.ContactID,
				Visibility: model.Public, Frame: protocol.Event(bus.TypeRead, convID, 0, mark)})
		})
		return nil
	})
	return mark, err
}

// Typing relays an ephemeral typing indicator; nothing is stored. A
// supervisor's typing never reaches the customer. exceptSocket is the
// sender's socket, which does not get its own indicator back.
func (s *Service) Typing(ctx context.Context, a Actor, convID int64, typing bool, exceptSocket string) error {
	ref, err := s.authorize(ctx, a, convID)
	if err != nil {
		return err
	}
	vis := model.Internal // the visitor's own typing only goes to staff
	if a.IsStaff() && a.User.Role != model.RoleSupervisor {
		// Staff typing reaches the customer only from someone in the chat;
		// a colleague drafting a note, or a supervisor, stays internal.
		if in, err := s.inLiveChat(ctx, convID, a.User.ID); err != nil {
			return err
		} else if in {
			vis = model.Public
		}
	}
	ev := TypingEvent{Party: a.Party, Name: authorName(a), Typing: typing}
	if a.IsStaff() {
		ev.UserID = a.User.ID
	}
	s.publish(bus.Event{Type: bus.TypeTyping, SiteID: ref.SiteID, ConversationID: convID, ContactID: ref.ContactID,
		Visibility: vis, ExceptSocket: exceptSocket, Frame: protocol.Event(bus.TypeTyping, convID, 0, ev)})
	return nil
}

// isParticipant reports whether user is currently in the chat.
func isParticipant(ctx context.Context, r store.Reader, chatID, userID int64) (bool, error) {
	ps, err := r.ListParticipants(ctx, chatID)
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		if p.UserID == userID && p.LeftAt.IsZero() {
			return true, nil
		}
	}
	return false, nil
}

// inLiveChat reports whether user is a participant of the conversation's live chat.
func (s *Service) inLiveChat(ctx context.Context, convID, userID int64) (bool, error) {
	conv, err := s.st.GetConversation(ctx, convID)
	if err != nil || conv.ChatID == 0 || !conv.ChatState.Live() {
		return false, err
	}
	return isParticipant(ctx, s.st, conv.ChatID, userID)
}

// normalizeTags lower-cases, trims, de-duplicates and sorts tags.
func normalizeTags(tags []string) ([]string, error) {
	if len(tags) > 20 {
		return nil, apperr.Invalid("too_many_tags", "at most 20 tags")
	}
	seen := make(map[string]bool, len(tags))
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || utf8.RuneCountInString(t) > 50 || !utf8.ValidString(t) {
			return nil, apperr.Invalid("invalid_tag", "tags are 1 to 50 characters")
		}
		for _, r := range t {
			if r < ' ' || r == ',' {
				return nil, apperr.Invalid("invalid_tag", "tags may not contain commas or control characters")
			}
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out, nil
}

// SetTags replaces a conversation's tags (staff only).
func (s *Service) SetTags(ctx context.Context, a Actor, convID int64, tags []string) (model.Conversation, error) {
	if !a.IsStaff() {
		return model.Conversation{}, apperr.NotFound("conversation")
	}
	if _, err := s.authorize(ctx, a, convID); err != nil {
		return model.Conversation{}, err
	}
	norm, err := normalizeTags(tags)
	if err != nil {
		return model.Conversation{}, err
	}
	return s.updateConversation(ctx, convID, func(tx store.Tx, c *model.Conversation) error {
		c.Tags = norm
		return tx.SetTags(ctx, convID, norm)
	})
}

// SetPriority changes a conversation's priority (staff only).
func (s *Service) SetPriority(ctx context.Context, a Actor, convID int64, p model.Priority) (model.Conversation, error) {
	if !a.IsStaff() {
		return model.Conversation{}, apperr.NotFound("conversation")
	}
	if _, err := s.authorize(ctx, a, convID); err != nil {
		return model.Conversation{}, err
	}
	if !p.Valid() {
		return model.Conversation{}, apperr.Invalid("invalid_priority", "priority is one of low, normal, high, urgent")
	}
	var k *queueKey
	conv, err := s.updateConversation(ctx, convID, func(tx store.Tx, c *model.Conversation) error {
		c.Priority = p
		// A queued chat moves in its queue with its priority.
		e, err := tx.GetQueueEntry(ctx, c.ChatID)
		if apperr.IsNotFound(err) || c.ChatID == 0 {
			return nil
		}
		if err != nil {
			return err
		}
		e.Priority = p
		k = &queueKey{e.SiteID, e.DepartmentID}
		return tx.PutQueueEntry(ctx, e)
	})
	if err == nil && k != nil {
		s.router.kick(*k)
	}
	return conv, err
}

// updateConversation applies change to a conversation's ticket fields and
// announces the result to staff.
func (s *Service) updateConversation(ctx context.Context, convID int64, change func(store.Tx, *model.Conversation) error) (model.Conversation, error) {
	var out model.Conversation
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		c, err := tx.GetConversation(ctx, convID)
		if err != nil {
			return err
		}
		if err := change(tx, &c); err != nil {
			return err
		}
		c.UpdatedAt = s.now()
		if err := tx.UpdateConversation(ctx, c); err != nil {
			return err
		}
		out = c
		tx.OnCommit(func() { s.publishConversation(c) })
		return nil
	})
	return out, err
}

// SetAvailability sets a staff user's own availability and tells every
// console. Going available (or busy with room) lets queues move.
func (s *Service) SetAvailability(ctx context.Context, a Actor, av model.Availability) (model.User, error) {
	if !a.IsStaff() {
		return model.User{}, apperr.Forbidden("staff_only", "staff only")
	}
	if !av.Valid() {
		return model.User{}, apperr.Invalid("invalid_availability", "availability is one of available, busy, away, offline")
	}
	var out model.User
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, a.User.ID)
		if err != nil {
			return err
		}
		u.Availability, u.UpdatedAt = av, s.now()
		if av == model.Available {
			u.MissedOffers = 0 // back at the desk
		}
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		out = u
		return s.announceAvailability(ctx, tx, u)
	})
	if err == nil && (av == model.Available || av == model.Busy) {
		s.kickUserQueues(out.ID)
	}
	return out, err
}

// announceAvailability publishes a user's availability after commit. Only
// colleagues who share a site learn about it (admins see all); site 0
// reaches admins, which covers admins without memberships.
func (s *Service) announceAvailability(ctx context.Context, tx store.Tx, u model.User) error {
	sites, err := tx.UserSiteIDs(ctx, u.ID)
	if err != nil {
		return err
	}
	if len(sites) == 0 {
		sites = []int64{0}
	}
	frame := protocol.Event(bus.TypeAvailability, 0, 0, AvailabilityEvent{UserID: u.ID, Name: u.Name, Availability: u.Availability})
	tx.OnCommit(func() {
		for _, site := range sites {
			s.publish(bus.Event{Type: bus.TypeAvailability, SiteID: site, UserID: u.ID, Visibility: model.Internal, Frame: frame})
		}
	})
	return nil
}

// kickUserQueues kicks every queue a user serves: their sites' general
// queues and their departments'. It reads the store, so it runs apart.
func (s *Service) kickUserQueues(userID int64) {
	s.router.async(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sites, err := s.st.UserSiteIDs(ctx, userID)
		if err != nil {
			return
		}
		for _, site := range sites {
			s.router.kick(queueKey{site, 0})
			depts, err := s.st.ListDepartments(ctx, site)
			if err != nil {
				continue
			}
			for _, d := range depts {
				if slices.Contains(d.MemberIDs, userID) {
					s.router.kick(queueKey{site, d.ID})
				}
			}
		}
	})
}

// Rate records the visitor's satisfaction with an ended chat of theirs:
// score 1 to 5 and an optional comment, once per chat.
func (s *Service) Rate(ctx context.Context, a Actor, convID, chatID int64, score int, comment string) (ChatView, error) {
	if a.Party != model.PartyVisitor {
		return ChatView{}, apperr.Forbidden("visitors_only", "only the customer rates a chat")
	}
	ref, err := s.authorize(ctx, a, convID)
	if err != nil {
		return ChatView{}, err
	}
	if score < 1 || score > 5 {
		return ChatView{}, apperr.Invalid("invalid_rating", "score is 1 to 5")
	}
	comment = strings.TrimSpace(comment)
	if len(comment) > 2000 || !utf8.ValidString(comment) || strings.IndexByte(comment, 0) >= 0 {
		return ChatView{}, apperr.Invalid("invalid_comment", "the comment is at most 2000 bytes of text")
	}
	var view ChatView
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		c, err := tx.GetChat(ctx, chatID)
		if apperr.IsNotFound(err) || (err == nil && c.ConversationID != convID) {
			return apperr.NotFound("chat")
		}
		if err != nil {
			return err
		}
		if c.State != model.ChatEnded {
			return apperr.Conflict("chat_not_ended", "a chat is rated once it has ended")
		}
		if c.Rating != 0 {
			return apperr.Conflict("already_rated", "this chat was already rated")
		}
		c.Rating, c.RatingComment, c.RatedAt = score, comment, s.now()
		if err := tx.UpdateChat(ctx, c); err != nil {
			return err
		}
		if view, err = s.chatView(ctx, tx, chatID); err != nil {
			return err
		}
		v := view
		tx.OnCommit(func() { s.publishChat(ref, v) })
		return nil
	})
	return view, err
}

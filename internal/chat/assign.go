package chat

// Hand-overs: declining an offer, a supervisor's assignment, transfer to
// an agent or a department, inviting a colleague, and an agent's capacity.

import (
	"context"
	"slices"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// MyOffers lists the chats offered to the actor now, oldest first, so a
// console that reloads shows them again.
func (s *Service) MyOffers(ctx context.Context, a Actor) ([]OfferEvent, error) {
	if !a.IsStaff() {
		return nil, apperr.Forbidden("staff_only", "staff only")
	}
	offers, err := s.st.ListOffers(ctx, store.OfferQuery{UserID: a.User.ID, PendingOnly: true})
	if err != nil {
		return nil, err
	}
	out := make([]OfferEvent, 0, len(offers))
	for _, o := range offers {
		c, err := s.st.GetChat(ctx, o.ChatID)
		if err != nil {
			return nil, err
		}
		conv, err := s.st.GetConversation(ctx, c.ConversationID)
		if err != nil {
			return nil, err
		}
		if !a.SeesSite(conv.SiteID) {
			continue // their sites changed since
		}
		out = append(out, OfferEvent{Offer: o, Conversation: conv})
	}
	return out, nil
}

// Decline refuses the chat offered to the actor. A chat offered by the
// strategy goes to the next agent (the decliner is not asked again for it);
// a declined invitation or transfer leaves the chat with whoever has it.
func (s *Service) Decline(ctx context.Context, a Actor, convID int64) error {
	if !a.IsStaff() {
		return apperr.NotFound("conversation")
	}
	if _, err := s.authorize(ctx, a, convID); err != nil {
		return err
	}
	var k *queueKey
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		k = nil
		conv, cv, err := s.liveChat(ctx, tx, convID)
		if err != nil {
			return err
		}
		o, ok, err := pendingOffer(ctx, tx, cv.Chat.ID, a.User.ID)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.Conflict("no_offer", "this chat is not offered to you")
		}
		o.State, o.ResolvedAt = model.OfferDeclined, s.now()
		if err := tx.PutOffer(ctx, o); err != nil {
			return err
		}
		if _, err := tx.RecountLoad(ctx, a.User.ID); err != nil {
			return err
		}
		s.freed(tx, a.User.ID)
		tx.OnCommit(func() {
			s.publishOffer(o, conv)
			if o.FromUserID != 0 {
				s.publishOfferTo(o.FromUserID, o, conv) // the inviter learns the answer
			}
		})
		e, err := tx.GetQueueEntry(ctx, cv.Chat.ID)
		if apperr.IsNotFound(err) {
			return nil // an invitation into an active chat
		}
		if err != nil {
			return err
		}
		k = &queueKey{e.SiteID, e.DepartmentID}
		var requeued bool
		return s.requeueIfUnoffered(ctx, tx, e, &requeued)
	})
	if err == nil && k != nil {
		s.router.kick(*k)
	}
	return err
}

// target loads an agent a chat may be handed to: enabled, not a
// supervisor, able to see the site, online and accepting (available, or busy
// with room).
func (s *Service) target(ctx context.Context, tx store.Tx, siteID, userID int64) (model.User, error) {
	u, err := tx.GetUser(ctx, userID)
	if apperr.IsNotFound(err) {
		return model.User{}, apperr.NotFound("agent")
	}
	if err != nil {
		return model.User{}, err
	}
	if u.Disabled || u.Role == model.RoleSupervisor {
		return model.User{}, apperr.NotFound("agent")
	}
	if u.Role != model.RoleAdmin {
		sites, err := tx.UserSiteIDs(ctx, u.ID)
		if err != nil {
			return model.User{}, err
		}
		if !slices.Contains(sites, siteID) {
			return model.User{}, apperr.NotFound("agent")
		}
	}
	if u.Load, err = tx.RecountLoad(ctx, u.ID); err != nil {
		return model.User{}, err
	}
	if u.Availability != model.Available && u.Availability != model.Busy {
		return model.User{}, apperr.Conflict("agent_unavailable", u.Name+" is not available")
	}
	if !hasRoom(u) {
		return model.User{}, apperr.Conflict("agent_at_capacity", u.Name+" has no room for another chat")
	}
	return u, nil
}

// Assign gives a chat to a chosen agent (supervisors and admins). A queued
// chat is offered to that agent alone and routing never re-offers it; an
// active chat is handed over: the agent in it leaves when the new one joins.
func (s *Service) Assign(ctx context.Context, a Actor, convID, userID int64) (ConversationView, error) {
	if !a.IsStaff() {
		return ConversationView{}, apperr.NotFound("conversation")
	}
	ref, err := s.authorize(ctx, a, convID)
	if err != nil {
		return ConversationView{}, err
	}
	if a.User.Role != model.RoleSupervisor && a.User.Role != model.RoleAdmin {
		return ConversationView{}, apperr.Forbidden("supervisors_only", "only supervisors and admins assign chats")
	}
	if userID <= 0 {
		return ConversationView{}, apperr.Invalid("invalid_assign", "user_id is required")
	}
	var view ConversationView
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		conv, cv, err := s.liveChat(ctx, tx, convID)
		if err != nil {
			return err
		}
		if cv.active(userID) {
			return apperr.Conflict("already_in_chat", "that agent is already in this chat")
		}
		u, err := s.target(ctx, tx, conv.SiteID, userID)
		if err != nil {
			return err
		}
		switch cv.Chat.State {
		case model.ChatBot:
			return apperr.Conflict("chat_with_bot", "the visitor has not asked for a human")
		case model.ChatActive:
			// Handed over: whoever is in the chat leaves when u joins.
			return s.handOver(ctx, tx, ref, conv, cv, a.User.ID, u, model.OfferAssign, &view)
		}
		e, err := tx.GetQueueEntry(ctx, cv.Chat.ID)
		if err != nil {
			return err
		}
		if err := s.withdrawOffers(ctx, tx, &conv, cv.Chat.ID, 0); err != nil {
			return err
		}
		qs, err := s.settingsFor(ctx, tx, queueKey{e.SiteID, e.DepartmentID})
		if err != nil {
			return err
		}
		ok, err := s.offer(ctx, tx, qs, e, u.ID, model.OfferAssign, a.User.ID)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.Conflict("agent_at_capacity", u.Name+" has no room for another chat")
		}
		return s.viewOf(ctx, tx, convID, &view)
	})
	return view, err
}

// viewOf loads a conversation and its chat through tx.
func (s *Service) viewOf(ctx context.Context, tx store.Tx, convID int64, view *ConversationView) error {
	conv, err := tx.GetConversation(ctx, convID)
	if err != nil {
		return err
	}
	cv, err := s.chatView(ctx, tx, conv.ChatID)
	if err != nil {
		return err
	}
	*view = ConversationView{Conversation: conv, Chat: &cv}
	return nil
}

// handOver offers an active chat to u as an invitation or a transfer from
// the agent from.
func (s *Service) handOver(ctx context.Context, tx store.Tx, ref convRef, conv model.Conversation, cv ChatView, from int64, u model.User, kind model.OfferKind, view *ConversationView) error {
	o := model.Offer{ChatID: cv.Chat.ID, UserID: u.ID, Kind: kind, FromUserID: from, State: model.OfferPending,
		Exclusive: true, OfferedAt: s.now()}
	if err := tx.PutOffer(ctx, o); err != nil {
		return err
	}
	if _, err := tx.RecountLoad(ctx, u.ID); err != nil {
		return err
	}
	tx.OnCommit(func() { s.publishOffer(o, conv) })
	return s.viewOf(ctx, tx, conv.ID, view)
}

// TransferInput names where a chat goes: an agent or a department.
type TransferInput struct {
	UserID       int64
	DepartmentID int64
}

// Transfer hands the actor's active chat to another agent (who is offered
// it; the actor leaves when they join) or to a department (the chat goes
// back to that department's queue at once). A department with nobody
// available is refused.
func (s *Service) Transfer(ctx context.Context, a Actor, convID int64, in TransferInput) (ConversationView, error) {
	if (in.UserID == 0) == (in.DepartmentID == 0) {
		return ConversationView{}, apperr.Invalid("invalid_transfer", "transfer to exactly one of user_id and department_id")
	}
	return s.handOff(ctx, a, convID, in, model.OfferTransfer)
}

// Invite asks another agent into the actor's active chat; both can talk
// once they join.
func (s *Service) Invite(ctx context.Context, a Actor, convID, userID int64) (ConversationView, error) {
	if userID == 0 {
		return ConversationView{}, apperr.Invalid("invalid_invite", "user_id is required")
	}
	return s.handOff(ctx, a, convID, TransferInput{UserID: userID}, model.OfferInvite)
}

func (s *Service) handOff(ctx context.Context, a Actor, convID int64, in TransferInput, kind model.OfferKind) (ConversationView, error) {
	ref, err := s.staffWriter(ctx, a, convID)
	if err != nil {
		return ConversationView{}, err
	}
	var view ConversationView
	var kick *queueKey
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		kick = nil
		conv, cv, err := s.liveChat(ctx, tx, convID)
		if err != nil {
			return err
		}
		if cv.Chat.State != model.ChatActive || !cv.active(a.User.ID) {
			return apperr.Conflict("not_a_participant", "join the chat before handing it over")
		}
		if in.DepartmentID != 0 {
			k, err := s.toDepartment(ctx, tx, ref, conv, cv, a, in.DepartmentID, &view)
			kick = &k
			return err
		}
		if in.UserID == a.User.ID || cv.active(in.UserID) {
			return apperr.Conflict("already_in_chat", "that agent is already in this chat")
		}
		u, err := s.target(ctx, tx, conv.SiteID, in.UserID)
		if err != nil {
			return err
		}
		return s.handOver(ctx, tx, ref, conv, cv, a.User.ID, u, kind, &view)
	})
	if err == nil && kick != nil {
		s.router.kick(*kick)
	}
	return view, err
}

// toDepartment moves an active chat into another department's queue: the
// agents in it leave, the visitor is told, routing offers it there.
func (s *Service) toDepartment(ctx context.Context, tx store.Tx, ref convRef, conv model.Conversation, cv ChatView, a Actor, deptID int64, view *ConversationView) (queueKey, error) {
	d, err := tx.GetDepartment(ctx, deptID)
	if apperr.IsNotFound(err) || (err == nil && d.SiteID != conv.SiteID) {
		return queueKey{}, apperr.NotFound("department")
	}
	if err != nil {
		return queueKey{}, err
	}
	k := queueKey{conv.SiteID, d.ID}
	agents, err := tx.ListRoutingAgents(ctx, k.site, k.dept)
	if err != nil {
		return k, err
	}
	available := false
	for _, u := range agents {
		available = available || (hasRoom(u) && !cv.active(u.ID))
	}
	if !available {
		return k, apperr.Conflict("nobody_available", "nobody in "+d.Name+" is available")
	}
	now := s.now()
	if err := s.takeOut(ctx, tx, cv.Chat.ID, cv.present(), now); err != nil {
		return k, err
	}
	chatRow := cv.Chat
	chatRow.State = model.ChatWaiting
	if err := tx.UpdateChat(ctx, chatRow); err != nil {
		return k, err
	}
	conv.DepartmentID, conv.ChatState, conv.AssigneeID, conv.UpdatedAt = d.ID, model.ChatWaiting, 0, now
	if err := tx.UpdateConversation(ctx, conv); err != nil {
		return k, err
	}
	qs, err := s.settingsFor(ctx, tx, k)
	if err != nil {
		return k, err
	}
	e, err := s.enqueue(ctx, tx, conv, chatRow, qs)
	if err != nil {
		return k, err
	}
	ev, err := s.appendEvent(ctx, tx, conv.ID, chatRow.ID, model.EventTransferred, a.User.Name+" transferred the chat to "+d.Name)
	if err != nil {
		return k, err
	}
	tx.OnCommit(func() { s.router.scheduleMaxWait(e) })
	return k, s.finish(ctx, tx, ref, conv.ID, ev, view)
}

// TransferTargets lists who a chat can be handed to now: agents of its site
// who are online and available (or busy with room), and departments with
// at least one of them.
type TransferTargets struct {
	Agents      []TargetAgent      `json:"agents"`
	Departments []TargetDepartment `json:"departments"`
}

// TargetAgent is an agent a chat can go to.
type TargetAgent struct {
	ID           int64              `json:"id"`
	Name         string             `json:"name"`
	Availability model.Availability `json:"availability"`
	Load         int                `json:"load"`
	Capacity     int                `json:"capacity"`
}

// TargetDepartment is a department a chat can go to.
type TargetDepartment struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	Available int    `json:"available"` // agents with room
}

// Targets returns the transfer targets for a conversation.
func (s *Service) Targets(ctx context.Context, a Actor, convID int64) (TransferTargets, error) {
	if !a.IsStaff() {
		return TransferTargets{}, apperr.NotFound("conversation")
	}
	ref, err := s.authorize(ctx, a, convID)
	if err != nil {
		return TransferTargets{}, err
	}
	conv, err := s.st.GetConversation(ctx, convID)
	if err != nil {
		return TransferTargets{}, err
	}
	var inChat []int64
	if conv.ChatID != 0 {
		ps, err := s.st.ListParticipants(ctx, conv.ChatID)
		if err != nil {
			return TransferTargets{}, err
		}
		for _, p := range ps {
			if p.LeftAt.IsZero() {
				inChat = append(inChat, p.UserID)
			}
		}
	}
	out := TransferTargets{Agents: []TargetAgent{}, Departments: []TargetDepartment{}}
	agents, err := s.st.ListRoutingAgents(ctx, ref.SiteID, 0)
	if err != nil {
		return TransferTargets{}, err
	}
	for _, u := range agents {
		if hasRoom(u) && u.ID != a.User.ID && !slices.Contains(inChat, u.ID) {
			out.Agents = append(out.Agents, TargetAgent{ID: u.ID, Name: u.Name, Availability: u.Availability, Load: u.Load, Capacity: u.Capacity})
		}
	}
	depts, err := s.st.ListDepartments(ctx, ref.SiteID)
	if err != nil {
		return TransferTargets{}, err
	}
	for _, d := range depts {
		members, err := s.st.ListRoutingAgents(ctx, ref.SiteID, d.ID)
		if err != nil {
			return TransferTargets{}, err
		}
		n := 0
		for _, u := range members {
			if hasRoom(u) && !slices.Contains(inChat, u.ID) {
				n++
			}
		}
		if n > 0 {
			out.Departments = append(out.Departments, TargetDepartment{ID: d.ID, Name: d.Name, Available: n})
		}
	}
	return out, nil
}

// SetCapacity sets the actor's own capacity (most concurrent chats), from 0
// (take none) up to the maximum an admin set for them.
func (s *Service) SetCapacity(ctx context.Context, a Actor, capacity int) (model.User, error) {
	if !a.IsStaff() {
		return model.User{}, apperr.Forbidden("staff_only", "staff only")
	}
	if capacity < 0 {
		return model.User{}, apperr.Invalid("invalid_capacity", "capacity must not be negative")
	}
	var out model.User
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		u, err := tx.GetUser(ctx, a.User.ID)
		if err != nil {
			return err
		}
		if capacity > u.MaxCapacity {
			return apperr.Invalid("capacity_above_maximum", "capacity is above the maximum an admin set for you")
		}
		u.Capacity, u.UpdatedAt = capacity, s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		out = u
		return s.announceAvailability(ctx, tx, u)
	})
	if err == nil {
		s.kickUserQueues(out.ID)
	}
	return out, err
}

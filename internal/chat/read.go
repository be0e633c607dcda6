package chat

import (
	"context"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/presence"
	"switchboard/internal/store"
)

// ConversationView is a conversation as staff see it: the ticket, its latest
// chat with participants, the contact, read marks and whether the customer
// is on the site right now.
type ConversationView struct {
	Conversation model.Conversation `json:"conversation"`
	Chat         *ChatView          `json:"chat,omitempty"`
	Contact      *model.Contact     `json:"contact,omitempty"`
	ReadMarks    []model.ReadMark   `json:"read_marks,omitempty"`
	Presence     *presence.Visitor  `json:"presence,omitempty"`
}

// ListConversations lists conversations the staff actor may see, with the
// filter narrowed to their sites.
func (s *Service) ListConversations(ctx context.Context, a Actor, f store.ConversationFilter) (store.ConversationPage, error) {
	if !a.IsStaff() {
		return store.ConversationPage{}, apperr.Forbidden("staff_only", "staff only")
	}
	if f.SiteID != 0 && !a.SeesSite(f.SiteID) {
		return store.ConversationPage{Conversations: []model.Conversation{}}, nil
	}
	f.SiteIDs = a.SiteIDs
	if f.SiteIDs == nil && a.User.Role != model.RoleAdmin {
		f.SiteIDs = []int64{}
	}
	if f.Status != "" && !f.Status.Valid() {
		return store.ConversationPage{}, apperr.Invalid("invalid_status", "status is one of open, pending, closed")
	}
	if f.ChatState != "" && !f.ChatState.Valid() {
		return store.ConversationPage{}, apperr.Invalid("invalid_chat_state", "chat_state is one of bot, waiting, pending, active, ended")
	}
	if f.Priority != "" && !f.Priority.Valid() {
		return store.ConversationPage{}, apperr.Invalid("invalid_priority", "priority is one of low, normal, high, urgent")
	}
	if f.Limit < 0 || f.Limit > 200 {
		return store.ConversationPage{}, apperr.Invalid("invalid_limit", "limit is 1 to 200 (0: the default, 50)")
	}
	page, err := s.st.ListConversations(ctx, f)
	if err != nil {
		return store.ConversationPage{}, err
	}
	if page.Conversations == nil {
		page.Conversations = []model.Conversation{}
	}
	return page, nil
}

// ContactBrief is what a list row shows of a customer.
type ContactBrief struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone,omitempty"`
}

// ConversationSummary is a row of the staff conversation list: the ticket,
// who the customer is, and whether they are on the site right now (as far
// as this node knows).
type ConversationSummary struct {
	model.Conversation
	Contact ContactBrief `json:"contact"`
	Online  bool         `json:"online"`
}

// Summaries enriches a page of conversations with their contacts and
// presence, one contact read per distinct contact.
func (s *Service) Summaries(ctx context.Context, convs []model.Conversation) ([]ConversationSummary, error) {
	out := make([]ConversationSummary, 0, len(convs))
	contacts := make(map[int64]ContactBrief, len(convs))
	for _, c := range convs {
		cb, ok := contacts[c.ContactID]
		if !ok {
			ct, err := s.st.GetContact(ctx, c.ContactID)
			if err != nil {
				return nil, err
			}
			cb = ContactBrief{ID: ct.ID, Name: ct.Name, Email: ct.Email, Phone: ct.Phone}
			contacts[c.ContactID] = cb
		}
		_, online := s.presence.ContactOnline(c.ContactID)
		out = append(out, ConversationSummary{Conversation: c, Contact: cb, Online: online})
	}
	return out, nil
}

// StaffMember is a colleague as other staff see them.
type StaffMember struct {
	ID           int64              `json:"id"`
	Name         string             `json:"name"`
	Role         model.Role         `json:"role"`
	Availability model.Availability `json:"availability"`
	Capacity     int                `json:"capacity"`
}

// Staff lists the enabled staff who share a site with the actor (every
// enabled user, for admins), for names and availability.
func (s *Service) Staff(ctx context.Context, a Actor) ([]StaffMember, error) {
	if !a.IsStaff() {
		return nil, apperr.Forbidden("staff_only", "staff only")
	}
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]StaffMember, 0, len(users))
	for _, u := range users {
		if u.Disabled {
			continue
		}
		if a.SiteIDs != nil && u.ID != a.User.ID {
			sites, err := s.st.UserSiteIDs(ctx, u.ID)
			if err != nil {
				return nil, err
			}
			shared := false
			for _, id := range sites {
				shared = shared || a.SeesSite(id)
			}
			if !shared {
				continue
			}
		}
		out = append(out, StaffMember{ID: u.ID, Name: u.Name, Role: u.Role, Availability: u.Availability, Capacity: u.Capacity})
	}
	return out, nil
}

// GetConversation returns one conversation with its chat, contact and
// presence, if the staff actor may see it.
func (s *Service) GetConversation(ctx context.Context, a Actor, id int64) (ConversationView, error) {
	if !a.IsStaff() {
		return ConversationView{}, apperr.NotFound("conversation")
	}
	if _, err := s.authorize(ctx, a, id); err != nil {
		return ConversationView{}, err
	}
	c, err := s.st.GetConversation(ctx, id)
	if err != nil {
		return ConversationView{}, err
	}
	v := ConversationView{Conversation: c}
	if c.ChatID != 0 {
		cv, err := s.chatView(ctx, s.st, c.ChatID)
		if err != nil {
			return ConversationView{}, err
		}
		v.Chat = &cv
	}
	contact, err := s.st.GetContact(ctx, c.ContactID)
	if err != nil {
		return ConversationView{}, err
	}
	v.Contact = &contact
	if v.ReadMarks, err = s.st.ListReadMarks(ctx, id); err != nil {
		return ConversationView{}, err
	}
	if p, ok := s.presence.ContactOnline(c.ContactID); ok {
		v.Presence = &p
	}
	return v, nil
}

// History returns part of a timeline after a seq, with the visibility rules
// of live delivery: visitors never see internal entries.
func (s *Service) History(ctx context.Context, a Actor, id, afterSeq int64, limit int) ([]model.Message, error) {
	if _, err := s.authorize(ctx, a, id); err != nil {
		return nil, err
	}
	if afterSeq < 0 {
		return nil, apperr.Invalid("invalid_seq", "after_seq must not be negative")
	}
	if limit < 0 || limit > 1000 {
		return nil, apperr.Invalid("invalid_limit", "limit is 1 to 1000 (0: the default, 100)")
	}
	msgs, err := s.st.ListMessages(ctx, store.MessageQuery{ConversationID: id, AfterSeq: afterSeq, Limit: limit, IncludeInternal: a.IsStaff()})
	if err != nil {
		return nil, err
	}
	if msgs == nil {
		msgs = []model.Message{}
	}
	return msgs, nil
}

// StaffActor builds the actor of a signed-in staff user: admins see every
// site, others the sites they belong to.
func (s *Service) StaffActor(ctx context.Context, u model.User) (Actor, error) {
	a := Actor{Party: model.PartyAgent, User: u}
	if u.Role == model.RoleAdmin {
		return a, nil
	}
	ids, err := s.st.UserSiteIDs(ctx, u.ID)
	if err != nil {
		return Actor{}, err
	}
	if ids == nil {
		ids = []int64{}
	}
	a.SiteIDs = ids
	return a, nil
}

package chat

// SMS and WhatsApp: a customer reached again on the channel they use
// (docs/email.md, "Other channels"). Outgoing texts are queued in the outbox
// with their own transport, in the same transaction as the agent's message,
// and sent by a channel sender (ChannelSender); incoming ones arrive through
// DeliverChannel from the provider's signed webhook.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/channel"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// ChannelConfig wires SMS and WhatsApp into the chat service.
type ChannelConfig struct {
	// SiteKey is the site the provider's numbers belong to: new contacts
	// and conversations from inbound texts are created there.
	SiteKey string
	// Enabled names the transports configured ("sms", "whatsapp").
	Enabled map[string]bool
	// Kick is called after commit when a text was queued (its sender).
	Kick func(transport string)
}

// ChannelSendInput is an agent's text to a customer by SMS or WhatsApp.
type ChannelSendInput struct {
	Channel      string // "sms" or "whatsapp"
	ClientID     string
	Body         string
	TemplateID   string            // WhatsApp: an approved template (required outside the 24-hour window)
	TemplateVars map[string]string // the template's variables
}

// channelPayload is what an outbox row of the sms/whatsapp transports
// carries in its body.
type channelPayload struct {
	Body         string            `json:"body,omitempty"`
	TemplateID   string            `json:"template_id,omitempty"`
	TemplateVars map[string]string `json:"template_vars,omitempty"`
}

// lastCustomerMessage is when the customer last wrote in a conversation
// (zero when never): WhatsApp's 24-hour window is counted from it.
func lastCustomerMessage(ctx context.Context, r store.Reader, conv model.Conversation) (time.Time, error) {
	var last time.Time
	after := max(conv.LastSeq-1000, 0)
	msgs, err := r.ListMessages(ctx, store.MessageQuery{ConversationID: conv.ID, AfterSeq: after, Limit: 1000})
	if err != nil {
		return last, err
	}
	for _, m := range msgs {
		if m.AuthorKind == model.PartyVisitor && m.CreatedAt.After(last) {
			last = m.CreatedAt
		}
	}
	return last, nil
}

// SendChannel appends an agent's text to a conversation and queues it by
// SMS or WhatsApp to the customer's phone. Outside WhatsApp's 24-hour
// window only an approved template may be sent; sending one closes the
// ticket, and the customer's answer starts a new live chat. A retry with
// the same client id sends nothing more.
func (s *Service) SendChannel(ctx context.Context, a Actor, convID int64, in ChannelSendInput) (model.Message, error) {
	ref, err := s.staffWriter(ctx, a, convID)
	if err != nil {
		return model.Message{}, err
	}
	if in.Channel != "sms" && in.Channel != "whatsapp" {
		return model.Message{}, apperr.Invalid("invalid_channel", "channel is sms or whatsapp")
	}
	if !s.channels.Enabled[in.Channel] {
		return model.Message{}, apperr.Conflict("channel_not_configured", "this server sends no "+in.Channel)
	}
	if err := validateClientID(in.ClientID); err != nil {
		return model.Message{}, err
	}
	body := in.Body
	if in.TemplateID == "" {
		if _, err := s.validateBody(in.Body, false); err != nil {
			return model.Message{}, err
		}
		if len(in.Body) > 1600 {
			return model.Message{}, apperr.TooLarge("message_too_long", "a text is at most 1600 bytes")
		}
	} else {
		if in.Channel != "whatsapp" {
			return model.Message{}, apperr.Invalid("template_whatsapp_only", "templates are for WhatsApp")
		}
		body = "[WhatsApp template " + in.TemplateID + "]"
	}
	var out model.Message
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		conv, err := tx.GetConversation(ctx, convID)
		if err != nil {
			return err
		}
		contact, err := tx.GetContact(ctx, conv.ContactID)
		if err != nil {
			return err
		}
		if contact.Phone == "" {
			return apperr.Conflict("no_phone", "the customer left no phone number")
		}
		if in.Channel == "whatsapp" {
			last, err := lastCustomerMessage(ctx, tx, conv)
			if err != nil {
				return err
			}
			if err := channel.CheckWhatsApp(channel.Outgoing{To: contact.Phone, TemplateID: in.TemplateID}, last, s.now()); err != nil {
				return err
			}
		}
		m, dup, err := s.appendText(ctx, tx, a, conv.ID, 0, in.ClientID, body, nil)
		if err != nil || dup {
			out = m
			return err
		}
		out = m
		payload, err := json.Marshal(channelPayload{Body: in.Body, TemplateID: in.TemplateID, TemplateVars: in.TemplateVars})
		if err != nil {
			return err
		}
		row := model.OutboxMail{ConversationID: conv.ID, Transport: in.Channel, Kind: "message",
			DedupeKey: fmt.Sprintf("%s:%d", in.Channel, m.ID), To: contact.Phone, Body: payload,
			NextAttemptAt: s.now(), CreatedAt: s.now()}
		if err := tx.EnqueueMail(ctx, &row); err != nil {
			return err
		}
		if in.TemplateID != "" {
			// A template reopens contact, not a live chat: the ticket is
			// closed until the customer answers (DeliverChannel).
			conv.Status = model.StatusClosed
		} else if conv.AssigneeID == 0 {
			conv.AssigneeID = a.User.ID
		}
		conv.UpdatedAt = m.CreatedAt
		if err := tx.UpdateConversation(ctx, conv); err != nil {
			return err
		}
		c2, transport := conv, in.Channel
		tx.OnCommit(func() {
			s.publishMessage(ref, m)
			s.publishConversation(c2)
			if s.channels.Kick != nil {
				s.channels.Kick(transport)
			}
		})
		return nil
	})
	return out, err
}

// relayToChannel queues an agent's chat message to the customer's phone on
// the conversation's channel, in the message's transaction: a chat that
// began by SMS or WhatsApp is answered there. Outside WhatsApp's 24-hour
// window it is refused (template_required) and nothing is written.
func (s *Service) relayToChannel(ctx context.Context, tx store.Tx, conv model.Conversation, m model.Message) error {
	if !s.channels.Enabled[conv.Channel] {
		return apperr.Conflict("channel_not_configured", "this server sends no "+conv.Channel+": the customer would not get the reply")
	}
	contact, err := tx.GetContact(ctx, conv.ContactID)
	if err != nil {
		return err
	}
	if contact.Phone == "" {
		return apperr.Conflict("no_phone", "the customer left no phone number")
	}
	if conv.Channel == "whatsapp" {
		last, err := lastCustomerMessage(ctx, tx, conv)
		if err != nil {
			return err
		}
		if err := channel.CheckWhatsApp(channel.Outgoing{To: contact.Phone}, last, s.now()); err != nil {
			return err
		}
	}
	body := m.Body
	if body == "" && m.Attachment != nil {
		body = "[file: " + m.Attachment.Name + "]"
	}
	payload, err := json.Marshal(channelPayload{Body: truncate(body, 1600)})
	if err != nil {
		return err
	}
	row := model.OutboxMail{ConversationID: conv.ID, Transport: conv.Channel, Kind: "message",
		DedupeKey: fmt.Sprintf("%s:%d", conv.Channel, m.ID), To: contact.Phone, Body: payload,
		NextAttemptAt: s.now(), CreatedAt: s.now()}
	if err := tx.EnqueueMail(ctx, &row); err != nil {
		return err
	}
	transport := conv.Channel
	tx.OnCommit(func() {
		if s.channels.Kick != nil {
			s.channels.Kick(transport)
		}
	})
	return nil
}

// DeliverChannel appends a text the customer sent by SMS or WhatsApp, once
// per provider message id. A new number becomes a new contact; the
// customer's newest conversation on that channel continues, or a new one
// starts; when no chat is live, the text starts one in the queue, so an
// agent answers it live.
func (s *Service) DeliverChannel(ctx context.Context, in channel.Inbound) error {
	if in.Channel != "sms" && in.Channel != "whatsapp" {
		return apperr.Invalid("invalid_channel", "channel is sms or whatsapp")
	}
	if s.channels.SiteKey == "" || !s.channels.Enabled[in.Channel] {
		return apperr.Conflict("channel_not_configured", "no site receives "+in.Channel)
	}
	site, err := s.st.GetSiteByKey(ctx, s.channels.SiteKey)
	if err != nil {
		return err
	}
	clientID := "ch-" + in.ProviderID
	if err := validateClientID(clientID); err != nil {
		return apperr.Invalid("malformed_webhook", "unusable message id")
	}
	body := strings.TrimSpace(strings.ReplaceAll(in.Body, "\x00", ""))
	if body == "" && len(in.Media) > 0 {
		body = fmt.Sprintf("[%d attachment(s) sent by %s]", len(in.Media), in.Channel)
	}
	if body == "" {
		body = "(empty message)"
	}
	body = truncate(body, s.limits.MaxBodyBytes)
	var published func()
	var kick *queueKey
	var entry model.QueueEntry
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		published, kick = nil, nil
		now := s.now()
		contact, err := tx.GetContactByPhone(ctx, site.ID, in.From)
		if apperr.IsNotFound(err) {
			contact = model.Contact{SiteID: site.ID, Name: truncate(in.ProfileName, 200), Phone: in.From,
				Attributes: map[string]string{}, CreatedAt: now}
			err = tx.CreateContact(ctx, &contact)
		}
		if err != nil {
			return err
		}
		conv, found, err := newestOnChannel(ctx, tx, contact, in.Channel)
		if err != nil {
			return err
		}
		if found {
			if _, err := tx.GetMessageByClientID(ctx, conv.ID, model.PartyVisitor, contact.ID, clientID); err == nil {
				return nil // the provider delivered it before
			} else if !apperr.IsNotFound(err) {
				return err
			}
		} else {
			if conv, err = s.newConversation(ctx, tx, contact.SiteID, contact.ID, in.Channel, now); err != nil {
				return err
			}
		}
		ref := convRef{SiteID: conv.SiteID, ContactID: conv.ContactID}
		var chatView *ChatView
		if !conv.ChatState.Live() {
			// The customer answered: the conversation turns live.
			k := queueKey{conv.SiteID, conv.DepartmentID}
			qs, err := s.settingsFor(ctx, tx, k)
			if err != nil {
				return err
			}
			c := model.Chat{ConversationID: conv.ID, State: model.ChatWaiting, RequestedAt: now}
			if err := tx.CreateChat(ctx, &c); err != nil {
				return err
			}
			conv.ChatID, conv.ChatState, conv.AssigneeID = c.ID, model.ChatWaiting, 0
			if entry, err = s.enqueue(ctx, tx, conv, c, qs); err != nil {
				return err
			}
			kick = &k
			v, err := s.chatView(ctx, tx, c.ID)
			if err != nil {
				return err
			}
			chatView = &v
		}
		visitor := Actor{Party: model.PartyVisitor, SiteID: conv.SiteID, ContactID: contact.ID, Name: contact.Name}
		m, dup, err := s.appendText(ctx, tx, visitor, conv.ID, conv.ChatID, clientID, body, nil)
		if err != nil || dup {
			return err
		}
		conv.Status, conv.UpdatedAt = model.StatusOpen, now
		if err := tx.UpdateConversation(ctx, conv); err != nil {
			return err
		}
		c2, e := conv, entry
		published = func() {
			s.refs.put(c2.ID, ref)
			s.publishMessage(ref, m)
			s.publishConversation(c2)
			if chatView != nil {
				s.publishChat(ref, *chatView)
				s.router.scheduleMaxWait(e)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if published != nil {
		published()
	}
	if kick != nil {
		s.router.kick(*kick)
	}
	return nil
}

// newestOnChannel finds a contact's newest conversation on a channel.
func newestOnChannel(ctx context.Context, r store.Reader, contact model.Contact, ch string) (model.Conversation, bool, error) {
	page, err := r.ListConversations(ctx, store.ConversationFilter{SiteID: contact.SiteID, ContactID: contact.ID, Limit: 50})
	if err != nil {
		return model.Conversation{}, false, err
	}
	for _, c := range page.Conversations {
		if c.Channel == ch {
			return c, true, nil
		}
	}
	return model.Conversation{}, false, nil
}

// ChannelSender sends the outbox rows of one transport through an adapter:
// it is the email outbox's Sender for SMS and WhatsApp.
type ChannelSender struct{ Adapter channel.Adapter }

// Send decodes a queued text and hands it to the provider.
func (c ChannelSender) Send(ctx context.Context, _ string, to []string, msg []byte) error {
	var p channelPayload
	if err := json.Unmarshal(msg, &p); err != nil {
		return apperr.Invalid("malformed_outbox_row", "unreadable queued text")
	}
	if len(to) != 1 {
		return apperr.Invalid("malformed_outbox_row", "one recipient per text")
	}
	_, err := c.Adapter.Send(ctx, channel.Outgoing{To: to[0], Body: p.Body, TemplateID: p.TemplateID, TemplateVars: p.TemplateVars})
	return err
}

// ChannelPermanent reports a refusal no retry can change (the outbox's
// Permanent for the channel transports).
func ChannelPermanent(err error) bool {
	return !channel.Retryable(err)
}

package chat

// Tickets and email: a conversation outlives its chats and continues by
// email (docs/email.md). Outgoing mail is queued in the same transaction
// as the change that causes it (store.Tx.EnqueueMail), so it is as durable
// as that change; the email package's outbox sends it. Inbound replies
// arrive through Deliver (the email.Inbox interface).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/blob"
	"switchboard/internal/email"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

var _ email.Inbox = (*Service)(nil)

// threadRoot is the Message-ID every mail of a conversation refers to, so
// mail clients keep one thread however many mails it takes. It carries the
// reply address's signature: a stranger cannot name a conversation's thread
// by guessing its id.
func (s *Service) threadRoot(convID int64) string {
	domain := email.Domain(s.mail.From)
	addr := email.ReplyAddress(s.mail.Secret, domain, convID)
	local := strings.TrimPrefix(addr[:strings.LastIndexByte(addr, '@')], "reply+")
	return "conversation-" + local + "@" + domain
}

// queueMail composes and queues one mail to the conversation's customer
// inside tx. dedupe names the cause, so a retry never queues it twice.
func (s *Service) queueMail(ctx context.Context, tx store.Tx, site model.Site, conv model.Conversation, to, kind, dedupe, subject, text, html string) error {
	domain := email.Domain(s.mail.From)
	root := s.threadRoot(conv.ID)
	fromName := site.Email.FromName
	if fromName == "" {
		fromName = site.Name
	}
	o := email.Outgoing{FromName: fromName, From: s.mail.From, To: to,
		ReplyTo: email.ReplyAddress(s.mail.Secret, domain, conv.ID), Subject: subject,
		MessageID: email.NewMessageID(domain), InReplyTo: root, References: []string{root},
		Text: text, HTML: html, AutoSubmitted: kind != "reply", Date: s.now()}
	raw, err := email.Build(o)
	if err != nil {
		return fmt.Errorf("compose %s mail: %w", kind, err)
	}
	m := model.OutboxMail{ConversationID: conv.ID, Kind: kind, DedupeKey: dedupe, From: s.mail.From, To: to,
		MessageID: o.MessageID, Body: raw, NextAttemptAt: s.now(), CreatedAt: s.now()}
	if err := tx.EnqueueMail(ctx, &m); err != nil {
		if apperr.CodeOf(err) == "mail_already_queued" {
			return nil
		}
		return err
	}
	for _, id := range []string{root, o.MessageID} {
		if err := tx.PutMailRef(ctx, id, conv.ID); err != nil {
			return err
		}
	}
	if s.mail.Kick != nil {
		tx.OnCommit(s.mail.Kick)
	}
	return nil
}

// queueTranscript queues the transcript of a conversation's timeline to its
// customer, once per chat.
func (s *Service) queueTranscript(ctx context.Context, tx store.Tx, conv model.Conversation, chatID int64) error {
	if !s.mail.enabled() {
		return apperr.Conflict("email_not_configured", "this server sends no email")
	}
	site, err := tx.GetSite(ctx, conv.SiteID)
	if err != nil {
		return err
	}
	if site.Email.Transcript == "never" {
		return apperr.Conflict("transcripts_disabled", "this site does not send transcripts")
	}
	contact, err := tx.GetContact(ctx, conv.ContactID)
	if err != nil {
		return err
	}
	if contact.Email == "" {
		return apperr.Conflict("no_email", "we have no email address to send the transcript to")
	}
	msgs, err := tx.ListMessages(ctx, store.MessageQuery{ConversationID: conv.ID, Limit: 1000})
	if err != nil {
		return err
	}
	subject, text, html := email.Transcript(site, contact, msgs)
	return s.queueMail(ctx, tx, site, conv, contact.Email, "transcript", fmt.Sprintf("transcript:%d", chatID), subject, text, html)
}

// transcriptOnEnd queues the transcript when a chat ends and the site
// sends them always. It never fails the end: a transcript that cannot be
// sent (no address) is simply not sent.
func (s *Service) transcriptOnEnd(ctx context.Context, tx store.Tx, conv model.Conversation, chatID int64) error {
	if !s.mail.enabled() {
		return nil
	}
	site, err := tx.GetSite(ctx, conv.SiteID)
	if err != nil || site.Email.Transcript != "always" {
		return err
	}
	err = s.queueTranscript(ctx, tx, conv, chatID)
	if apperr.KindOf(err) == apperr.KindConflict {
		return nil
	}
	return err
}

// RequestTranscript emails the visitor the transcript of their last ended
// chat in a conversation (the widget's "email me the transcript"). An email
// address given here is kept on the contact.
func (s *Service) RequestTranscript(ctx context.Context, a Actor, convID int64, address string) error {
	if a.Party != model.PartyVisitor {
		return apperr.Forbidden("visitors_only", "the customer asks for their transcript")
	}
	if _, err := s.authorize(ctx, a, convID); err != nil {
		return err
	}
	if address != "" {
		norm, err := normalizeEmail(address)
		if err != nil {
			return err
		}
		address = norm
	}
	return s.st.InTx(ctx, func(tx store.Tx) error {
		conv, err := tx.GetConversation(ctx, convID)
		if err != nil {
			return err
		}
		if conv.ChatID == 0 || conv.ChatState != model.ChatEnded {
			return apperr.Conflict("chat_not_ended", "the transcript is sent once the chat has ended")
		}
		if address != "" {
			c, err := tx.GetContact(ctx, conv.ContactID)
			if err != nil {
				return err
			}
			if c.Email != address {
				c.Email = address
				if err := tx.UpdateContact(ctx, c); err != nil {
					return err
				}
			}
		}
		return s.queueTranscript(ctx, tx, conv, conv.ChatID)
	})
}

// ReplyByEmail appends an agent's reply to a ticket and emails it to the
// customer, threaded with the conversation's earlier mails. A retry with
// the same client id returns the first reply and sends nothing more.
func (s *Service) ReplyByEmail(ctx context.Context, a Actor, convID int64, in SendInput) (model.Message, error) {
	ref, err := s.staffWriter(ctx, a, convID)
	if err != nil {
		return model.Message{}, err
	}
	if !s.mail.enabled() {
		return model.Message{}, apperr.Conflict("email_not_configured", "this server sends no email")
	}
	if err := validateClientID(in.ClientID); err != nil {
		return model.Message{}, err
	}
	if in.AttachmentID != 0 {
		return model.Message{}, apperr.Invalid("email_attachment_unsupported", "email replies carry text only")
	}
	if _, err := s.validateBody(in.Body, false); err != nil {
		return model.Message{}, err
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
		if contact.Email == "" {
			return apperr.Conflict("no_email", "the customer left no email address")
		}
		m, dup, err := s.appendText(ctx, tx, a, conv.ID, 0, in.ClientID, in.Body, nil)
		if err != nil || dup {
			out = m
			return err
		}
		out = m
		site, err := tx.GetSite(ctx, conv.SiteID)
		if err != nil {
			return err
		}
		text, html := email.Reply(site, a.User.Name, in.Body)
		subject := "Re: your conversation with " + site.Name
		if err := s.queueMail(ctx, tx, site, conv, contact.Email, "reply", fmt.Sprintf("reply:%d", m.ID), subject, text, html); err != nil {
			return err
		}
		if conv.AssigneeID == 0 || conv.Status == model.StatusClosed {
			// Answering takes the ticket; it stays open until someone closes it.
			if conv.AssigneeID == 0 {
				conv.AssigneeID = a.User.ID
			}
			conv.Status, conv.UpdatedAt = model.StatusOpen, m.CreatedAt
			if err := tx.UpdateConversation(ctx, conv); err != nil {
				return err
			}
		}
		c2 := conv
		tx.OnCommit(func() {
			s.publishMessage(ref, m)
			s.publishConversation(c2)
		})
		return nil
	})
	return out, err
}

// mailClientID is the idempotency key of an inbound mail's message: a mail
// delivered twice (a sender retrying after a lost 250) is stored once.
func mailClientID(messageID string, part int) string {
	sum := sha256.Sum256([]byte(messageID))
	return fmt.Sprintf("mail-%s-%d", hex.EncodeToString(sum[:12]), part)
}

// Deliver appends an inbound mail to its conversation (email.Inbox): the
// customer's new text (quoted history trimmed; the raw mail kept as an
// attachment), then its attachments. A closed ticket reopens. Automatic
// mail (auto-replies, bounces) is kept as an internal note for staff and
// never answered.
func (s *Service) Deliver(ctx context.Context, in email.Inbound) error {
	convID := in.ConversationID
	byRefs := convID == 0
	if byRefs {
		id, err := s.st.ConversationByMailRef(ctx, in.References)
		if err != nil {
			return err
		}
		convID = id
	}
	conv, err := s.st.GetConversation(ctx, convID)
	if err != nil {
		return err
	}
	ref := convRef{SiteID: conv.SiteID, ContactID: conv.ContactID}
	s.refs.put(conv.ID, ref)
	contact, err := s.st.GetContact(ctx, conv.ContactID)
	if err != nil {
		return err
	}
	if byRefs && !in.Automatic && !strings.EqualFold(in.From, contact.Email) {
		// Without the signed reply address only the customer's own address
		// may continue a thread: headers are easy to forge, signatures not.
		return apperr.NotFound("mail_ref")
	}
	visitor := Actor{Party: model.PartyVisitor, SiteID: conv.SiteID, ContactID: contact.ID, Name: contact.Name}
	if visitor.Name == "" {
		visitor.Name = in.FromName
	}
	if _, err := s.st.GetMessageByClientID(ctx, conv.ID, model.PartyVisitor, contact.ID, mailClientID(in.MessageID, 0)); err == nil {
		return nil // delivered before
	}
	if in.Automatic {
		return s.noteAutomatic(ctx, conv, ref, in)
	}
	raw, err := s.storeMailPart(ctx, conv.ID, contact.ID, "message.eml", in.Raw)
	if err != nil {
		return err
	}
	var atts []model.Attachment
	var refused []string
	for _, p := range in.Attachments {
		a, err := s.storeMailPart(ctx, conv.ID, contact.ID, p.Name, p.Data)
		if k := apperr.KindOf(err); k == apperr.KindInvalid || k == apperr.KindTooLarge {
			// A file the upload rules refuse (a type not allowed, empty, too
			// large) is left out, not the whole mail: the raw mail keeps it.
			refused = append(refused, blob.SafeFilename(p.Name))
			continue
		}
		if err != nil {
			return err
		}
		atts = append(atts, a)
	}
	body := mailBody(in, s.limits.MaxBodyBytes)
	if len(refused) > 0 {
		body = truncate(body+"\n\n[not kept: "+strings.Join(refused, ", ")+" — in the original email]", s.limits.MaxBodyBytes)
	}
	return s.st.InTx(ctx, func(tx store.Tx) error {
		c, err := tx.GetConversation(ctx, conv.ID)
		if err != nil {
			return err
		}
		now := s.now()
		m := model.Message{ConversationID: c.ID, AuthorKind: model.PartyVisitor, AuthorID: contact.ID,
			AuthorName: authorName(visitor), ClientID: mailClientID(in.MessageID, 0), Kind: model.KindText,
			Visibility: model.Public, Body: body, RawAttachmentID: raw.ID, CreatedAt: now}
		if err := tx.AppendMessage(ctx, &m); err != nil {
			if apperr.CodeOf(err) == "duplicate_client_id" {
				return nil // another node stored it first
			}
			return err
		}
		sent := []model.Message{m}
		for i, a := range atts {
			am := model.Message{ConversationID: c.ID, AuthorKind: model.PartyVisitor, AuthorID: contact.ID,
				AuthorName: m.AuthorName, ClientID: mailClientID(in.MessageID, i+1), Kind: model.KindText,
				Visibility: model.Public, AttachmentID: a.ID, CreatedAt: now}
			if err := tx.AppendMessage(ctx, &am); err != nil {
				return err
			}
			am.Attachment = &atts[i]
			sent = append(sent, am)
		}
		if err := tx.PutMailRef(ctx, in.MessageID, c.ID); err != nil {
			return err
		}
		if c.Status != model.StatusOpen && !c.ChatState.Live() {
			c.Status = model.StatusOpen // a reply reopens the ticket
		}
		c.UpdatedAt = now
		if err := tx.UpdateConversation(ctx, c); err != nil {
			return err
		}
		tx.OnCommit(func() {
			for _, m := range sent {
				s.publishMessage(ref, m)
			}
			s.publishConversation(c)
		})
		return nil
	})
}

// storeMailPart keeps a part of an inbound mail as an attachment of the
// conversation, uploaded by the customer.
func (s *Service) storeMailPart(ctx context.Context, convID, contactID int64, name string, data []byte) (model.Attachment, error) {
	obj, err := s.blobs.Put(ctx, name, bytes.NewReader(data), int64(len(data))+1)
	if err != nil {
		return model.Attachment{}, err
	}
	att := model.Attachment{ConversationID: convID, UploaderKind: model.PartyVisitor, UploaderID: contactID,
		Name: blob.SafeFilename(name), ContentType: obj.ContentType, Size: obj.Size, BlobKey: obj.Key, CreatedAt: s.now()}
	if err := s.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateAttachment(ctx, &att) }); err != nil {
		return model.Attachment{}, err
	}
	return att, nil
}

// mailBody is the text shown for an inbound mail, within the body limit.
func mailBody(in email.Inbound, limit int) string {
	body := strings.TrimSpace(strings.ReplaceAll(in.Text, "\x00", ""))
	if body == "" {
		body = strings.TrimSpace(in.Subject)
	}
	if body == "" {
		body = "(empty email)"
	}
	if len(body) > limit {
		cut := limit - len("…")
		for cut > 0 && !utf8.RuneStart(body[cut]) {
			cut--
		}
		body = body[:cut] + "…"
	}
	return body
}

// noteAutomatic records an auto-reply or bounce for staff only.
func (s *Service) noteAutomatic(ctx context.Context, conv model.Conversation, ref convRef, in email.Inbound) error {
	return s.st.InTx(ctx, func(tx store.Tx) error {
		m := model.Message{ConversationID: conv.ID, AuthorKind: model.PartySystem, ClientID: mailClientID(in.MessageID, 0),
			Kind: model.KindNote, Visibility: model.Internal,
			Body: truncate("Automatic email from "+in.From+": "+in.Subject, s.limits.MaxBodyBytes), CreatedAt: s.now()}
		if err := tx.AppendMessage(ctx, &m); err != nil {
			if apperr.CodeOf(err) == "duplicate_client_id" {
				return nil
			}
			return err
		}
		tx.OnCommit(func() { s.publishMessage(ref, m) })
		return nil
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// SetStatus sets a ticket's status (open, pending, closed). A conversation
// with a live chat is closed by ending the chat.
func (s *Service) SetStatus(ctx context.Context, a Actor, convID int64, st model.TicketStatus) (model.Conversation, error) {
	if !a.IsStaff() {
		return model.Conversation{}, apperr.NotFound("conversation")
	}
	if _, err := s.authorize(ctx, a, convID); err != nil {
		return model.Conversation{}, err
	}
	if !st.Valid() {
		return model.Conversation{}, apperr.Invalid("invalid_status", "status is one of open, pending, closed")
	}
	return s.updateConversation(ctx, convID, func(_ store.Tx, c *model.Conversation) error {
		if st == model.StatusClosed && c.ChatState.Live() {
			return apperr.Conflict("chat_live", "end the chat before closing the ticket")
		}
		c.Status = st
		return nil
	})
}

// AssignTicket gives a ticket (a conversation without a live chat) to an
// agent, or unassigns it (userID 0). Live chats are assigned by routing,
// Join and Assign instead.
func (s *Service) AssignTicket(ctx context.Context, a Actor, convID, userID int64) (model.Conversation, error) {
	if !a.IsStaff() {
		return model.Conversation{}, apperr.NotFound("conversation")
	}
	ref, err := s.authorize(ctx, a, convID)
	if err != nil {
		return model.Conversation{}, err
	}
	if userID < 0 {
		return model.Conversation{}, apperr.Invalid("invalid_user", "user_id is a user's id, or 0 to unassign")
	}
	return s.updateConversation(ctx, convID, func(tx store.Tx, c *model.Conversation) error {
		if c.ChatState.Live() {
			return apperr.Conflict("chat_live", "a live chat is assigned by joining it or with assign")
		}
		if userID != 0 {
			u, err := tx.GetUser(ctx, userID)
			if apperr.IsNotFound(err) {
				return apperr.NotFound("agent")
			}
			if err != nil {
				return err
			}
			if u.Disabled || u.Role == model.RoleSupervisor {
				return apperr.NotFound("agent")
			}
			if u.Role != model.RoleAdmin {
				sites, err := tx.UserSiteIDs(ctx, u.ID)
				if err != nil {
					return err
				}
				seen := false
				for _, id := range sites {
					seen = seen || id == ref.SiteID
				}
				if !seen {
					return apperr.NotFound("agent")
				}
			}
		}
		c.AssigneeID = userID
		return nil
	})
}

// Mail lists the mails queued and sent for a conversation (staff).
func (s *Service) Mail(ctx context.Context, a Actor, convID int64) ([]model.OutboxMail, error) {
	if !a.IsStaff() {
		return nil, apperr.NotFound("conversation")
	}
	if _, err := s.authorize(ctx, a, convID); err != nil {
		return nil, err
	}
	return s.st.ListMail(ctx, convID)
}

// Package email carries conversations over email: outgoing mail through a
// durable outbox and SMTP (outbox.go, smtp.go, compose.go), incoming
// replies through an SMTP listener built into the binary (inbound.go,
// parse.go), and the signed reply addresses that thread them (address.go).
// See docs/email.md.
//
// It knows nothing of HTTP or of the chat rules: the chat service queues
// mails in its own transactions (store.Tx.EnqueueMail) and receives inbound
// mail through the Inbox interface.
package email

import (
	"context"
	"time"
)

// Config configures email. The zero value sends nothing and listens nowhere.
type Config struct {
	// SMTP is the outgoing server: smtp://user:pass@host:587 (STARTTLS
	// required), smtps://user:pass@host:465 (implicit TLS), or
	// smtp+insecure://host:25 (plain; only for a local relay or tests).
	SMTP string
	// From is the address mails come from, e.g. support@example.com; its
	// domain is also where signed reply addresses live (reply+…@domain).
	From string
	// Secret signs reply addresses (HMAC-SHA256). Every node must share it.
	Secret []byte
	// Listen is the inbound SMTP listener's address (e.g. ":2525"); empty:
	// no listener.
	Listen string
	// MaxMessageBytes bounds an inbound mail (refused at SMTP time); default 25 MiB.
	MaxMessageBytes int64
	// Timeout bounds each SMTP conversation step; default 30 s.
	Timeout time.Duration
}

// Part is an attachment of an inbound mail.
type Part struct {
	Name        string
	ContentType string // as declared; the blob store sniffs it again
	Data        []byte
}

// Inbound is a mail received for a conversation.
type Inbound struct {
	ConversationID int64    // from the signed reply address, or 0 (then matched by References)
	References     []string // In-Reply-To first, then References newest first; without <>
	From           string   // the sender's address, lower-cased
	FromName       string
	MessageID      string // without <>; generated from the content when missing
	Subject        string
	Text           string // the new text, quoted history and signature trimmed
	FullText       string // the whole text part (or the HTML part as text)
	Raw            []byte // the message as received
	Attachments    []Part
	// Automatic is set for auto-replies, bounces and list mail: stored for
	// the record but never answered, so two robots cannot loop.
	Automatic bool
}

// Inbox receives inbound mail. Deliver must be idempotent by MessageID (a
// sender may deliver twice). It returns an error with apperr code
// "mail_ref_not_found" or "conversation_not_found" when the mail belongs to
// no conversation (the listener refuses it with 550), any other error for
// a temporary failure (451: the sender retries).
type Inbox interface {
	Deliver(ctx context.Context, in Inbound) error
}

// Package channel reaches a customer outside the widget: by SMS or WhatsApp,
// through a messaging provider. From a closed chat an agent can write to the
// customer again; the customer's answer comes back through the provider's
// webhook and continues the same conversation.
//
// # The interface
//
// An Adapter sends one message on one channel ("sms" or "whatsapp"). It is
// deliberately small: Send takes an Outgoing (a recipient in E.164, a text
// body or an approved template) and returns the provider's id for the
// message, which later status callbacks and replies refer to. Incoming
// messages do not go through the Adapter: each provider has a webhook
// (webhook.go for Twilio) that verifies the provider's signature, parses the
// provider's form into an Inbound and hands it to a deliver function. The
// package knows nothing of conversations, the store or HTTP statuses of the
// REST API: errors are apperr errors with the stable codes below, and the
// caller decides what to record.
//
// Guarantees, in the spirit of the design's promises:
//   - Send is at-most-once per call but not idempotent across calls: the
//     provider has no idempotency key. An error with code
//     provider_unavailable is retryable, but after a timeout the message may
//     already have been accepted, so a retry can deliver it twice. Callers
//     that retry should do so from a durable outbox and accept that risk.
//   - A webhook may deliver the same Inbound more than once (the provider
//     retries when we answer 5xx or time out). Inbound.ProviderID is unique
//     per message; the consumer must deduplicate on it.
//
// # WhatsApp's 24-hour rule
//
// WhatsApp lets a business send free-form text only within 24 hours of the
// customer's last message (the "customer service window"). Outside it, only
// a pre-approved template may be sent; on Twilio that is a Content Template
// with a SID starting "HX", sent as ContentSid plus ContentVariables. The
// rule is the pure function FreeformAllowed; CheckWhatsApp applies it to an
// Outgoing and returns template_required. Call it before Send with the time
// of the customer's last inbound message: the provider enforces the rule too
// (Twilio error 63016), but often only asynchronously, after Send returned.
// SMS has no such window.
//
// # Errors
//
// Codes, stable for clients (apperr.Code):
//
//	invalid_phone         not E.164, or the provider says the number is invalid (kind invalid)
//	template_required     WhatsApp outside the 24-hour window without a template (kind conflict)
//	template_not_found    the template id is malformed or unknown to the provider (kind not_found)
//	provider_rejected     the provider refused the message; *ProviderError holds its code and message
//	provider_unavailable  5xx, 429, network failure or timeout: retry later (kind unavailable)
//
// Checks made before anything is sent add: body_required, body_invalid
// (kind invalid), body_too_long (too_large, over 1600 characters),
// status_callback_invalid, and channel_not_configured (conflict: the adapter
// has no sender). NewTwilio returns channel_config_invalid; ParseInbound
// returns malformed_webhook or invalid_phone.
//
// A provider's own error code and message are kept in a *ProviderError,
// reachable with errors.As, whatever code it was mapped to.
//
// # Adding a provider
//
// Write a constructor that takes the provider's credentials and returns one
// Adapter per channel it serves (Name returns "sms" or "whatsapp"). In Send:
// check the number with ValidE164; speak the provider's documented wire
// format exactly; map its documented error codes onto the codes above
// (write the mapping down beside the code, as twilio.go does) and keep the
// original in a *ProviderError; turn network failures, timeouts and 5xx into
// provider_unavailable. For inbound traffic, write a signature check and a
// parser that produce an Inbound with E.164 numbers and the channel name,
// and an http.Handler that rejects unsigned requests before calling deliver.
// Test it against an httptest server that speaks the provider's format.
package channel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"switchboard/internal/apperr"
)

// Channel names, as returned by Adapter.Name and set in Inbound.Channel.
const (
	ChannelSMS      = "sms"
	ChannelWhatsApp = "whatsapp"
)

// Adapter sends messages on one channel through one provider. It is safe for
// concurrent use.
type Adapter interface {
	// Name is the channel: "sms" or "whatsapp".
	Name() string
	// Send hands one message to the provider. On success Sent carries the
	// provider's message id and its first status (for Twilio "queued" or
	// "accepted"); delivery is reported later through status callbacks.
	// When the provider created the message but already reports it failed,
	// Sent is filled and the error says why.
	Send(ctx context.Context, m Outgoing) (Sent, error)
}

// Outgoing is one message to a customer.
type Outgoing struct {
	To   string // E.164, e.g. +14155552671
	Body string // the text; ignored when TemplateID is set
	// TemplateID is an approved template (on Twilio a Content SID "HX…").
	// When set, Body is ignored and TemplateVars fill its placeholders
	// (keys as the template names them, e.g. "1", "2"). TemplateVars are
	// not sent without a TemplateID.
	TemplateID   string
	TemplateVars map[string]string
	// StatusCallback, when set, is the absolute URL the provider reports
	// delivery status to (see NewStatusWebhook).
	StatusCallback string
}

// Sent is the provider's answer to a Send.
type Sent struct {
	ProviderID string // Twilio Message SID "SM…"
	Status     string // the provider's status, e.g. "queued", "accepted", "failed"
}

// MediaRef is an attachment of an inbound message, stored at the provider.
// Fetching the URL may need the provider's credentials.
type MediaRef struct {
	URL         string
	ContentType string
}

// Inbound is a message a customer sent to one of our numbers.
type Inbound struct {
	Channel     string // "sms" or "whatsapp"
	From, To    string // E.164, the "whatsapp:" prefix stripped
	Body        string
	ProviderID  string // Twilio Message SID; unique per message: deduplicate on it
	Media       []MediaRef
	ProfileName string // WhatsApp profile name of the sender, if any
}

// Stable error codes of this package.
const (
	CodeInvalidPhone        = "invalid_phone"
	CodeTemplateRequired    = "template_required"
	CodeTemplateNotFound    = "template_not_found"
	CodeProviderRejected    = "provider_rejected"
	CodeProviderUnavailable = "provider_unavailable"
)

// Sentinels for errors.Is: apperr errors match on Code, so
// errors.Is(err, ErrTemplateRequired) holds for every template_required
// error, whatever its message or cause.
var (
	ErrInvalidPhone        = apperr.New(apperr.KindInvalid, CodeInvalidPhone, "the phone number is not valid")
	ErrTemplateRequired    = apperr.New(apperr.KindConflict, CodeTemplateRequired, "the customer last wrote more than 24 hours ago: send an approved template")
	ErrTemplateNotFound    = apperr.New(apperr.KindNotFound, CodeTemplateNotFound, "template not found")
	ErrProviderRejected    = apperr.New(apperr.KindInvalid, CodeProviderRejected, "the provider rejected the message")
	ErrProviderUnavailable = apperr.New(apperr.KindUnavailable, CodeProviderUnavailable, "the messaging provider is unavailable; try again later")
)

// ProviderError is a provider's own account of a failure. It is the cause
// (Unwrap) of the apperr error Send returns, for logs and for callers that
// want the provider's code.
type ProviderError struct {
	HTTPStatus int    // 0 when the error came from a status callback
	Code       int    // the provider's error code, 0 when none was given
	Message    string // the provider's message
	MoreInfo   string // a documentation link, if given
}

func (e *ProviderError) Error() string {
	s := "provider"
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(" HTTP %d", e.HTTPStatus)
	}
	if e.Code != 0 {
		s += fmt.Sprintf(" error %d", e.Code)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Retryable reports whether err is worth retrying later (provider_unavailable).
func Retryable(err error) bool {
	return err != nil && apperr.CodeOf(err) == CodeProviderUnavailable
}

// ProviderErrorOf returns the provider's own error inside err, if any.
func ProviderErrorOf(err error) (*ProviderError, bool) {
	var pe *ProviderError
	ok := errors.As(err, &pe)
	return pe, ok
}

func invalidPhone(field, number string) error {
	return apperr.New(apperr.KindInvalid, CodeInvalidPhone,
		fmt.Sprintf("%s %q is not an E.164 phone number (like +14155552671)", field, number))
}

// ValidE164 reports whether s is a phone number in E.164 form: a "+", a
// non-zero leading digit, and at most 15 digits in all (at least 2). No
// spaces, dashes or brackets.
func ValidE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9' {
		return false
	}
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CustomerServiceWindow is how long after a customer's last message
// WhatsApp allows free-form messages.
const CustomerServiceWindow = 24 * time.Hour

// FreeformAllowed reports whether a free-form (non-template) WhatsApp
// message may be sent at now: true iff the customer wrote less than 24 hours
// before now. A zero lastCustomerMessage (the customer never wrote on
// WhatsApp) is false. A lastCustomerMessage after now (clock skew between
// nodes) counts as inside the window. At exactly 24 hours the window is
// closed.
func FreeformAllowed(lastCustomerMessage, now time.Time) bool {
	if lastCustomerMessage.IsZero() {
		return false
	}
	return now.Sub(lastCustomerMessage) < CustomerServiceWindow
}

// CheckWhatsApp applies the 24-hour rule to m: it returns a template_required
// error when the window is closed and m has no TemplateID, nil otherwise.
func CheckWhatsApp(m Outgoing, lastCustomerMessage, now time.Time) error {
	if m.TemplateID != "" || FreeformAllowed(lastCustomerMessage, now) {
		return nil
	}
	return apperr.New(apperr.KindConflict, CodeTemplateRequired, ErrTemplateRequired.Message)
}

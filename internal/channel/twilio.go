package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"switchboard/internal/apperr"
)

// Twilio speaks Twilio's Programmable Messaging REST API:
//
//	POST {BaseURL}/2010-04-01/Accounts/{AccountSid}/Messages.json
//	Content-Type: application/x-www-form-urlencoded
//	Authorization: Basic base64(AccountSid:AuthToken)
//
//	To=+1…  (WhatsApp: To=whatsapp:+1…)
//	From=+1… | MessagingServiceSid=MG…
//	Body=…  |  ContentSid=HX… [ContentVariables={"1":"…"}]
//	[StatusCallback=https://…]
//
// A created message answers 201 with the Message resource as JSON (sid,
// status, error_code, error_message, …); a refused request answers 4xx/5xx
// with {"code":…, "message":…, "more_info":…, "status":…}.
//
// Twilio error codes mapped (everything else keeps provider_rejected, or
// provider_unavailable for 429 and 5xx):
//
//	21211  Invalid 'To' phone number                     → invalid_phone
//	21614  'To' number is not a valid mobile number      → invalid_phone
//	63016  outside the 24-hour window, use a template    → template_required
//	21655  the ContentSid is invalid (unknown, deleted)  → template_not_found
//	63027  template does not exist for language/locale   → template_not_found
//	20404  not found (HTTP 404) while sending a template → template_not_found
//	21610  recipient unsubscribed (replied STOP)         → provider_rejected, kind conflict
//	20003  authentication failed (HTTP 401; also 403)    → provider_rejected, kind internal
//	20429  too many requests (HTTP 429)                  → provider_unavailable
//
// 21656 (ContentVariables invalid) is deliberately not template_not_found:
// the template exists, the variables are wrong, so it stays provider_rejected
// (kind invalid) with Twilio's message.
type Twilio struct {
	cfg       TwilioConfig
	endpoint  string
	client    *http.Client
	sms, wapp *twilioAdapter
}

// TwilioConfig configures a Twilio account. At least one of From and
// WhatsAppFrom must be set; the adapter of a channel without a sender fails
// every Send with channel_not_configured.
type TwilioConfig struct {
	AccountSID string // AC…
	AuthToken  string
	// From is the SMS sender: an E.164 number of the account, or a
	// Messaging Service SID "MG…" (sent as MessagingServiceSid).
	From string
	// WhatsAppFrom is the WhatsApp sender in E.164 (sent as
	// From=whatsapp:+…), or a Messaging Service SID "MG…".
	WhatsAppFrom string
	BaseURL      string       // default https://api.twilio.com
	HTTPClient   *http.Client // default: a client that follows no redirects
	Timeout      time.Duration
}

// DefaultTwilioBaseURL is Twilio's REST API host.
const DefaultTwilioBaseURL = "https://api.twilio.com"

// DefaultTimeout bounds one Send when TwilioConfig.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// MaxBodyChars is Twilio's limit on a message body, in characters.
const MaxBodyChars = 1600

// maxResponseBytes bounds how much of Twilio's answer is read.
const maxResponseBytes = 1 << 20

// NewTwilio checks cfg and returns a Twilio client.
func NewTwilio(cfg TwilioConfig) (*Twilio, error) {
	if !validSID(cfg.AccountSID, "AC") {
		return nil, configError("AccountSID must be AC followed by 32 hex digits")
	}
	if cfg.AuthToken == "" {
		return nil, configError("AuthToken is required")
	}
	if cfg.From == "" && cfg.WhatsAppFrom == "" {
		return nil, configError("set From, WhatsAppFrom or both")
	}
	if cfg.From != "" && !validSender(cfg.From) {
		return nil, configError("From must be an E.164 number or a Messaging Service SID (MG…)")
	}
	if cfg.WhatsAppFrom != "" && !validSender(cfg.WhatsAppFrom) {
		return nil, configError("WhatsAppFrom must be an E.164 number or a Messaging Service SID (MG…)")
	}
	base := cfg.BaseURL
	if base == "" {
		base = DefaultTwilioBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, configError("BaseURL must be an absolute http(s) URL")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	t := &Twilio{
		cfg:      cfg,
		endpoint: strings.TrimRight(base, "/") + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json",
		client:   client,
	}
	t.sms = &twilioAdapter{t: t, name: ChannelSMS, from: cfg.From}
	t.wapp = &twilioAdapter{t: t, name: ChannelWhatsApp, from: cfg.WhatsAppFrom}
	return t, nil
}

// SMS returns the SMS adapter.
func (t *Twilio) SMS() Adapter { return t.sms }

// WhatsApp returns the WhatsApp adapter. It does not apply the 24-hour rule
// itself (it does not know when the customer last wrote): call CheckWhatsApp
// first.
func (t *Twilio) WhatsApp() Adapter { return t.wapp }

func configError(msg string) error {
	return apperr.New(apperr.KindInvalid, "channel_config_invalid", "twilio: "+msg)
}

type twilioAdapter struct {
	t    *Twilio
	name string
	from string
}

func (a *twilioAdapter) Name() string { return a.name }

func (a *twilioAdapter) Send(ctx context.Context, m Outgoing) (Sent, error) {
	form, err := a.form(m)
	if err != nil {
		return Sent{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, a.t.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.t.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Sent{}, apperr.Internal(err)
	}
	req.SetBasicAuth(a.t.cfg.AccountSID, a.t.cfg.AuthToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "switchboard")
	resp, err := a.t.client.Do(req)
	if err != nil {
		return Sent{}, unavailable(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return Sent{}, unavailable(err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return parseCreated(body, m.TemplateID != "")
	}
	return Sent{}, twilioFailure(resp.StatusCode, body, m.TemplateID != "")
}

// form builds the request fields for m, checking what can be checked here.
func (a *twilioAdapter) form(m Outgoing) (url.Values, error) {
	if a.from == "" {
		return nil, apperr.New(apperr.KindConflict, "channel_not_configured", a.name+" is not configured")
	}
	if !ValidE164(m.To) {
		return nil, invalidPhone("To", m.To)
	}
	f := url.Values{}
	to, from := m.To, a.from
	if a.name == ChannelWhatsApp {
		to = "whatsapp:" + to
		if !strings.HasPrefix(from, "MG") {
			from = "whatsapp:" + from
		}
	}
	f.Set("To", to)
	if strings.HasPrefix(from, "MG") {
		f.Set("MessagingServiceSid", from)
	} else {
		f.Set("From", from)
	}
	if m.TemplateID != "" {
		if !validSID(m.TemplateID, "HX") {
			return nil, apperr.New(apperr.KindNotFound, CodeTemplateNotFound,
				"template id must be a Content SID: HX followed by 32 hex digits")
		}
		f.Set("ContentSid", m.TemplateID)
		if len(m.TemplateVars) > 0 {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(m.TemplateVars); err != nil {
				return nil, apperr.Internal(err)
			}
			f.Set("ContentVariables", strings.TrimSuffix(buf.String(), "\n"))
		}
	} else {
		if strings.TrimSpace(m.Body) == "" {
			return nil, apperr.Invalid("body_required", "the message is empty")
		}
		if !utf8.ValidString(m.Body) {
			return nil, apperr.Invalid("body_invalid", "the message is not valid UTF-8")
		}
		if n := utf8.RuneCountInString(m.Body); n > MaxBodyChars {
			return nil, apperr.TooLarge("body_too_long",
				fmt.Sprintf("the message has %d characters; at most %d can be sent", n, MaxBodyChars))
		}
		f.Set("Body", m.Body)
	}
	if m.StatusCallback != "" {
		u, err := url.Parse(m.StatusCallback)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, apperr.Invalid("status_callback_invalid", "the status callback must be an absolute http(s) URL")
		}
		f.Set("StatusCallback", m.StatusCallback)
	}
	return f, nil
}

// twilioMessage is the part of Twilio's Message resource we read.
// Other fields (to, from, body, date_created, price, uri, …) are ignored.
type twilioMessage struct {
	SID          string     `json:"sid"`
	Status       string     `json:"status"`
	ErrorCode    twilioCode `json:"error_code"`
	ErrorMessage *string    `json:"error_message"`
}

// twilioError is Twilio's error body.
type twilioError struct {
	Code     twilioCode `json:"code"`
	Message  string     `json:"message"`
	MoreInfo string     `json:"more_info"`
	Status   int        `json:"status"`
}

// twilioCode is an error code that Twilio sends as a number, a numeric
// string or null.
type twilioCode int

func (c *twilioCode) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "null" || s == "" {
		*c = 0
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("twilio: error code %s is not a number", b)
	}
	*c = twilioCode(n)
	return nil
}

func parseCreated(body []byte, template bool) (Sent, error) {
	var msg twilioMessage
	if err := json.Unmarshal(body, &msg); err != nil || msg.SID == "" {
		if err == nil {
			err = errors.New("twilio: created message without a sid")
		}
		// The message may well have been accepted: see the package comment
		// on retries.
		return Sent{}, unavailable(err)
	}
	sent := Sent{ProviderID: msg.SID, Status: msg.Status}
	if msg.ErrorCode != 0 || msg.Status == "failed" || msg.Status == "undelivered" {
		pe := &ProviderError{Code: int(msg.ErrorCode)}
		if msg.ErrorMessage != nil {
			pe.Message = *msg.ErrorMessage
		}
		if pe.Message == "" {
			pe.Message = "message " + msg.Status
		}
		return sent, mapProviderError(pe, template)
	}
	return sent, nil
}

func twilioFailure(status int, body []byte, template bool) error {
	var te twilioError
	_ = json.Unmarshal(body, &te) // a proxy may answer HTML; the status still counts
	pe := &ProviderError{HTTPStatus: status, Code: int(te.Code), Message: te.Message, MoreInfo: te.MoreInfo}
	if pe.Message == "" {
		pe.Message = http.StatusText(status)
	}
	return mapProviderError(pe, template)
}

// mapProviderError turns a Twilio error into this package's codes; see the
// table on Twilio. template reports whether the message used a ContentSid.
func mapProviderError(pe *ProviderError, template bool) error {
	status := pe.HTTPStatus
	switch {
	case status >= 500 || status == http.StatusTooManyRequests || pe.Code == 20429,
		status != 0 && status < 400:
		return apperr.Wrap(apperr.KindUnavailable, CodeProviderUnavailable, ErrProviderUnavailable.Message, pe)
	}
	switch pe.Code {
	case 21211, 21614:
		return apperr.Wrap(apperr.KindInvalid, CodeInvalidPhone, "the provider does not accept this phone number: "+pe.Message, pe)
	case 63016:
		return apperr.Wrap(apperr.KindConflict, CodeTemplateRequired, ErrTemplateRequired.Message, pe)
	case 21655, 63027:
		return apperr.Wrap(apperr.KindNotFound, CodeTemplateNotFound, "the provider does not know this template: "+pe.Message, pe)
	}
	if template && (status == http.StatusNotFound || pe.Code == 20404) {
		return apperr.Wrap(apperr.KindNotFound, CodeTemplateNotFound, "the provider does not know this template: "+pe.Message, pe)
	}
	kind := apperr.KindInvalid
	switch {
	case pe.Code == 21610:
		kind = apperr.KindConflict // the customer opted out; they must opt in again
	case status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound || pe.Code == 20003:
		kind = apperr.KindInternal // our credentials or account: an operator must act
	}
	msg := "the provider rejected the message: " + pe.Message
	if pe.Code != 0 {
		msg += fmt.Sprintf(" (Twilio error %d)", pe.Code)
	}
	return apperr.Wrap(kind, CodeProviderRejected, msg, pe)
}

// DeliveryError maps the ErrorCode of a Twilio status callback (see
// ParseStatus) to this package's errors, with the same table as Send; nil
// for an empty code. A status callback reports failures that happen after
// Send returned, for example 63016 for a WhatsApp message outside the
// 24-hour window.
func DeliveryError(errorCode string) error {
	if errorCode == "" {
		return nil
	}
	n, err := strconv.Atoi(errorCode)
	if err != nil {
		return apperr.Wrap(apperr.KindInvalid, CodeProviderRejected, "the provider reported error "+errorCode,
			&ProviderError{Message: "error " + errorCode})
	}
	return mapProviderError(&ProviderError{Code: n, Message: fmt.Sprintf("delivery failed with Twilio error %d", n)}, false)
}

func unavailable(cause error) error {
	return apperr.Wrap(apperr.KindUnavailable, CodeProviderUnavailable, ErrProviderUnavailable.Message, cause)
}

// validSID reports whether s is a Twilio SID with the given two-letter
// prefix: the prefix and 32 hex digits.
func validSID(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func validSender(s string) bool {
	if strings.HasPrefix(s, "MG") {
		return validSID(s, "MG")
	}
	return ValidE164(s)
}

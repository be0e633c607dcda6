package channel

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"switchboard/internal/apperr"
)

// Twilio calls two webhooks of ours, both as POST with an
// application/x-www-form-urlencoded body and an X-Twilio-Signature header:
// the incoming-message webhook (configured on the number or Messaging
// Service; see NewWebhook) and the status callback (the StatusCallback of
// each sent message; see NewStatusWebhook).

// MaxWebhookBytes bounds a webhook request body.
const MaxWebhookBytes = 64 << 10

// maxMedia is the most attachments Twilio sends with one message (MMS).
const maxMedia = 10

// emptyTwiML answers Twilio without replying to the customer.
const emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Response/>` + "\n"

// VerifySignature reports whether signature (the X-Twilio-Signature header)
// is Twilio's signature of a request to fullURL with the POST parameters
// form. Twilio's documented algorithm: take the full URL Twilio requested
// (scheme, host, path and query, exactly as configured), append each POST
// parameter's name and value with no delimiters, in the order of the names
// (byte-wise; the values of a repeated name in sorted order), compute
// HMAC-SHA1 with the account's auth token as key, and base64-encode it.
//
// As Twilio's own libraries do, the URL is also tried with the port removed
// (when it has one) or with the scheme's default port added (when it has
// none), because Twilio is not consistent about the port it signs. The
// comparison is constant-time. An empty token or signature never verifies.
func VerifySignature(authToken, fullURL string, form url.Values, signature string) bool {
	if authToken == "" || signature == "" {
		return false
	}
	ok := false
	for _, u := range signedURLVariants(fullURL) {
		expected := twilioSignature(authToken, u, form)
		if subtle.ConstantTimeCompare([]byte(expected), []byte(signature)) == 1 {
			ok = true
		}
	}
	return ok
}

func twilioSignature(authToken, fullURL string, form url.Values) string {
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	sort.Strings(names)
	mac := hmac.New(sha1.New, []byte(authToken))
	io.WriteString(mac, fullURL)
	for _, name := range names {
		values := append([]string(nil), form[name]...)
		sort.Strings(values)
		for _, v := range values {
			io.WriteString(mac, name)
			io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signedURLVariants returns fullURL and the same URL with the port removed
// or the default port added.
func signedURLVariants(fullURL string) []string {
	out := []string{fullURL}
	u, err := url.Parse(fullURL)
	if err != nil || u.Host == "" {
		return out
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	if u.Port() != "" {
		u.Host = host
	} else {
		switch u.Scheme {
		case "https":
			u.Host = net.JoinHostPort(u.Hostname(), "443")
		case "http":
			u.Host = net.JoinHostPort(u.Hostname(), "80")
		default:
			return out
		}
	}
	return append(out, u.String())
}

// ParseInbound reads Twilio's incoming-message webhook parameters: MessageSid,
// From, To, Body, NumMedia with MediaUrl{N} and MediaContentType{N},
// ProfileName and WaId (WhatsApp). Numbers prefixed "whatsapp:" make the
// channel "whatsapp" and lose the prefix; both numbers must then be E.164.
// Other channels Twilio can carry (Messenger, RCS, …) are refused. WaId is
// accepted but not required to match From (WhatsApp may hide the number).
// The body may be empty (a WhatsApp location or a media-only MMS).
func ParseInbound(form url.Values) (Inbound, error) {
	in := Inbound{
		ProviderID:  form.Get("MessageSid"),
		Body:        form.Get("Body"),
		ProfileName: form.Get("ProfileName"),
	}
	if in.ProviderID == "" {
		in.ProviderID = form.Get("SmsMessageSid") // older name of the same value
	}
	if !validMessageSID(in.ProviderID) {
		return Inbound{}, malformed("MessageSid is missing or not a message SID")
	}
	from, fromCh, err := parseAddress("From", form.Get("From"))
	if err != nil {
		return Inbound{}, err
	}
	to, toCh, err := parseAddress("To", form.Get("To"))
	if err != nil {
		return Inbound{}, err
	}
	if fromCh != toCh {
		return Inbound{}, malformed("From and To are on different channels")
	}
	in.Channel, in.From, in.To = fromCh, from, to

	n := 0
	if s := form.Get("NumMedia"); s != "" {
		n, err = strconv.Atoi(s)
		if err != nil || n < 0 || n > maxMedia {
			return Inbound{}, malformed("NumMedia is not a number from 0 to 10")
		}
	}
	for i := range n {
		idx := strconv.Itoa(i)
		ref := MediaRef{URL: form.Get("MediaUrl" + idx), ContentType: form.Get("MediaContentType" + idx)}
		u, err := url.Parse(ref.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Inbound{}, malformed("MediaUrl" + idx + " is missing or not an http(s) URL")
		}
		if ref.ContentType != "" {
			if _, _, err := mime.ParseMediaType(ref.ContentType); err != nil {
				return Inbound{}, malformed("MediaContentType" + idx + " is not a media type")
			}
		}
		in.Media = append(in.Media, ref)
	}
	return in, nil
}

// parseAddress strips the channel prefix of a Twilio address.
func parseAddress(field, v string) (number, ch string, err error) {
	ch = ChannelSMS
	if rest, ok := strings.CutPrefix(v, "whatsapp:"); ok {
		v, ch = rest, ChannelWhatsApp
	} else if i := strings.IndexByte(v, ':'); i > 0 {
		return "", "", malformed(field + ": unsupported channel " + strconv.Quote(v[:i]))
	}
	if !ValidE164(v) {
		return "", "", invalidPhone(field, v)
	}
	return v, ch, nil
}

// ParseStatus reads Twilio's status callback: the message SID, its status
// (MessageStatus, or the older SmsStatus: queued, sent, delivered,
// undelivered, failed, read, …) and the error code when it failed ("" when
// none). See DeliveryError for the code's meaning.
func ParseStatus(form url.Values) (sid, status string, errorCode string) {
	sid = form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	status = form.Get("MessageStatus")
	if status == "" {
		status = form.Get("SmsStatus")
	}
	return sid, status, form.Get("ErrorCode")
}

// StatusUpdate is one status callback.
type StatusUpdate struct {
	ProviderID string // the Message SID Send returned
	Status     string
	ErrorCode  string // Twilio's error code, "" when none
}

// NewWebhook returns the handler for Twilio's incoming-message webhook.
// publicURL returns the URL Twilio was configured to call, as Twilio called
// it (behind a proxy, the public one); nil uses the request's own scheme,
// Host and path. deliver receives each verified message, with the request's
// context; it may be called more than once for one message (Twilio retries),
// so it must be idempotent on Inbound.ProviderID.
//
// Answers: 405 for a method other than POST, 403 for a missing or wrong
// signature, 413 for a body over 64 KiB, 415 for a body that is not a form,
// 400 for malformed fields, 500 when deliver fails (so Twilio retries), and
// 200 with an empty TwiML <Response/> (text/xml) once deliver succeeded.
func NewWebhook(authToken string, publicURL func(*http.Request) string, deliver func(ctx context.Context, in Inbound) error) http.Handler {
	return &webhook{authToken: authToken, publicURL: publicURL, handle: func(ctx context.Context, form url.Values) (int, string) {
		in, err := ParseInbound(form)
		if err != nil {
			return http.StatusBadRequest, apperr.As(err).Message
		}
		if err := deliver(ctx, in); err != nil {
			return http.StatusInternalServerError, "delivery failed"
		}
		return http.StatusOK, ""
	}}
}

// NewStatusWebhook returns the handler for Twilio's status callbacks, with
// the same checks and answers as NewWebhook. update must be idempotent:
// Twilio may repeat a callback, and callbacks may arrive out of order.
func NewStatusWebhook(authToken string, publicURL func(*http.Request) string, update func(ctx context.Context, s StatusUpdate) error) http.Handler {
	return &webhook{authToken: authToken, publicURL: publicURL, handle: func(ctx context.Context, form url.Values) (int, string) {
		sid, status, code := ParseStatus(form)
		if !validMessageSID(sid) || status == "" {
			return http.StatusBadRequest, "MessageSid and MessageStatus are required"
		}
		if code != "" {
			if _, err := strconv.Atoi(code); err != nil {
				return http.StatusBadRequest, "ErrorCode is not a number"
			}
		}
		if err := update(ctx, StatusUpdate{ProviderID: sid, Status: status, ErrorCode: code}); err != nil {
			return http.StatusInternalServerError, "update failed"
		}
		return http.StatusOK, ""
	}}
}

type webhook struct {
	authToken string
	publicURL func(*http.Request) string
	handle    func(ctx context.Context, form url.Values) (status int, msg string)
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	signature := r.Header.Get("X-Twilio-Signature")
	if signature == "" {
		http.Error(w, "missing signature", http.StatusForbidden)
		return
	}
	if r.ContentLength > MaxWebhookBytes {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		http.Error(w, "expected application/x-www-form-urlencoded", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the request body", http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return
	}
	fullURL := requestURL(r)
	if h.publicURL != nil {
		fullURL = h.publicURL(r)
	}
	if !VerifySignature(h.authToken, fullURL, form, signature) {
		http.Error(w, "invalid signature", http.StatusForbidden)
		return
	}
	status, msg := h.handle(r.Context(), form)
	if status != http.StatusOK {
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, emptyTwiML)
}

// requestURL is the URL of r as this server saw it. It does not trust
// X-Forwarded-* headers: behind a proxy pass publicURL instead.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// validMessageSID reports whether s is a Twilio message SID (SM… or MM…).
func validMessageSID(s string) bool {
	return validSID(s, "SM") || validSID(s, "MM")
}

func malformed(msg string) error {
	return apperr.Invalid("malformed_webhook", msg)
}

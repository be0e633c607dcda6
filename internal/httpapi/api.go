// Package httpapi is the REST API under /api/v1 (docs/openapi.yaml) and the
// HTTP side of the WebSocket endpoints. It is the one place where domain
// errors become HTTP statuses: every failure is an application/problem+json
// body with a stable "code".
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/apperr"
	"switchboard/internal/chat"
	"switchboard/internal/clock"
	"switchboard/internal/gateway"
	"switchboard/internal/identity"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
)

// Cookie and header names.
const (
	SessionCookie = "sb_session"
	CSRFHeader    = "X-CSRF-Token"
	// MaxJSONBody bounds every JSON request body.
	MaxJSONBody = 1 << 20
)

// Options tune the API.
type Options struct {
	// SecureCookies marks the session cookie Secure (serve over TLS, or
	// behind a TLS-terminating proxy).
	SecureCookies bool
	// TrustProxy takes the client address from X-Forwarded-For (for rate
	// limits) when running behind a reverse proxy.
	TrustProxy bool
	// VisitorStartEvery/Burst rate-limit new visitor sessions per client address.
	VisitorStartEvery time.Duration
	VisitorStartBurst int
	// Geo names the headers a trusted proxy sets with the visitor's
	// country and city (e.g. Cloudflare's CF-IPCountry); empty: not read.
	Geo GeoHeaders
}

// API serves the REST endpoints.
type API struct {
	chat     *chat.Service
	ident    *identity.Service
	gw       *gateway.Gateway
	clk      clock.Clock
	log      *slog.Logger
	opts     Options
	visitors *identity.Limiter
}

// New returns the API.
func New(cs *chat.Service, ident *identity.Service, gw *gateway.Gateway, clk clock.Clock, log *slog.Logger, opts Options) *API {
	if opts.VisitorStartEvery <= 0 {
		opts.VisitorStartEvery = time.Second
	}
	if opts.VisitorStartBurst <= 0 {
		opts.VisitorStartBurst = 30
	}
	return &API{chat: cs, ident: ident, gw: gw, clk: clk, log: log, opts: opts,
		visitors: identity.NewLimiter(clk, opts.VisitorStartEvery, opts.VisitorStartBurst)}
}

// Register mounts the API's routes on mux.
func (a *API) Register(mux *http.ServeMux) {
	// Every route carries the API's logger in its context, so problems are
	// logged where the operator configured logging.
	handle := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			h(w, r.WithContext(context.WithValue(r.Context(), loggerKey{}, a.log)))
		})
	}
	// Staff.
	handle("POST /api/v1/auth/login", a.login)
	handle("POST /api/v1/auth/logout", a.staff(a.logout))
	handle("GET /api/v1/me", a.staff(a.me))
	handle("PUT /api/v1/me/availability", a.staff(a.setAvailability))
	handle("PUT /api/v1/me/capacity", a.staff(a.setCapacity))
	handle("PUT /api/v1/me/avatar", a.staff(a.setAvatar))
	handle("DELETE /api/v1/me/avatar", a.staff(a.removeAvatar))
	handle("GET /api/v1/avatars/{key}", a.avatar) // public: the widget shows it
	handle("GET /api/v1/me/offers", a.staff(a.myOffers))
	handle("GET /api/v1/conversations", a.staff(a.listConversations))
	handle("GET /api/v1/conversations/{id}", a.staff(a.getConversation))
	handle("GET /api/v1/conversations/{id}/messages", a.staff(a.history))
	handle("POST /api/v1/conversations/{id}/messages", a.staff(a.send))
	handle("POST /api/v1/conversations/{id}/notes", a.staff(a.note))
	handle("POST /api/v1/conversations/{id}/join", a.staff(a.join))
	handle("POST /api/v1/conversations/{id}/leave", a.staff(a.leave))
	handle("POST /api/v1/conversations/{id}/end", a.staff(a.end))
	handle("POST /api/v1/conversations/{id}/decline", a.staff(a.decline))
	handle("PUT /api/v1/conversations/{id}/status", a.staff(a.setStatus))
	handle("PUT /api/v1/conversations/{id}/assignee", a.staff(a.setAssignee))
	handle("POST /api/v1/conversations/{id}/email-reply", a.staff(a.emailReply))
	handle("POST /api/v1/conversations/{id}/channel-message", a.staff(a.channelMessage))
	handle("GET /api/v1/conversations/{id}/mail", a.staff(a.conversationMail))
	handle("POST /api/v1/conversations/{id}/assign", a.staff(a.assign))
	handle("POST /api/v1/conversations/{id}/transfer", a.staff(a.transfer))
	handle("POST /api/v1/conversations/{id}/invite", a.staff(a.invite))
	handle("GET /api/v1/conversations/{id}/transfer-targets", a.staff(a.transferTargets))
	handle("PUT /api/v1/conversations/{id}/tags", a.staff(a.setTags))
	handle("PUT /api/v1/conversations/{id}/priority", a.staff(a.setPriority))
	handle("POST /api/v1/conversations/{id}/read", a.staff(a.read))
	handle("POST /api/v1/conversations/{id}/attachments", a.staff(a.upload))
	handle("GET /api/v1/attachments/{id}", a.staff(a.download))
	handle("GET /api/v1/sites", a.staff(a.listSites))
	handle("POST /api/v1/sites", a.staff(a.createSite))
	handle("PATCH /api/v1/sites/{id}", a.staff(a.updateSite))
	handle("GET /api/v1/quick-replies", a.staff(a.listQuickReplies))
	handle("POST /api/v1/quick-replies", a.staff(a.createQuickReply))
	handle("PATCH /api/v1/quick-replies/{id}", a.staff(a.updateQuickReply))
	handle("DELETE /api/v1/quick-replies/{id}", a.staff(a.deleteQuickReply))
	handle("GET /api/v1/departments", a.staff(a.listDepartments))
	handle("POST /api/v1/departments", a.staff(a.createDepartment))
	handle("PATCH /api/v1/departments/{id}", a.staff(a.updateDepartment))
	handle("DELETE /api/v1/departments/{id}", a.staff(a.deleteDepartment))
	handle("GET /api/v1/users", a.staff(a.listUsers))
	handle("GET /api/v1/staff", a.staff(a.staffList))
	handle("GET /api/v1/contacts/{id}/visits", a.staff(a.contactVisits))
	handle("POST /api/v1/users", a.staff(a.createUser))
	handle("PATCH /api/v1/users/{id}", a.staff(a.updateUser))
	handle("GET /ws/staff", a.staffSocket)

	// Visitors (bearer token; CORS, since the widget runs on the customer's site).
	handle("OPTIONS /api/v1/visitor/", a.preflight)
	handle("POST /api/v1/visitor/sessions", a.cors(a.startVisitor))
	handle("GET /api/v1/visitor/site", a.visitor(a.visitorSite))
	handle("GET /api/v1/visitor/widget/{key}", a.widgetConfig)
	handle("POST /api/v1/visitor/conversations/{id}/handoff", a.visitor(a.handoff))
	handle("POST /api/v1/visitor/identify", a.visitor(a.identify))
	handle("POST /api/v1/visitor/attributes", a.visitor(a.visitorAttributes))
	handle("POST /api/v1/visitor/chats", a.visitor(a.requestChat))
	handle("POST /api/v1/visitor/tickets", a.visitor(a.leaveMessage))
	handle("GET /api/v1/visitor/conversations", a.visitor(a.visitorConversations))
	handle("GET /api/v1/visitor/conversations/{id}", a.visitor(a.visitorConversation))
	handle("GET /api/v1/visitor/conversations/{id}/messages", a.visitor(a.history))
	handle("POST /api/v1/visitor/conversations/{id}/messages", a.visitor(a.send))
	handle("POST /api/v1/visitor/conversations/{id}/end", a.visitor(a.end))
	handle("POST /api/v1/visitor/conversations/{id}/read", a.visitor(a.read))
	handle("POST /api/v1/visitor/conversations/{id}/rating", a.visitor(a.rate))
	handle("POST /api/v1/visitor/conversations/{id}/transcript", a.visitor(a.requestTranscript))
	handle("POST /api/v1/visitor/conversations/{id}/attachments", a.visitor(a.upload))
	handle("GET /api/v1/visitor/attachments/{id}", a.visitor(a.download))
	handle("GET /ws/visitor", a.visitorSocket)

	// Anything else under /api/ is a JSON 404, not the console's HTML.
	handle("/api/", func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, apperr.New(apperr.KindNotFound, "route_not_found", "no such endpoint"))
	})
}

type loggerKey struct{}

func loggerFrom(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

type actorKey struct{}

func actorFrom(r *http.Request) chat.Actor {
	a, _ := r.Context().Value(actorKey{}).(chat.Actor)
	return a
}

type sessionKey struct{}

// staff authenticates the session cookie and, for mutating methods, the
// CSRF token (a per-session secret the console sends in X-CSRF-Token; a
// cross-site form cannot read or send it).
func (a *API) staff(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		actor, sess, err := a.authStaff(r)
		if err != nil {
			WriteProblem(w, r, err)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.Header.Get(CSRFHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRFToken)) != 1 {
				WriteProblem(w, r, apperr.Forbidden("csrf_failed", "missing or wrong "+CSRFHeader+" header"))
				return
			}
		}
		ctx := context.WithValue(r.Context(), actorKey{}, actor)
		ctx = context.WithValue(ctx, sessionKey{}, sess)
		h(w, r.WithContext(ctx))
	}
}

func (a *API) authStaff(r *http.Request) (chat.Actor, model.AuthSession, error) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return chat.Actor{}, model.AuthSession{}, apperr.Unauthenticated("sign in first")
	}
	u, sess, err := a.ident.Authenticate(r.Context(), ck.Value)
	if err != nil {
		return chat.Actor{}, model.AuthSession{}, err
	}
	actor, err := a.chat.StaffActor(r.Context(), u)
	return actor, sess, err
}

// cors allows the widget on a customer's page to call visitor endpoints.
// They use a bearer token, never cookies, so no credentials are allowed;
// the site's own allowed origins are enforced once the token or key names
// the site.
func (a *API) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Add("Vary", "Origin")
		}
		h(w, r)
	}
}

func (a *API) preflight(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "" {
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Add("Vary", "Origin")
	}
	w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// visitor authenticates the bearer token and the page's origin.
func (a *API) visitor(h http.HandlerFunc) http.HandlerFunc {
	return a.cors(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			WriteProblem(w, r, apperr.Unauthenticated("send the visitor token as Authorization: Bearer <token>"))
			return
		}
		actor, site, err := a.chat.AuthenticateVisitor(r.Context(), strings.TrimSpace(token))
		if err != nil {
			WriteProblem(w, r, err)
			return
		}
		if o := r.Header.Get("Origin"); o != "" {
			if err := chat.CheckOrigin(site, o); err != nil {
				WriteProblem(w, r, err)
				return
			}
		}
		a.noteGeo(r, actor)
		h(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	})
}

// clientIP is the address rate limits key on.
func (a *API) clientIP(r *http.Request) string {
	if a.opts.TrustProxy {
		// The rightmost entry is the address our own proxy saw; entries to
		// its left come from the client and can be forged.
		if f := r.Header.Values("X-Forwarded-For"); len(f) > 0 {
			last := f[len(f)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := strings.TrimSpace(last); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// decodeJSON reads a JSON request body into v: application/json only (a
// cross-site form cannot send it without a preflight), at most MaxJSONBody
// bytes, no unknown fields, exactly one value.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.KindInvalid, "unsupported_media_type", "send the body as application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return apperr.TooLarge("body_too_large", "request body is larger than 1 MiB")
		}
		return apperr.Invalid("invalid_json", "request body is not valid JSON for this endpoint: "+jsonMessage(err))
	}
	if !protocol.AtEOF(dec) {
		return apperr.Invalid("invalid_json", "trailing data after the JSON body")
	}
	return nil
}

func jsonMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "wrong type for field " + te.Field
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	}
	s := err.Error()
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.Invalid("invalid_id", name+" must be a positive integer")
	}
	return id, nil
}

func queryInt(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, apperr.Invalid("invalid_query", name+" must be an integer")
	}
	return n, nil
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Problem is an RFC 9457 problem body with our stable code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

// StatusOf maps an error kind to an HTTP status. This is the only such mapping.
func StatusOf(k apperr.Kind) int {
	switch k {
	case apperr.KindInvalid:
		return http.StatusBadRequest
	case apperr.KindUnauthenticated:
		return http.StatusUnauthorized
	case apperr.KindForbidden:
		return http.StatusForbidden
	case apperr.KindNotFound:
		return http.StatusNotFound
	case apperr.KindConflict:
		return http.StatusConflict
	case apperr.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.KindRateLimited:
		return http.StatusTooManyRequests
	case apperr.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// WriteProblem writes err as application/problem+json. Internal errors are
// logged with their cause and shown without it.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	e := apperr.As(err)
	status := StatusOf(e.Kind)
	if e.Code == "unsupported_media_type" {
		status = http.StatusUnsupportedMediaType
	}
	if status == http.StatusInternalServerError {
		loggerFrom(r).Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "10")
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: "urn:switchboard:problem:" + e.Code, Title: e.Message, Status: status, Code: e.Code})
}

// staffSocket authenticates the cookie, then hands the upgrade to the gateway.
func (a *API) staffSocket(w http.ResponseWriter, r *http.Request) {
	if a.gw.Draining() {
		WriteProblem(w, r, apperr.New(apperr.KindUnavailable, "server_restarting", "the server is restarting"))
		return
	}
	actor, sess, err := a.authStaff(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	ck, _ := r.Cookie(SessionCookie)
	token := ck.Value
	a.gw.ServeStaff(w, r, actor, sessionID(sess), func(ctx context.Context) error {
		_, _, err := a.ident.Authenticate(ctx, token)
		return err
	})
}

// sessionID names a sign-in without revealing its token: a prefix of the
// token's hash, hex-encoded.
func sessionID(s model.AuthSession) string {
	return hex.EncodeToString(s.TokenHash[:min(len(s.TokenHash), 12)])
}

func (a *API) visitorSocket(w http.ResponseWriter, r *http.Request) {
	if a.gw.Draining() {
		WriteProblem(w, r, apperr.New(apperr.KindUnavailable, "server_restarting", "the server is restarting"))
		return
	}
	a.gw.ServeVisitor(w, r)
}

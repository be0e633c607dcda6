package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"

	"switchboard/internal/apperr"
	"switchboard/internal/chat"
	"switchboard/internal/identity"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// meResponse is the signed-in user with the CSRF token the console sends
// back on every mutating request.
type meResponse struct {
	User      model.User `json:"user"`
	SiteIDs   []int64    `json:"site_ids"` // null for admins: every site
	CSRFToken string     `json:"csrf_token"`
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(w, r, &req); err != nil {
		WriteProblem(w, r, err)
		return
	}
	token, sess, u, err := a.ident.Login(r.Context(), req.Email, req.Password, a.clientIP(r))
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	actor, err := a.chat.StaffActor(r.Context(), u)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: a.opts.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode, Expires: sess.ExpiresAt})
	WriteJSON(w, http.StatusOK, meResponse{User: u, SiteIDs: actor.SiteIDs, CSRFToken: sess.CSRFToken})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	ck, _ := r.Cookie(SessionCookie)
	if err := a.ident.Logout(r.Context(), ck.Value); err != nil {
		WriteProblem(w, r, err)
		return
	}
	if sess, ok := r.Context().Value(sessionKey{}).(model.AuthSession); ok {
		a.gw.RevokeSession(sess.UserID, sessionID(sess))
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, MaxAge: -1,
		Secure: a.opts.SecureCookies || r.TLS != nil, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	actor := actorFrom(r)
	sess, _ := r.Context().Value(sessionKey{}).(model.AuthSession)
	WriteJSON(w, http.StatusOK, meResponse{User: actor.User, SiteIDs: actor.SiteIDs, CSRFToken: sess.CSRFToken})
}

func (a *API) setAvailability(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusOK, false, func(_ int64, req struct {
		Availability model.Availability `json:"availability"`
	}) (model.User, error) {
		return a.chat.SetAvailability(r.Context(), actorFrom(r), req.Availability)
	})
}

// bodyCall serves an endpoint with a JSON body: it parses the path id (when
// withID) and the body into Req, calls fn and writes its result with
// status, or the problem of whichever step failed.
func bodyCall[Req, Res any](w http.ResponseWriter, r *http.Request, status int, withID bool, fn func(id int64, req Req) (Res, error)) {
	var id int64
	if withID {
		var err error
		if id, err = pathID(r, "id"); err != nil {
			WriteProblem(w, r, err)
			return
		}
	}
	var req Req
	if err := decodeJSON(w, r, &req); err != nil {
		WriteProblem(w, r, err)
		return
	}
	res, err := fn(id, req)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, status, res)
}

// idBody serves /…/{id} with a JSON body, answering 200.
func idBody[Req, Res any](w http.ResponseWriter, r *http.Request, fn func(id int64, req Req) (Res, error)) {
	bodyCall(w, r, http.StatusOK, true, fn)
}

func respond(w http.ResponseWriter, r *http.Request, v any, err error) {
	respondStatus(w, r, http.StatusOK, v, err)
}

// respondStatus answers v with status, or the problem err describes.
func respondStatus(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, status, v)
}

func (a *API) listConversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.ConversationFilter{
		Status: model.TicketStatus(q.Get("status")), ChatState: model.ChatState(q.Get("chat_state")),
		Tag: q.Get("tag"), Priority: model.Priority(q.Get("priority")), Cursor: q.Get("cursor"),
		ChatLive: q.Get("live") == "true", Query: q.Get("q"),
	}
	if len(f.Query) > 200 {
		WriteProblem(w, r, apperr.Invalid("query_too_long", "q is at most 200 bytes"))
		return
	}
	var err error
	if f.SiteID, err = queryInt(r, "site_id"); err != nil {
		WriteProblem(w, r, err)
		return
	}
	if f.ContactID, err = queryInt(r, "contact_id"); err != nil {
		WriteProblem(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	f.Limit = int(limit)
	switch as := q.Get("assignee"); as {
	case "":
	case "none":
		f.Unassigned = true
	case "me":
		f.AssigneeID = actorFrom(r).User.ID
	default:
		id, err := queryInt(r, "assignee")
		if err != nil || id <= 0 {
			WriteProblem(w, r, apperr.Invalid("invalid_query", "assignee is me, none or a user id"))
			return
		}
		f.AssigneeID = id
	}
	page, err := a.chat.ListConversations(r.Context(), actorFrom(r), f)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	rows, err := a.chat.Summaries(r.Context(), page.Conversations)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"conversations": rows, "next_cursor": page.Next})
}

func (a *API) getConversation(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	v, err := a.chat.GetConversation(r.Context(), actorFrom(r), id)
	respond(w, r, v, err)
}

// history serves a timeline page for staff and visitors alike: the chat
// service applies the visibility rules of the actor.
func (a *API) history(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	after, err := queryInt(r, "after_seq")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	limit, err := queryInt(r, "limit")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	msgs, err := a.chat.History(r.Context(), actorFrom(r), id, after, int(limit))
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"messages": msgs})
}

type sendRequest struct {
	ClientID     string  `json:"client_id"`
	Body         string  `json:"body"`
	AttachmentID int64   `json:"attachment_id,omitempty"`
	Mentions     []int64 `json:"mentions,omitempty"` // notes: colleagues to notify
}

func (a *API) sendLike(w http.ResponseWriter, r *http.Request, note bool) {
	idBody(w, r, func(id int64, req sendRequest) (model.Message, error) {
		in := chat.SendInput{ConversationID: id, ClientID: req.ClientID, Body: req.Body, AttachmentID: req.AttachmentID, Mentions: req.Mentions}
		if note {
			return a.chat.Note(r.Context(), actorFrom(r), in)
		}
		return a.chat.Send(r.Context(), actorFrom(r), in)
	})
}

func (a *API) send(w http.ResponseWriter, r *http.Request) { a.sendLike(w, r, false) }
func (a *API) note(w http.ResponseWriter, r *http.Request) { a.sendLike(w, r, true) }

func (a *API) lifecycle(w http.ResponseWriter, r *http.Request, op func(*http.Request, chat.Actor, int64) (chat.ConversationView, error)) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	actor := actorFrom(r)
	v, err := op(r, actor, id)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	if !actor.IsStaff() {
		WriteJSON(w, http.StatusOK, map[string]any{"chat": v.Chat})
		return
	}
	WriteJSON(w, http.StatusOK, v)
}

func (a *API) join(w http.ResponseWriter, r *http.Request) {
	a.lifecycle(w, r, func(r *http.Request, ac chat.Actor, id int64) (chat.ConversationView, error) {
		return a.chat.Join(r.Context(), ac, id)
	})
}

func (a *API) leave(w http.ResponseWriter, r *http.Request) {
	a.lifecycle(w, r, func(r *http.Request, ac chat.Actor, id int64) (chat.ConversationView, error) {
		return a.chat.Leave(r.Context(), ac, id)
	})
}

func (a *API) end(w http.ResponseWriter, r *http.Request) {
	a.lifecycle(w, r, func(r *http.Request, ac chat.Actor, id int64) (chat.ConversationView, error) {
		return a.chat.End(r.Context(), ac, id)
	})
}

func (a *API) setTags(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req struct {
		Tags []string `json:"tags"`
	}) (model.Conversation, error) {
		return a.chat.SetTags(r.Context(), actorFrom(r), id, req.Tags)
	})
}

func (a *API) setPriority(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req struct {
		Priority model.Priority `json:"priority"`
	}) (model.Conversation, error) {
		return a.chat.SetPriority(r.Context(), actorFrom(r), id, req.Priority)
	})
}

func (a *API) read(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req struct {
		Seq int64 `json:"seq"`
	}) (model.ReadMark, error) {
		return a.chat.MarkRead(r.Context(), actorFrom(r), id, req.Seq)
	})
}

// upload takes one file as multipart/form-data (field "file"), streaming it
// to the blob store with the size limit enforced while reading.
func (a *API) upload(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	part, err := filePart(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	att, err := a.chat.Upload(r.Context(), actorFrom(r), id, part.FileName(), part)
	respondStatus(w, r, http.StatusCreated, att, err)
}

// filePart returns the multipart/form-data field "file" of r, positioned to
// be streamed (nothing is buffered); the fields before it are skipped.
func filePart(r *http.Request) (*multipart.Part, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, apperr.New(apperr.KindInvalid, "unsupported_media_type", "send the file as multipart/form-data in the field \"file\"")
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			return nil, apperr.Invalid("file_missing", "no \"file\" field in the form")
		}
		if part.FormName() == "file" {
			return part, nil
		}
	}
}

// download serves an attachment to those who may see its conversation.
// nosniff always; inline only for sniffed images, and never with a type
// that a browser would execute.
func (a *API) download(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	att, rc, inline, err := a.chat.OpenAttachment(r.Context(), actorFrom(r), id)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	defer rc.Close()
	disp := "attachment"
	if inline {
		disp = "inline"
	}
	w.Header().Set("Content-Type", att.ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("Content-Disposition", contentDisposition(disp, att.Name))
	http.ServeContent(w, r, "", att.CreatedAt, rc)
}

type siteRequest struct {
	Name           *string                `json:"name"`
	Key            *string                `json:"key"`
	AllowedOrigins *[]string              `json:"allowed_origins"`
	WidgetMode     *model.WidgetMode      `json:"widget_mode"`
	Routing        *model.RoutingSettings `json:"routing"`
	Email          *model.EmailSettings   `json:"email"`
	Identity       *identityRequest       `json:"identity"`
	// Hours: absent leaves them, null clears them (always open).
	Hours  json.RawMessage       `json:"hours"`
	Widget *model.WidgetSettings `json:"widget"` // replaces the whole settings
	Bot    *model.BotSettings    `json:"bot"`    // replaces the whole settings
}

func (s siteRequest) input() chat.SiteInput {
	return chat.SiteInput{Name: s.Name, Key: s.Key, AllowedOrigins: s.AllowedOrigins, WidgetMode: s.WidgetMode,
		Routing: s.Routing, Email: s.Email, Identity: s.Identity.input(), Hours: optionalRaw(s.Hours),
		Widget: s.Widget, Bot: s.Bot}
}

func (a *API) listSites(w http.ResponseWriter, r *http.Request) {
	sites, err := a.chat.ListSites(r.Context(), actorFrom(r))
	respond(w, r, map[string]any{"sites": sites}, err)
}

func (a *API) createSite(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusCreated, false, func(_ int64, req siteRequest) (model.Site, error) {
		return a.chat.CreateSite(r.Context(), actorFrom(r), req.input())
	})
}

func (a *API) updateSite(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req siteRequest) (model.Site, error) {
		return a.chat.UpdateSite(r.Context(), actorFrom(r), id, req.input())
	})
}

func requireAdmin(r *http.Request) error {
	if actorFrom(r).User.Role != model.RoleAdmin {
		return apperr.Forbidden("admin_only", "only admins manage users")
	}
	return nil
}

// userView is a user with their site memberships.
type userView struct {
	model.User
	SiteIDs []int64 `json:"site_ids"`
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	if err := requireAdmin(r); err != nil {
		WriteProblem(w, r, err)
		return
	}
	users, err := a.ident.ListUsers(r.Context())
	respond(w, r, map[string]any{"users": users}, err)
}

type userRequest struct {
	Email       *string     `json:"email"`
	Name        *string     `json:"name"`
	Password    *string     `json:"password"`
	Role        *model.Role `json:"role"`
	Capacity    *int        `json:"capacity"`
	MaxCapacity *int        `json:"max_capacity"`
	SiteIDs     *[]int64    `json:"site_ids"`
	Disabled    *bool       `json:"disabled"`
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) {
	if err := requireAdmin(r); err != nil {
		WriteProblem(w, r, err)
		return
	}
	bodyCall(w, r, http.StatusCreated, false, func(_ int64, req userRequest) (model.User, error) {
		return a.ident.CreateUser(r.Context(), identity.NewUser{
			Email: strings.TrimSpace(deref(req.Email)), Name: deref(req.Name), Password: deref(req.Password),
			Role: deref(req.Role), Capacity: deref(req.Capacity), MaxCapacity: deref(req.MaxCapacity), SiteIDs: deref(req.SiteIDs)})
	})
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) {
	if err := requireAdmin(r); err != nil {
		WriteProblem(w, r, err)
		return
	}
	idBody(w, r, func(id int64, req userRequest) (model.User, error) {
		if req.Email != nil {
			return model.User{}, apperr.Invalid("email_immutable", "a user's email cannot change")
		}
		if id == actorFrom(r).User.ID && (deref(req.Disabled) || (req.Role != nil && *req.Role != model.RoleAdmin)) {
			return model.User{}, apperr.Conflict("cannot_demote_self", "admins cannot disable or demote themselves")
		}
		return a.ident.UpdateUser(r.Context(), id, identity.UserPatch{Name: req.Name, Role: req.Role,
			Disabled: req.Disabled, Password: req.Password, Capacity: req.Capacity, MaxCapacity: req.MaxCapacity, SiteIDs: req.SiteIDs})
	})
}

type visitorStartRequest struct {
	SiteKey string `json:"site_key"`
}

func (a *API) startVisitor(w http.ResponseWriter, r *http.Request) {
	if !a.visitors.Allow(a.clientIP(r)) {
		WriteProblem(w, r, apperr.New(apperr.KindRateLimited, "rate_limited", "too many new visitor sessions from this address"))
		return
	}
	var req visitorStartRequest
	if err := decodeJSON(w, r, &req); err != nil {
		WriteProblem(w, r, err)
		return
	}
	v, err := a.chat.StartVisitor(r.Context(), req.SiteKey, r.Header.Get("Origin"))
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	a.noteGeo(r, chat.Actor{Party: model.PartyVisitor, SiteID: v.Site.ID, ContactID: v.Contact.ID, VisitorSessionID: v.SessionID})
	WriteJSON(w, http.StatusCreated, v)
}

type requestChatRequest struct {
	Name         string `json:"name"`
	Email        string `json:"email"`
	Body         string `json:"body"`
	ClientID     string `json:"client_id"`
	DepartmentID int64  `json:"department_id"`
}

func (a *API) requestChat(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusOK, false, func(_ int64, req requestChatRequest) (chat.VisitorView, error) {
		return a.chat.RequestChat(r.Context(), actorFrom(r), chat.RequestChatInput{Name: req.Name, Email: req.Email, Body: req.Body, ClientID: req.ClientID, DepartmentID: req.DepartmentID})
	})
}

func (a *API) visitorConversations(w http.ResponseWriter, r *http.Request) {
	cs, err := a.chat.VisitorConversations(r.Context(), actorFrom(r))
	respond(w, r, map[string]any{"conversations": cs}, err)
}

func (a *API) visitorConversation(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	v, err := a.chat.VisitorConversation(r.Context(), actorFrom(r), id)
	respond(w, r, v, err)
}

// contentDisposition builds a header with an ASCII fallback filename and the
// exact name in RFC 5987 encoding (every byte outside attr-char escaped).
func contentDisposition(disp, name string) string {
	var ascii, ext strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		isAttr := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$&+-.^_`|~", c) >= 0
		if isAttr {
			ext.WriteByte(c)
		} else {
			fmt.Fprintf(&ext, "%%%02X", c)
		}
		switch {
		case c >= 0x80:
			// Part of a multi-byte rune: one placeholder per rune start.
			if c >= 0xC0 {
				ascii.WriteByte('_')
			}
		case c < 0x20 || c == 0x7f || c == '"' || c == '\\':
			ascii.WriteByte('_')
		default:
			ascii.WriteByte(c)
		}
	}
	fallback := ascii.String()
	if fallback == "" {
		fallback = "file"
	}
	return disp + `; filename="` + fallback + `"; filename*=UTF-8''` + ext.String()
}

func (a *API) staffList(w http.ResponseWriter, r *http.Request) {
	staff, err := a.chat.Staff(r.Context(), actorFrom(r))
	respond(w, r, map[string]any{"staff": staff}, err)
}

func (a *API) rate(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusCreated, true, func(id int64, req struct {
		ChatID  int64  `json:"chat_id"`
		Score   int    `json:"score"`
		Comment string `json:"comment"`
	}) (map[string]any, error) {
		v, err := a.chat.Rate(r.Context(), actorFrom(r), id, req.ChatID, req.Score, req.Comment)
		return map[string]any{"chat": v}, err
	})
}

func (a *API) leaveMessage(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusCreated, false, func(_ int64, req struct {
		Name     string `json:"name"`
		Email    string `json:"email"`
		Body     string `json:"body"`
		ClientID string `json:"client_id"`
	}) (chat.VisitorView, error) {
		return a.chat.LeaveMessage(r.Context(), actorFrom(r), chat.LeaveMessageInput{Name: req.Name, Email: req.Email, Body: req.Body, ClientID: req.ClientID})
	})
}

// widgetConfig is the site's widget look, texts and pre-chat form, by site
// key, for the loader before any session exists. It is public and
// cacheable; CORS admits only the site's allowed origins (another origin
// gets 403 origin_not_allowed, without CORS headers).
func (a *API) widgetConfig(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	cfg, err := a.chat.PublicWidgetConfig(r.Context(), r.PathValue("key"), origin)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	body, err := json.Marshal(cfg)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h := w.Header()
	if origin != "" {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Add("Vary", "Origin")
	// A minute: an admin's change reaches pages quickly, and the loader
	// keeps its own copy to draw the launcher at once meanwhile.
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(append(body, '\n'))
}

// handoff moves the visitor's chat with the assistant to a human.
func (a *API) handoff(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusOK, true, func(id int64, req struct {
		DepartmentID int64 `json:"department_id"`
	}) (chat.VisitorView, error) {
		return a.chat.Handoff(r.Context(), actorFrom(r), id, req.DepartmentID)
	})
}

package httpapi

// Routing endpoints: offers, hand-overs, capacity, departments.

import (
	"encoding/json"
	"net/http"

	"switchboard/internal/apperr"
	"switchboard/internal/chat"
	"switchboard/internal/model"
)

func (a *API) myOffers(w http.ResponseWriter, r *http.Request) {
	offers, err := a.chat.MyOffers(r.Context(), actorFrom(r))
	respond(w, r, map[string]any{"offers": offers}, err)
}

func (a *API) visitorSite(w http.ResponseWriter, r *http.Request) {
	site, err := a.chat.VisitorSite(r.Context(), actorFrom(r))
	respond(w, r, site, err)
}

func (a *API) decline(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	if err := a.chat.Decline(r.Context(), actorFrom(r), id); err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) assign(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req transferRequest) (chat.ConversationView, error) {
		if req.DepartmentID != 0 {
			return chat.ConversationView{}, apperr.Invalid("invalid_assign", "assign takes a user_id only")
		}
		return a.chat.Assign(r.Context(), actorFrom(r), id, req.UserID)
	})
}

func (a *API) invite(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req transferRequest) (chat.ConversationView, error) {
		if req.DepartmentID != 0 {
			return chat.ConversationView{}, apperr.Invalid("invalid_invite", "invite takes a user_id only")
		}
		return a.chat.Invite(r.Context(), actorFrom(r), id, req.UserID)
	})
}

type transferRequest struct {
	UserID       int64 `json:"user_id"`
	DepartmentID int64 `json:"department_id"`
}

func (a *API) transfer(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req transferRequest) (chat.ConversationView, error) {
		return a.chat.Transfer(r.Context(), actorFrom(r), id, chat.TransferInput{UserID: req.UserID, DepartmentID: req.DepartmentID})
	})
}

func (a *API) transferTargets(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	t, err := a.chat.Targets(r.Context(), actorFrom(r), id)
	respond(w, r, t, err)
}

func (a *API) setCapacity(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusOK, false, func(_ int64, req struct {
		Capacity *int `json:"capacity"`
	}) (model.User, error) {
		if req.Capacity == nil {
			return a.chat.SetCapacity(r.Context(), actorFrom(r), -1)
		}
		return a.chat.SetCapacity(r.Context(), actorFrom(r), *req.Capacity)
	})
}

type departmentRequest struct {
	SiteID              int64           `json:"site_id"`
	Name                *string         `json:"name"`
	Strategy            *string         `json:"strategy"`
	OfferTimeoutSeconds *int            `json:"offer_timeout_seconds"`
	MaxWaitSeconds      *int            `json:"max_wait_seconds"`
	Hours               json.RawMessage `json:"hours"` // absent: unchanged; null: the site's
	MemberIDs           *[]int64        `json:"member_ids"`
}

// optionalRaw tells an absent JSON field (nil) from one given, even as null.
func optionalRaw(raw json.RawMessage) *json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	return &raw
}

func (d departmentRequest) input() chat.DepartmentInput {
	return chat.DepartmentInput{SiteID: d.SiteID, Name: d.Name, Strategy: d.Strategy,
		OfferTimeoutSeconds: d.OfferTimeoutSeconds, MaxWaitSeconds: d.MaxWaitSeconds, Hours: optionalRaw(d.Hours), MemberIDs: d.MemberIDs}
}

func (a *API) listDepartments(w http.ResponseWriter, r *http.Request) {
	site, err := queryInt(r, "site_id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	ds, err := a.chat.ListDepartments(r.Context(), actorFrom(r), site)
	respond(w, r, map[string]any{"departments": ds}, err)
}

func (a *API) createDepartment(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusCreated, false, func(_ int64, req departmentRequest) (model.Department, error) {
		return a.chat.CreateDepartment(r.Context(), actorFrom(r), req.input())
	})
}

func (a *API) updateDepartment(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req departmentRequest) (model.Department, error) {
		return a.chat.UpdateDepartment(r.Context(), actorFrom(r), id, req.input())
	})
}

func (a *API) deleteDepartment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	if err := a.chat.DeleteDepartment(r.Context(), actorFrom(r), id); err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) setStatus(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req struct {
		Status model.TicketStatus `json:"status"`
	}) (model.Conversation, error) {
		return a.chat.SetStatus(r.Context(), actorFrom(r), id, req.Status)
	})
}

func (a *API) setAssignee(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req struct {
		UserID int64 `json:"user_id"`
	}) (model.Conversation, error) {
		return a.chat.AssignTicket(r.Context(), actorFrom(r), id, req.UserID)
	})
}

func (a *API) emailReply(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusCreated, true, func(id int64, req sendRequest) (model.Message, error) {
		return a.chat.ReplyByEmail(r.Context(), actorFrom(r), id, chat.SendInput{ConversationID: id, ClientID: req.ClientID, Body: req.Body, AttachmentID: req.AttachmentID})
	})
}

func (a *API) conversationMail(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	mail, err := a.chat.Mail(r.Context(), actorFrom(r), id)
	respond(w, r, map[string]any{"mail": mail}, err)
}

func (a *API) requestTranscript(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusAccepted, true, func(id int64, req struct {
		Email string `json:"email"`
	}) (map[string]any, error) {
		if err := a.chat.RequestTranscript(r.Context(), actorFrom(r), id, req.Email); err != nil {
			return nil, err
		}
		return map[string]any{"queued": true}, nil
	})
}

type quickReplyRequest struct {
	Shortcut *string `json:"shortcut"`
	Body     *string `json:"body"`
	Shared   bool    `json:"shared"`
}

func (a *API) listQuickReplies(w http.ResponseWriter, r *http.Request) {
	qs, err := a.chat.ListQuickReplies(r.Context(), actorFrom(r))
	respond(w, r, map[string]any{"quick_replies": qs}, err)
}

func (a *API) createQuickReply(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusCreated, false, func(_ int64, req quickReplyRequest) (model.QuickReply, error) {
		return a.chat.CreateQuickReply(r.Context(), actorFrom(r), chat.QuickReplyInput{Shortcut: req.Shortcut, Body: req.Body, Shared: req.Shared})
	})
}

func (a *API) updateQuickReply(w http.ResponseWriter, r *http.Request) {
	idBody(w, r, func(id int64, req quickReplyRequest) (model.QuickReply, error) {
		if req.Shared {
			return model.QuickReply{}, apperr.Invalid("shared_immutable", "a quick reply cannot change between shared and personal")
		}
		return a.chat.UpdateQuickReply(r.Context(), actorFrom(r), id, chat.QuickReplyInput{Shortcut: req.Shortcut, Body: req.Body})
	})
}

func (a *API) deleteQuickReply(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	if err := a.chat.DeleteQuickReply(r.Context(), actorFrom(r), id); err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type channelMessageRequest struct {
	Channel      string            `json:"channel"`
	ClientID     string            `json:"client_id"`
	Body         string            `json:"body"`
	TemplateID   string            `json:"template_id"`
	TemplateVars map[string]string `json:"template_vars"`
}

func (a *API) channelMessage(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusCreated, true, func(id int64, req channelMessageRequest) (model.Message, error) {
		return a.chat.SendChannel(r.Context(), actorFrom(r), id, chat.ChannelSendInput{Channel: req.Channel, ClientID: req.ClientID,
			Body: req.Body, TemplateID: req.TemplateID, TemplateVars: req.TemplateVars})
	})
}

// identityRequest changes a site's identity verification.
type identityRequest struct {
	Required     *bool `json:"required"`
	RotateSecret bool  `json:"rotate_secret"`
}

func (r *identityRequest) input() *chat.IdentityInput {
	if r == nil {
		return nil
	}
	return &chat.IdentityInput{Required: r.Required, RotateSecret: r.RotateSecret}
}

type identifyRequest struct {
	UserID     string            `json:"user_id"`
	Email      string            `json:"email"`
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes"`
	Hash       string            `json:"hash"`
}

func (a *API) identify(w http.ResponseWriter, r *http.Request) {
	bodyCall(w, r, http.StatusOK, false, func(_ int64, req identifyRequest) (map[string]any, error) {
		c, err := a.chat.Identify(r.Context(), actorFrom(r), chat.IdentifyInput{UserID: req.UserID, Email: req.Email,
			Name: req.Name, Attributes: req.Attributes, Hash: req.Hash})
		if err != nil {
			return nil, err
		}
		return map[string]any{"contact": c}, nil
	})
}

package chat

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"net/url"
	"strings"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// SiteInput creates or changes a site. Nil fields are left unchanged on update.
type SiteInput struct {
	Name           *string
	Key            *string // create only; generated when empty
	AllowedOrigins *[]string
	WidgetMode     *model.WidgetMode
	Routing        *model.RoutingSettings // replaces the whole settings
	Email          *model.EmailSettings   // replaces the whole settings
	Identity       *IdentityInput
	Hours          *json.RawMessage      // null or empty: always open
	Widget         *model.WidgetSettings // replaces the whole settings
	Bot            *model.BotSettings    // replaces the whole settings
}

func requireAdmin(a Actor) error {
	if !a.IsStaff() || a.User.Role != model.RoleAdmin {
		return apperr.Forbidden("admin_only", "only admins manage sites")
	}
	return nil
}

// NewSiteKey returns a random public site key.
func NewSiteKey() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func normalizeOrigins(in []string) ([]string, error) {
	if len(in) > 50 {
		return nil, apperr.Invalid("too_many_origins", "at most 50 allowed origins")
	}
	out := make([]string, 0, len(in))
	for _, o := range in {
		o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
		if o == "*" {
			out = append(out, o)
			continue
		}
		u, err := url.Parse(strings.Replace(o, "://*.", "://wildcard.", 1))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return nil, apperr.Invalid("invalid_origin", "origins look like https://shop.example or https://*.example")
		}
		out = append(out, o)
	}
	return out, nil
}

func applySite(s *model.Site, in SiteInput) error {
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if n == "" || utf8.RuneCountInString(n) > 200 || !utf8.ValidString(n) || hasControl(n) {
			return apperr.Invalid("invalid_name", "name is 1 to 200 characters, without control characters")
		}
		s.Name = n
	}
	if in.AllowedOrigins != nil {
		o, err := normalizeOrigins(*in.AllowedOrigins)
		if err != nil {
			return err
		}
		s.AllowedOrigins = o
	}
	if in.WidgetMode != nil {
		if !in.WidgetMode.Valid() {
			return apperr.Invalid("invalid_widget_mode", "widget_mode is one of live, assistant, hybrid")
		}
		s.WidgetMode = *in.WidgetMode
	}
	if in.Email != nil {
		if err := validateEmailSettings(*in.Email); err != nil {
			return err
		}
		s.Email = *in.Email
	}
	if in.Hours != nil {
		h, err := validateHours(*in.Hours)
		if err != nil {
			return err
		}
		s.Hours = h
	}
	if in.Widget != nil {
		w, err := validateWidget(*in.Widget)
		if err != nil {
			return err
		}
		s.Widget = w
	}
	if in.Bot != nil {
		b, err := validateBot(*in.Bot)
		if err != nil {
			return err
		}
		s.Bot = b
	}
	return nil
}

// IdentityInput changes a site's identity verification.
type IdentityInput struct {
	Required     *bool
	RotateSecret bool // issue a new secret (the old one stops verifying at once)
}

func applyIdentity(s *model.Site, in *IdentityInput) {
	if in == nil {
		return
	}
	if in.Required != nil {
		s.Identity.Required = *in.Required
	}
	if in.RotateSecret || (s.Identity.Required && s.Identity.Secret == "") {
		s.Identity.Secret = NewIdentitySecret()
	}
}

// applyRouting validates and sets a site's routing settings (it reads the
// default department through r).
func applyRouting(ctx context.Context, r store.Reader, s *model.Site, in SiteInput) error {
	if in.Routing == nil {
		return nil
	}
	if err := validateRouting(ctx, r, s.ID, *in.Routing); err != nil {
		return err
	}
	s.Routing = *in.Routing
	return nil
}

// CreateSite creates a site (admins only).
func (s *Service) CreateSite(ctx context.Context, a Actor, in SiteInput) (model.Site, error) {
	if err := requireAdmin(a); err != nil {
		return model.Site{}, err
	}
	site := model.Site{WidgetMode: model.ModeLive, AllowedOrigins: []string{}, CreatedAt: s.now()}
	if in.Name == nil {
		return model.Site{}, apperr.Invalid("invalid_name", "name is required")
	}
	if err := applySite(&site, in); err != nil {
		return model.Site{}, err
	}
	site.Key = NewSiteKey()
	if in.Key != nil && *in.Key != "" {
		if !ValidSiteKey(*in.Key) {
			return model.Site{}, apperr.Invalid("invalid_site_key", "site keys are 1 to 64 letters, digits, - or _")
		}
		site.Key = *in.Key
	}
	applyIdentity(&site, in.Identity)
	if in.Routing != nil && in.Routing.DefaultDepartmentID != 0 {
		return model.Site{}, apperr.NotFound("department")
	}
	if err := applyRouting(ctx, s.st, &site, in); err != nil {
		return model.Site{}, err
	}
	err := s.st.InTx(ctx, func(tx store.Tx) error { return tx.CreateSite(ctx, &site) })
	return site, err
}

// UpdateSite changes a site (admins only).
func (s *Service) UpdateSite(ctx context.Context, a Actor, id int64, in SiteInput) (model.Site, error) {
	if err := requireAdmin(a); err != nil {
		return model.Site{}, err
	}
	if in.Key != nil {
		return model.Site{}, apperr.Invalid("key_immutable", "a site's key cannot change: pages embed it")
	}
	var out model.Site
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		site, err := tx.GetSite(ctx, id)
		if err != nil {
			return err
		}
		if err := applySite(&site, in); err != nil {
			return err
		}
		if err := applyRouting(ctx, tx, &site, in); err != nil {
			return err
		}
		applyIdentity(&site, in.Identity)
		out = site
		return tx.UpdateSite(ctx, site)
	})
	if err == nil {
		// A new strategy, or new hours, may let the site's queues move.
		s.router.kick(queueKey{id, 0})
		if depts, err := s.st.ListDepartments(ctx, id); err == nil {
			for _, d := range depts {
				s.router.kick(queueKey{id, d.ID})
			}
		}
	}
	return out, err
}

// ListSites lists the sites the staff actor may see.
func (s *Service) ListSites(ctx context.Context, a Actor) ([]model.Site, error) {
	if !a.IsStaff() {
		return nil, apperr.Forbidden("staff_only", "staff only")
	}
	all, err := s.st.ListSites(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]model.Site, 0, len(all))
	for _, site := range all {
		if a.SeesSite(site.ID) {
			if a.User.Role != model.RoleAdmin {
				site.Identity.Secret = "" // only admins hold the signing key
			}
			out = append(out, site)
		}
	}
	return out, nil
}

package chat

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/routing"
	"switchboard/internal/store"
)

// DepartmentInput creates or changes a department. Nil fields are left
// unchanged on update.
type DepartmentInput struct {
	SiteID              int64 // create only
	Name                *string
	Strategy            *string // "": the site's
	OfferTimeoutSeconds *int    // 0: the site's
	MaxWaitSeconds      *int    // 0: the site's
	Hours               *json.RawMessage
	MemberIDs           *[]int64
}

func (s *Service) applyDepartment(ctx context.Context, r store.Reader, d *model.Department, in DepartmentInput) error {
	if in.Name != nil {
		n := strings.TrimSpace(*in.Name)
		if n == "" || utf8.RuneCountInString(n) > 100 || !utf8.ValidString(n) || hasControl(n) {
			return apperr.Invalid("invalid_name", "name is 1 to 100 characters, without control characters")
		}
		d.Name = n
	}
	if in.Strategy != nil {
		if *in.Strategy != "" {
			if _, err := routing.ParseStrategy(*in.Strategy); err != nil {
				return err
			}
		}
		d.Strategy = *in.Strategy
	}
	if in.OfferTimeoutSeconds != nil {
		if v := *in.OfferTimeoutSeconds; v < 0 || v > 3600 || (v > 0 && v < 5) {
			return apperr.Invalid("invalid_offer_timeout", "offer_timeout_seconds is 5 to 3600 (0: the site's)")
		}
		d.OfferTimeoutSeconds = *in.OfferTimeoutSeconds
	}
	if in.MaxWaitSeconds != nil {
		if v := *in.MaxWaitSeconds; v < 0 || v > 7*86400 {
			return apperr.Invalid("invalid_max_wait", "max_wait_seconds is 0 (the site's) to 604800")
		}
		d.MaxWaitSeconds = *in.MaxWaitSeconds
	}
	if in.Hours != nil {
		h, err := validateHours(*in.Hours)
		if err != nil {
			return err
		}
		d.Hours = h
	}
	if in.MemberIDs != nil {
		ids := slices.Clone(*in.MemberIDs)
		slices.Sort(ids)
		ids = slices.Compact(ids)
		if len(ids) > 10_000 {
			return apperr.Invalid("too_many_members", "at most 10,000 members")
		}
		for _, id := range ids {
			u, err := r.GetUser(ctx, id)
			if apperr.IsNotFound(err) {
				return apperr.Invalid("invalid_member", "no such user")
			}
			if err != nil {
				return err
			}
			if u.Role == model.RoleSupervisor || u.Disabled {
				return apperr.Invalid("invalid_member", u.Name+" cannot take chats (supervisor or disabled)")
			}
			if u.Role != model.RoleAdmin {
				sites, err := r.UserSiteIDs(ctx, id)
				if err != nil {
					return err
				}
				if !slices.Contains(sites, d.SiteID) {
					return apperr.Invalid("invalid_member", u.Name+" is not a member of this site")
				}
			}
		}
		d.MemberIDs = ids
	}
	return nil
}

// CreateDepartment creates a department of a site (admins only).
func (s *Service) CreateDepartment(ctx context.Context, a Actor, in DepartmentInput) (model.Department, error) {
	if err := requireAdmin(a); err != nil {
		return model.Department{}, err
	}
	if in.Name == nil {
		return model.Department{}, apperr.Invalid("invalid_name", "name is required")
	}
	d := model.Department{SiteID: in.SiteID, MemberIDs: []int64{}, CreatedAt: s.now()}
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetSite(ctx, in.SiteID); err != nil {
			return err
		}
		if err := s.applyDepartment(ctx, tx, &d, in); err != nil {
			return err
		}
		return tx.CreateDepartment(ctx, &d)
	})
	if err == nil {
		s.router.kick(queueKey{d.SiteID, d.ID})
	}
	return d, err
}

// UpdateDepartment changes a department (admins only).
func (s *Service) UpdateDepartment(ctx context.Context, a Actor, id int64, in DepartmentInput) (model.Department, error) {
	if err := requireAdmin(a); err != nil {
		return model.Department{}, err
	}
	var d model.Department
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		var err error
		if d, err = tx.GetDepartment(ctx, id); err != nil {
			return err
		}
		if in.SiteID != 0 && in.SiteID != d.SiteID {
			return apperr.Invalid("site_immutable", "a department cannot move to another site")
		}
		if err := s.applyDepartment(ctx, tx, &d, in); err != nil {
			return err
		}
		return tx.UpdateDepartment(ctx, d)
	})
	if err == nil {
		s.router.kick(queueKey{d.SiteID, d.ID}) // new members or a new strategy may move the queue
	}
	return d, err
}

// DeleteDepartment removes a department; its queue joins the site's
// general queue (admins only).
func (s *Service) DeleteDepartment(ctx context.Context, a Actor, id int64) error {
	if err := requireAdmin(a); err != nil {
		return err
	}
	var site int64
	err := s.st.InTx(ctx, func(tx store.Tx) error {
		d, err := tx.GetDepartment(ctx, id)
		if err != nil {
			return err
		}
		site = d.SiteID
		if err := tx.DeleteDepartment(ctx, id); err != nil {
			return err
		}
		// The site's default must not point at a department that is gone.
		st, err := tx.GetSite(ctx, d.SiteID)
		if err != nil {
			return err
		}
		if st.Routing.DefaultDepartmentID == id {
			st.Routing.DefaultDepartmentID = 0
			return tx.UpdateSite(ctx, st)
		}
		return nil
	})
	if err == nil {
		s.router.kick(queueKey{site, 0})
	}
	return err
}

// ListDepartments lists a site's departments (staff who see the site).
func (s *Service) ListDepartments(ctx context.Context, a Actor, siteID int64) ([]model.Department, error) {
	if !a.IsStaff() {
		return nil, apperr.Forbidden("staff_only", "staff only")
	}
	if siteID != 0 && !a.SeesSite(siteID) {
		return nil, apperr.NotFound("site")
	}
	all, err := s.st.ListDepartments(ctx, siteID)
	if err != nil {
		return nil, err
	}
	out := make([]model.Department, 0, len(all))
	for _, d := range all {
		if a.SeesSite(d.SiteID) {
			out = append(out, d)
		}
	}
	return out, nil
}

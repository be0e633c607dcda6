package identity

import (
	"context"

	"switchboard/internal/model"
)

// UserView is a user with the sites they belong to.
type UserView struct {
	model.User
	SiteIDs []int64 `json:"site_ids"`
}

// ListUsers returns every staff user with their site memberships, by id.
func (s *Service) ListUsers(ctx context.Context) ([]UserView, error) {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]UserView, 0, len(users))
	for _, u := range users {
		ids, err := s.st.UserSiteIDs(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if ids == nil {
			ids = []int64{}
		}
		out = append(out, UserView{User: u, SiteIDs: ids})
	}
	return out, nil
}

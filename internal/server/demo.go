package server

import (
	"context"
	"fmt"

	"switchboard/internal/apperr"
	"switchboard/internal/chat"
	"switchboard/internal/identity"
	"switchboard/internal/model"
)

// DemoSiteKey is the key of the demo site created by --demo.
const DemoSiteKey = "demo"

// Login is a demo account.
type Login struct {
	Role     model.Role
	Email    string
	Password string
}

// Demo describes the demo data.
type Demo struct {
	ConsoleURL string
	DemoURL    string
	Logins     []Login
}

// demoLogins are fixed so the README can name them. They are for a local
// trial only: --demo is not for a server others can reach.
var demoLogins = []struct {
	Login
	Name string
}{
	{Login{model.RoleAdmin, "admin@demo.test", "demo-admin-pass"}, "Ada Admin"},
	{Login{model.RoleAgent, "alice@demo.test", "demo-agent-pass"}, "Alice Agent"},
	{Login{model.RoleAgent, "bob@demo.test", "demo-agent-pass"}, "Bob Agent"},
}

// SeedDemo creates (once) a demo site, an admin and two agents, and returns
// where to find them. Running it again only reports them.
func (s *Server) SeedDemo(ctx context.Context) (Demo, error) {
	admin := chat.Actor{Party: model.PartyAgent, User: model.User{Role: model.RoleAdmin}}
	site, err := s.Store.GetSiteByKey(ctx, DemoSiteKey)
	if apperr.IsNotFound(err) {
		name := "Demo Shop"
		key := DemoSiteKey
		site, err = s.Chat.CreateSite(ctx, admin, chat.SiteInput{Name: &name, Key: &key})
	}
	if err != nil {
		return Demo{}, fmt.Errorf("demo site: %w", err)
	}
	d := Demo{ConsoleURL: s.BaseURL() + "/console/", DemoURL: s.BaseURL() + "/demo"}
	for _, l := range demoLogins {
		_, err := s.Ident.CreateUser(ctx, identity.NewUser{Email: l.Email, Name: l.Name, Password: l.Password,
			Role: l.Role, SiteIDs: []int64{site.ID}})
		if err != nil && apperr.CodeOf(err) != "email_taken" {
			return Demo{}, fmt.Errorf("demo user %s: %w", l.Email, err)
		}
		d.Logins = append(d.Logins, l.Login)
	}
	return d, nil
}

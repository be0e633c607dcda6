package chat

// Visitor identity verification (DESIGN.md §6): a site's backend signs
// who its logged-in user is with the site's identity secret; the widget
// passes the signature along; the server trusts only a matching one. A
// verified identity is the same contact on every device, so its history
// follows the person. With verification required, an unverified visitor
// cannot claim a name or email (and so cannot pose as anyone).

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// IdentifyInput is a visitor's identity as the site's backend signed it.
type IdentifyInput struct {
	UserID     string // the site's own user id (preferred: emails change)
	Email      string
	Name       string
	Attributes map[string]string
	// Hash is hex(HMAC-SHA256(site identity secret, UserID)), or of the
	// lower-cased Email when there is no UserID.
	Hash string
}

// IdentityHash is the signature a site's backend computes for a subject.
func IdentityHash(secret, subject string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(subject))
	return hex.EncodeToString(mac.Sum(nil))
}

// NewIdentitySecret returns a random secret for a site.
func NewIdentitySecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Identify verifies the visitor's signed identity and makes their session
// that identity's contact: an existing verified contact of the site (its
// conversations become the visitor's), or the current one, now verified.
// A wrong signature changes nothing (identity_unverified).
func (s *Service) Identify(ctx context.Context, a Actor, in IdentifyInput) (model.Contact, error) {
	if a.Party != model.PartyVisitor {
		return model.Contact{}, apperr.Forbidden("visitors_only", "only visitors identify")
	}
	site, err := s.st.GetSite(ctx, a.SiteID)
	if err != nil {
		return model.Contact{}, err
	}
	if site.Identity.Secret == "" {
		return model.Contact{}, apperr.Conflict("identity_not_configured", "this site does not verify identities")
	}
	if len(in.UserID) > 200 || !utf8.ValidString(in.UserID) || hasControl(in.UserID) {
		return model.Contact{}, apperr.Invalid("invalid_user_id", "user_id is at most 200 characters of text")
	}
	if in.Email != "" {
		if in.Email, err = normalizeEmail(in.Email); err != nil {
			return model.Contact{}, err
		}
	}
	name := strings.TrimSpace(in.Name)
	if utf8.RuneCountInString(name) > 200 || !utf8.ValidString(name) || hasControl(name) {
		return model.Contact{}, apperr.Invalid("invalid_name", "name is too long or contains control characters")
	}
	if len(in.Attributes) > 50 {
		return model.Contact{}, apperr.Invalid("too_many_attributes", "at most 50 attributes")
	}
	for k, v := range in.Attributes {
		if k == "" || len(k) > 64 || len(v) > 1000 || !utf8.ValidString(k+v) || hasControl(k) || strings.IndexByte(v, 0) >= 0 {
			return model.Contact{}, apperr.Invalid("invalid_attribute", "attribute names are 1 to 64 bytes, values at most 1000")
		}
	}
	subject, ext := in.UserID, "user:"+in.UserID
	if in.UserID == "" {
		if in.Email == "" {
			return model.Contact{}, apperr.Invalid("identity_subject_required", "give user_id or email")
		}
		subject, ext = in.Email, "email:"+in.Email
	}
	got, err := hex.DecodeString(strings.TrimSpace(in.Hash))
	want, _ := hex.DecodeString(IdentityHash(site.Identity.Secret, subject))
	if err != nil || !hmac.Equal(got, want) {
		return model.Contact{}, apperr.Forbidden("identity_unverified", "the identity's signature does not match")
	}
	var out model.Contact
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		target, err := tx.GetContactByExternalID(ctx, site.ID, ext)
		switch {
		case apperr.IsNotFound(err):
			if target, err = tx.GetContact(ctx, a.ContactID); err != nil {
				return err
			}
			target.ExternalID = ext
		case err != nil:
			return err
		case target.ID != a.ContactID:
			// The person is known: this browser continues their history.
			if err := tx.SetVisitorSessionContact(ctx, a.VisitorSessionID, target.ID); err != nil {
				return err
			}
		}
		if name != "" {
			target.Name = name
		}
		if in.Email != "" {
			target.Email = in.Email
		}
		if target.Attributes == nil {
			target.Attributes = map[string]string{}
		}
		for k, v := range in.Attributes {
			target.Attributes[k] = v
		}
		out = target
		return tx.UpdateContact(ctx, target)
	})
	return out, err
}

// requireVerifiedClaim refuses, on a site that requires verified
// identities, a name or email claimed by a visitor who is not verified.
func (s *Service) requireVerifiedClaim(ctx context.Context, site model.Site, a Actor, name, email string) error {
	if !site.Identity.Required || (name == "" && email == "") {
		return nil
	}
	c, err := s.st.GetContact(ctx, a.ContactID)
	if err != nil {
		return err
	}
	if c.ExternalID == "" {
		return apperr.Forbidden("identity_required", "this site needs to know who you are: sign in on the site first")
	}
	return nil
}

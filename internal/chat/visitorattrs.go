package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"unicode/utf8"

	"switchboard/internal/apperr"
	"switchboard/internal/model"
	"switchboard/internal/store"
)

// Bounds of the attributes a visitor's widget sends without a verified
// identity (Switchboard('attributes', {...}) on a site that does not require
// verification).
const (
	MaxVisitorAttributes     = 50  // keys per contact, after merging
	MaxVisitorAttributeKey   = 64  // bytes, [a-z0-9_.-]
	MaxVisitorAttributeValue = 256 // characters
)

// SetVisitorAttributes merges attributes the visitor's widget sent into the
// contact's VisitorAttributes: unverified data, which anyone can forge from a
// browser, so it is kept apart from the verified Attributes (never
// overwriting them) and shown to staff as provided by the visitor. Values
// are strings, numbers or booleans (stored as text); null removes a key. On
// a site that requires identity verification nothing unverified is taken:
// identity_required. Either every attribute is valid and all are stored, or
// none is (invalid_attribute, too_many_attributes). It returns the contact's
// visitor attributes after the merge.
func (s *Service) SetVisitorAttributes(ctx context.Context, a Actor, in map[string]json.RawMessage) (map[string]string, error) {
	if a.Party != model.PartyVisitor {
		return nil, apperr.Forbidden("visitors_only", "only visitors send their attributes")
	}
	if len(in) > MaxVisitorAttributes {
		return nil, apperr.Invalid("too_many_attributes", "at most 50 attributes")
	}
	set := make(map[string]string, len(in))
	var del []string
	for k, raw := range in {
		if !validAttributeKey(k) {
			return nil, apperr.Invalid("invalid_attribute", "attribute names are 1 to 64 characters of a-z, 0-9, _ . -")
		}
		v, null, ok := attributeValue(raw)
		if !ok {
			return nil, apperr.Invalid("invalid_attribute", "attribute "+k+": a value is a string of at most 256 characters, a number, true, false or null")
		}
		if null {
			del = append(del, k)
		} else {
			set[k] = v
		}
	}
	site, err := s.st.GetSite(ctx, a.SiteID)
	if err != nil {
		return nil, err
	}
	if site.Identity.Required {
		return nil, apperr.Forbidden("identity_required", "this site takes visitor attributes only with a verified identity")
	}
	var out map[string]string
	err = s.st.InTx(ctx, func(tx store.Tx) error {
		c, err := tx.GetContact(ctx, a.ContactID)
		if err != nil {
			return err
		}
		merged := maps.Clone(c.VisitorAttributes)
		if merged == nil {
			merged = map[string]string{}
		}
		for _, k := range del {
			delete(merged, k)
		}
		maps.Copy(merged, set)
		if len(merged) > MaxVisitorAttributes {
			return apperr.Invalid("too_many_attributes", "at most 50 attributes per visitor: remove some with null first")
		}
		c.VisitorAttributes = merged
		out = merged
		return tx.UpdateContact(ctx, c)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func validAttributeKey(k string) bool {
	if k == "" || len(k) > MaxVisitorAttributeKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// attributeValue turns one JSON value into the text stored: a string as is
// (at most MaxVisitorAttributeValue characters, no control characters), a
// number as written, a boolean as "true" or "false". null reports null;
// objects and arrays are refused.
func attributeValue(raw json.RawMessage) (v string, null, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false, false
	}
	switch c := raw[0]; {
	case c == 'n':
		return "", true, string(raw) == "null"
	case c == 't' || c == 'f':
		s := string(raw)
		return s, false, s == "true" || s == "false"
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false, false
		}
		if utf8.RuneCountInString(s) > MaxVisitorAttributeValue || hasControl(s) {
			return "", false, false
		}
		return s, false, true
	case c == '-' || (c >= '0' && c <= '9'):
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil || len(raw) > MaxVisitorAttributeValue {
			return "", false, false
		}
		return n.String(), false, true
	}
	return "", false, false
}

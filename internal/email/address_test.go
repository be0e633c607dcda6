package email

import (
	"strconv"
	"strings"
	"testing"
)

var testSecret = []byte("a shared secret of every node, 32+ bytes long")

func TestReplyAddressRoundTrip(t *testing.T) {
	for _, id := range []int64{1, 42, 1 << 40, 9223372036854775807} {
		addr := ReplyAddress(testSecret, "Example.COM", id)
		local, dom, _ := strings.Cut(addr, "@")
		if dom != "example.com" || !strings.HasPrefix(local, "reply+"+strconv.FormatInt(id, 10)+"-") {
			t.Fatalf("ReplyAddress(%d) = %q", id, addr)
		}
		sig := local[strings.LastIndexByte(local, '-')+1:]
		if len(sig) != 16 || strings.Trim(sig, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("signature %q: want 16 lower-case base32 characters", sig)
		}
		for _, variant := range []string{addr, strings.ToUpper(addr), "<" + addr + ">", "  " + addr + " "} {
			got, ok := ParseReplyAddress(testSecret, "example.com", variant)
			if !ok || got != id {
				t.Errorf("ParseReplyAddress(%q) = %d, %v; want %d, true", variant, got, ok, id)
			}
		}
		if got, ok := ParseReplyAddress(testSecret, "EXAMPLE.com", addr); !ok || got != id {
			t.Errorf("domain compared case-sensitively")
		}
	}
}

func TestReplyAddressIsStable(t *testing.T) {
	// The signature is part of addresses already in customers' mailboxes:
	// it must never change with a refactoring.
	a := ReplyAddress([]byte("k"), "example.com", 7)
	b := ReplyAddress([]byte("k"), "example.com", 7)
	if a != b {
		t.Fatalf("not deterministic: %q, %q", a, b)
	}
	if ReplyAddress([]byte("k2"), "example.com", 7) == a {
		t.Fatal("the secret does not change the signature")
	}
}

func TestParseReplyAddressRejects(t *testing.T) {
	good := ReplyAddress(testSecret, "example.com", 42)
	local, _, _ := strings.Cut(good, "@")
	sig := local[strings.LastIndexByte(local, '-')+1:]
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	other43 := ReplyAddress(testSecret, "example.com", 43)
	cases := map[string]string{
		"other domain":         "reply+42-" + sig + "@example.org",
		"subdomain":            "reply+42-" + sig + "@mail.example.com",
		"altered id":           "reply+43-" + sig + "@example.com",
		"id with leading zero": "reply+042-" + sig + "@example.com",
		"negative id":          "reply+-42-" + sig + "@example.com",
		"zero id":              ReplyAddress(testSecret, "example.com", 0),
		"forged signature":     "reply+42-" + flip(sig, 0) + "@example.com",
		"last char altered":    "reply+42-" + flip(sig, 15) + "@example.com",
		"short signature":      "reply+42-" + sig[:15] + "@example.com",
		"long signature":       "reply+42-" + sig + "a@example.com",
		"other secret":         ReplyAddress([]byte("another secret"), "example.com", 42),
		"swapped signature":    "reply+42-" + other43[strings.LastIndexByte(other43, '-')+1:strings.IndexByte(other43, '@')] + "@example.com",
		"no prefix":            "42-" + sig + "@example.com",
		"other prefix":         "replies+42-" + sig + "@example.com",
		"no signature":         "reply+42@example.com",
		"no at":                "reply+42-" + sig,
		"empty domain":         "reply+42-" + sig + "@",
		"empty":                "",
		"display name":         "Jane <" + good + ">",
		"overflowing id":       "reply+99999999999999999999-" + sig + "@example.com",
		"space in id":          "reply+4 2-" + sig + "@example.com",
	}
	for name, addr := range cases {
		if id, ok := ParseReplyAddress(testSecret, "example.com", addr); ok {
			t.Errorf("%s: ParseReplyAddress(%q) = %d, true; want rejected", name, addr, id)
		}
	}
	if _, ok := ParseReplyAddress(nil, "example.com", ReplyAddress(nil, "example.com", 42)); ok {
		t.Error("an empty secret must reject everything")
	}
	if _, ok := ParseReplyAddress(testSecret, "example.com", good); !ok {
		t.Fatal("the good address itself was rejected")
	}
}

func TestNewMessageID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewMessageID("Example.com")
		if !validMsgID(id) || !strings.HasSuffix(id, "@example.com") || strings.ContainsAny(id, "<> ") {
			t.Fatalf("NewMessageID = %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate Message-ID %q", id)
		}
		seen[id] = true
	}
	if id := NewMessageID(""); !strings.HasSuffix(id, "@localhost") {
		t.Errorf("NewMessageID(\"\") = %q", id)
	}
}

func TestDomain(t *testing.T) {
	for in, want := range map[string]string{
		"support@Example.com":                    "example.com",
		"Support Team <help@acme.example>":       "acme.example",
		"=?utf-8?q?Caf=C3=A9?= <a@b.example>":    "b.example",
		" x@y.z ":                                "y.z",
		"no-at-sign":                             "",
		"":                                       "",
		"\"weird, name\" <user@sub.example.org>": "sub.example.org",
	} {
		if got := Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
}

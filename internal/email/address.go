package email

// Signed reply addresses. Every mail about a conversation carries
// Reply-To: reply+<id>-<sig>@<domain>, where sig authenticates the
// conversation id with the shared secret (Config.Secret). A reply to that
// address finds its conversation without trusting anything else in the
// mail, and nobody can guess the address of another customer's
// conversation: the id alone is not enough.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

const (
	replyPrefix = "reply+"
	sigLen      = 16 // base32 characters: 80 bits of the HMAC
)

var sigEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ReplyAddress returns the signed reply address of a conversation:
// "reply+<id>-<sig>@<domain>", sig being the first 16 characters of the
// lower-case, unpadded base32 of HMAC-SHA256(secret, "conversation:<id>").
// The domain is lower-cased.
func ReplyAddress(secret []byte, domain string, conversationID int64) string {
	return replyPrefix + strconv.FormatInt(conversationID, 10) + "-" + replySig(secret, conversationID) +
		"@" + strings.ToLower(strings.TrimSpace(domain))
}

func replySig(secret []byte, conversationID int64) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("conversation:" + strconv.FormatInt(conversationID, 10)))
	return strings.ToLower(sigEncoding.EncodeToString(mac.Sum(nil))[:sigLen])
}

// ParseReplyAddress returns the conversation a signed reply address
// belongs to. addr is a bare address, optionally in angle brackets; the
// local part and the domain compare case-insensitively (mail systems may
// change case); the signature is checked in constant time. Anything else —
// another domain, a malformed or non-canonical id, a wrong signature, an
// empty secret — is rejected.
func ParseReplyAddress(secret []byte, domain, addr string) (int64, bool) {
	if len(secret) == 0 {
		return 0, false
	}
	addr = strings.TrimSpace(addr)
	if strings.HasPrefix(addr, "<") && strings.HasSuffix(addr, ">") {
		addr = addr[1 : len(addr)-1]
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return 0, false
	}
	local, dom := strings.ToLower(addr[:at]), addr[at+1:]
	if dom == "" || !strings.EqualFold(dom, strings.TrimSpace(domain)) {
		return 0, false
	}
	rest, ok := strings.CutPrefix(local, replyPrefix)
	if !ok {
		return 0, false
	}
	digits, sig, ok := strings.Cut(rest, "-")
	if !ok || len(sig) != sigLen || len(digits) == 0 || len(digits) > 19 {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != digits {
		return 0, false // leading zeros: one conversation has one address
	}
	if !hmac.Equal([]byte(sig), []byte(replySig(secret, id))) {
		return 0, false
	}
	return id, true
}

// NewMessageID returns a fresh, globally unique Message-ID (without angle
// brackets) in the given domain ("localhost" when it is empty).
func NewMessageID(domain string) string {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" {
		domain = "localhost"
	}
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("email: crypto/rand failed: " + err.Error()) // never happens (Go 1.24+ crypto/rand does not fail)
	}
	return strconv.FormatInt(time.Now().UnixMilli(), 36) + "." +
		strings.ToLower(sigEncoding.EncodeToString(b[:])) + "@" + domain
}

// Domain returns the lower-cased domain of an address, bare
// ("support@example.com") or with a display name
// ("Support <support@example.com>"); "" if it has none.
func Domain(from string) string {
	addr := strings.TrimSpace(from)
	if a, err := mail.ParseAddress(addr); err == nil {
		addr = a.Address
	} else if i, j := strings.LastIndexByte(addr, '<'), strings.LastIndexByte(addr, '>'); i >= 0 && j > i {
		addr = addr[i+1 : j]
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(addr[at+1:]))
}

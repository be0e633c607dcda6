package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// TokenLen is the length of every token NewToken returns: 32 random bytes in
// unpadded base64url.
const TokenLen = 43

// NewToken returns a fresh bearer token and the hash to store for it.
//
// The token carries 256 bits from crypto/rand, encoded with unpadded
// base64url (TokenLen characters, safe in cookies and headers). hash is
// HashToken(token): only the hash is ever stored, so a leaked database does
// not leak usable tokens. Used for staff sessions, CSRF tokens and visitor
// tokens alike.
func NewToken() (token string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24 aborts instead)
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken returns the SHA-256 of token's string form: the key under which
// a session is stored and looked up. A plain (unsalted, fast) hash is right
// here because tokens are 256-bit random values, not guessable secrets.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

package identity

import (
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"switchboard/internal/apperr"
)

// Password length rules. bcrypt only reads the first 72 bytes of a password,
// so longer ones are refused rather than silently truncated.
const (
	MinPasswordRunes = 8
	MaxPasswordBytes = 72
)

// ValidatePassword checks the password rules: at least MinPasswordRunes
// characters (code "password_too_short") and at most MaxPasswordBytes bytes
// (code "password_too_long"), both KindInvalid.
func ValidatePassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordRunes {
		return apperr.Invalid("password_too_short", "password must have at least 8 characters")
	}
	if len(pw) > MaxPasswordBytes {
		return apperr.Invalid("password_too_long", "password must have at most 72 bytes")
	}
	return nil
}

// HashPassword validates pw (see ValidatePassword) and returns its bcrypt
// hash at the given cost (bcrypt.DefaultCost when cost is 0 or below
// bcrypt.MinCost). Validation failures are *apperr.Error; any other error is
// a bug or an out-of-range cost.
func HashPassword(pw string, cost int) (string, error) {
	if err := ValidatePassword(pw); err != nil {
		return "", err
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), cost)
	if err != nil {
		return "", apperr.Internal(err)
	}
	return string(h), nil
}

// CheckPassword reports whether pw matches the bcrypt hash. It is false for a
// malformed hash and for a password over MaxPasswordBytes (bcrypt would
// compare only its first 72 bytes, so "72 bytes + anything" would match).
// Its running time depends on the hash's cost, not on whether pw matches.
func CheckPassword(hash, pw string) bool {
	if len(pw) > MaxPasswordBytes {
		return false
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw)) == nil
}

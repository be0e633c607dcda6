// Package apperr defines the typed errors every layer below the transports
// returns. An Error carries a Kind (what sort of failure: the transports map
// it to an HTTP status or a WebSocket error frame), a stable machine-readable
// Code that clients may switch on, and a Message that is safe to show to the
// caller. Nothing here knows about HTTP: the single mapping from Kind to a
// status lives in internal/httpapi.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error. It decides the HTTP status and whether a client
// should retry; the Code says precisely what went wrong.
type Kind string

const (
	KindInvalid         Kind = "invalid"         // the request itself is wrong
	KindUnauthenticated Kind = "unauthenticated" // no or bad credentials
	KindForbidden       Kind = "forbidden"       // authenticated, but not allowed
	KindNotFound        Kind = "not_found"       // absent, or not visible to the caller
	KindConflict        Kind = "conflict"        // valid, but the current state forbids it
	KindTooLarge        Kind = "too_large"       // a size limit was exceeded
	KindRateLimited     Kind = "rate_limited"    // slow down
	KindUnavailable     Kind = "unavailable"     // temporary: retry later
	KindInternal        Kind = "internal"        // a bug or an unexpected failure
)

// Error is the one error type that crosses package boundaries with meaning.
type Error struct {
	Kind    Kind
	Code    string // stable, snake_case, documented in docs/protocol.md
	Message string // safe to show to the caller
	Err     error  // the cause, for logs only; never shown to clients
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, apperr.NotFound("x", "")) match on Code, so callers
// can compare against a sentinel built the same way.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// New returns an error of the given kind and code.
func New(kind Kind, code, msg string) *Error {
	return &Error{Kind: kind, Code: code, Message: msg}
}

// Wrap returns an error of the given kind and code that keeps cause for logs.
func Wrap(kind Kind, code, msg string, cause error) *Error {
	return &Error{Kind: kind, Code: code, Message: msg, Err: cause}
}

// Constructors for the common cases. The code names the thing, for example
// NotFound("conversation") has code "conversation_not_found".

func Invalid(code, msg string) *Error   { return New(KindInvalid, code, msg) }
func Forbidden(code, msg string) *Error { return New(KindForbidden, code, msg) }
func Conflict(code, msg string) *Error  { return New(KindConflict, code, msg) }
func TooLarge(code, msg string) *Error  { return New(KindTooLarge, code, msg) }

func NotFound(thing string) *Error {
	return New(KindNotFound, thing+"_not_found", thing+" not found")
}

func Unauthenticated(msg string) *Error {
	return New(KindUnauthenticated, "unauthenticated", msg)
}

func Internal(cause error) *Error {
	return Wrap(KindInternal, "internal", "internal error", cause)
}

// As returns err as an *Error. Errors that are not typed become KindInternal,
// so an unexpected failure never leaks its text to a client.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Internal(err)
}

// KindOf returns the kind of err (KindInternal for untyped errors, "" for nil).
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	return As(err).Kind
}

// CodeOf returns the stable code of err ("internal" for untyped errors, ""
// for nil).
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	return As(err).Code
}

// IsNotFound reports whether err is of KindNotFound.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == KindNotFound
}

// IsConflict reports whether err is of KindConflict.
func IsConflict(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == KindConflict
}

package sqlstore

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/apperr"
)

// Encoding of Go values in columns, shared by every dialect:
//   - time.Time: BIGINT unix microseconds; the zero time is NULL (dbTime) or,
//     for NOT NULL sort keys, zeroMicros (dbTimeNotNull). Read back as UTC,
//     and as time.Time{} for NULL or zeroMicros.
//   - optional references (0 = none): NULL.
//   - slices and maps: JSON text; nil is written as an empty list/object and
//     read back as an empty, non-nil value.
//   - structs (model.RoutingSettings, model.EmailSettings): JSON text, '{}'
//     for the zero value.
//   - json.RawMessage kept as given (Site.Hours, Department.Hours): its text,
//     NULL when empty; NULL reads back as nil.

// zeroMicros is time.Time{}.UnixMicro(): the zero time in a NOT NULL column.
var zeroMicros = time.Time{}.UnixMicro()

func dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func dbTimeNotNull(t time.Time) int64 {
	if t.IsZero() {
		return zeroMicros
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == zeroMicros {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// timeCol scans a BIGINT-microseconds column into a time.Time.
type timeCol struct{ dst *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = time.Time{}
	case int64:
		*c.dst = fromMicros(v)
	default:
		return fmt.Errorf("time column: unexpected %T", src)
	}
	return nil
}

func dbID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// idCol scans a nullable reference into an int64 (NULL is 0).
type idCol struct{ dst *int64 }

func (c idCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = 0
	case int64:
		*c.dst = v
	default:
		return fmt.Errorf("id column: unexpected %T", src)
	}
	return nil
}

// nullStr scans a nullable text column (from an outer join) into a string.
type nullStr struct{ dst *string }

func (c nullStr) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = ""
	case string:
		*c.dst = v
	case []byte:
		*c.dst = string(v)
	default:
		return fmt.Errorf("text column: unexpected %T", src)
	}
	return nil
}

func dbStrings(v []string) (string, error) {
	if v == nil {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func dbStringMap(v map[string]string) (string, error) {
	if v == nil {
		return "{}", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// stringsCol scans JSON text into a non-nil []string.
type stringsCol struct{ dst *[]string }

func (c stringsCol) Scan(src any) error {
	raw, err := textOf(src)
	if err != nil {
		return err
	}
	var v []string
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return fmt.Errorf("json list column: %w", err)
		}
	}
	if v == nil {
		v = []string{}
	}
	*c.dst = v
	return nil
}

// stringMapCol scans JSON text into a non-nil map[string]string.
type stringMapCol struct{ dst *map[string]string }

func (c stringMapCol) Scan(src any) error {
	raw, err := textOf(src)
	if err != nil {
		return err
	}
	var v map[string]string
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return fmt.Errorf("json object column: %w", err)
		}
	}
	if v == nil {
		v = map[string]string{}
	}
	*c.dst = v
	return nil
}

func textOf(src any) (string, error) {
	switch v := src.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("text column: unexpected %T", src)
}

// Conversation cursors are opaque to clients: base64url of
// "<updated_at micros>:<id>" of the last conversation of the page.

func encodeCursor(updatedAt time.Time, id int64) string {
	raw := strconv.FormatInt(dbTimeNotNull(updatedAt), 10) + ":" + strconv.FormatInt(id, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (micros, id int64, err error) {
	bad := apperr.Invalid("invalid_cursor", "invalid pagination cursor")
	raw, derr := base64.RawURLEncoding.DecodeString(s)
	if derr != nil {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(string(raw), ":")
	if !ok {
		return 0, 0, bad
	}
	micros, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || id <= 0 {
		return 0, 0, bad
	}
	return micros, id, nil
}

// preview is the first 140 runes of a message body.
func preview(body string) string {
	n := 0
	for i := range body {
		if n == 140 {
			return body[:i]
		}
		n++
	}
	return body
}

// dbJSON encodes v (a struct) as JSON text.
func dbJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// jsonCol scans JSON text into a T; an empty text or NULL is T's zero value.
type jsonCol[T any] struct{ dst *T }

func (c jsonCol[T]) Scan(src any) error {
	raw, err := textOf(src)
	if err != nil {
		return err
	}
	var v T
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return fmt.Errorf("json column: %w", err)
		}
	}
	*c.dst = v
	return nil
}

// dbRawJSON stores a raw JSON value exactly as given; empty is NULL.
func dbRawJSON(v json.RawMessage) any {
	if len(v) == 0 {
		return nil
	}
	return string(v)
}

// rawJSONCol scans a text column into a json.RawMessage, byte for byte;
// NULL (or an empty text) is nil.
type rawJSONCol struct{ dst *json.RawMessage }

func (c rawJSONCol) Scan(src any) error {
	raw, err := textOf(src)
	if err != nil {
		return err
	}
	if raw == "" {
		*c.dst = nil
		return nil
	}
	*c.dst = json.RawMessage(raw)
	return nil
}

// maxSearchQuery bounds ConversationFilter.Query, in bytes (callers validate
// a shorter limit; this only keeps a pattern within what LIKE accepts).
const maxSearchQuery = 1000

// likeContains returns the LIKE pattern, with \ as its escape character,
// that matches the texts containing q: %, _ and \ in q match themselves.
// q goes through validText (a NUL or an invalid byte then matches nothing
// in PostgreSQL, nor in SQLite).
func likeContains(q string) (string, error) {
	if len(q) > maxSearchQuery {
		return "", apperr.Invalid("query_too_long", "the search query is too long")
	}
	q = validText(q)
	var b strings.Builder
	b.Grow(len(q) + 8)
	b.WriteByte('%')
	for _, r := range q {
		if r == '\\' || r == '%' || r == '_' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('%')
	return b.String(), nil
}

// validText makes s storable as PostgreSQL text, which holds neither NUL
// nor invalid UTF-8: both become U+FFFD, alike in every dialect. Text from
// outside (mail headers, SMTP replies) goes through it, so that a stray
// byte cannot fail a statement (and, in PostgreSQL, the caller's savepoint).
func validText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// cleanText is validText cut to at most max bytes on a rune boundary.
func cleanText(s string, max int) string {
	s = validText(s)
	if len(s) <= max {
		return s
	}
	cut := 0 // the last rune boundary at or before max
	for i := range s {
		if i > max {
			break
		}
		cut = i
	}
	return s[:cut]
}

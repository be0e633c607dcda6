package loadtest

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// The hot path reads and writes frames without encoding/json: a frame the
// server writes is scanned once for the few top-level fields the tool uses
// (scanFrame), a message's body is found in its data the same way
// (jsonString), and send commands are appended byte by byte (appendSend).
// Anything the scanner does not expect falls back to encoding/json.

// scanFrame fills f from a server frame's top-level fields. False when the
// frame is not what the scanner expects (then decodeFrameSlow decides).
func scanFrame(b []byte, f *inFrame) bool {
	*f = inFrame{}
	good := true
	ok := walkObject(b, func(key, val []byte) bool {
		switch string(key) {
		case "type":
			f.Type, good = plainString(val)
		case "id":
			f.ID, good = plainString(val)
		case "conversation_id":
			f.ConversationID, good = parseInt(val)
		case "seq":
			f.Seq, good = parseInt(val)
		case "data":
			f.Data = val
		case "error":
			f.Error = val
		}
		return good // stop at the first field the scanner cannot take
	})
	return ok && good && f.Type != nil
}

// decodeFrameSlow is scanFrame with encoding/json, for frames the scanner
// refused (escaped strings, say). False when b is no frame at all.
func decodeFrameSlow(b []byte, f *inFrame) bool {
	var v struct {
		Type           string          `json:"type"`
		ID             string          `json:"id"`
		ConversationID int64           `json:"conversation_id"`
		Seq            int64           `json:"seq"`
		Data           json.RawMessage `json:"data"`
		Error          json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &v) != nil {
		return false
	}
	*f = inFrame{Type: []byte(v.Type), ID: []byte(v.ID), ConversationID: v.ConversationID, Seq: v.Seq, Data: v.Data, Error: v.Error}
	return true
}

// jsonString returns the string value of key in the JSON object obj
// (decoded if it holds escapes); ok is false when obj is no object or the
// key is missing or not a string.
func jsonString(obj []byte, key string) (val []byte, ok bool) {
	var raw []byte
	walkObject(obj, func(k, v []byte) bool {
		if string(k) == key {
			raw = v
			return false
		}
		return true
	})
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	if s, plain := plainString(raw); plain {
		return s, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

// walkObject calls fn with each top-level key (without quotes; keys with
// escapes make it fail) and raw value of the JSON object b, until fn
// returns false. It reports whether b was an object it could walk (true also
// when fn stopped it).
func walkObject(b []byte, fn func(key, val []byte) bool) bool {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		if b[i] != '"' {
			return false
		}
		end := bytes.IndexByte(b[i+1:], '"')
		if end < 0 {
			return false
		}
		key := b[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		i = skipWS(b, i+end+2)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipWS(b, i+1)
		j := skipValue(b, i)
		if j < 0 {
			return false
		}
		if !fn(key, b[i:j]) {
			return true
		}
		i = skipWS(b, j)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
	return false
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value starting at i, or
// -1. Literals and numbers are not validated, only delimited.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				if i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return -1
				}
				return j
			}
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	i++
	for {
		k := bytes.IndexByte(b[i:], '"')
		if k < 0 {
			return -1
		}
		end := i + k
		if bytes.IndexByte(b[i:end], '\\') < 0 {
			return end + 1
		}
		// A backslash before the quote: walk the escapes.
		for i < end {
			if b[i] == '\\' {
				i += 2
			} else {
				i++
			}
		}
		if i == end {
			return end + 1 // the quote was not escaped
		}
		i = end + 1 // it was: look for the next one
	}
}

// plainString returns the contents of a JSON string without escapes.
func plainString(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false
	}
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') >= 0 {
		return nil, false
	}
	return s, true
}

// parseInt parses a JSON integer (null counts as 0).
func parseInt(v []byte) (int64, bool) {
	if string(v) == "null" {
		return 0, true
	}
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		n = -n
	}
	return n, true
}

// atoi parses a small non-negative decimal number; false for anything else.
func atoi(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// appendSend appends the send command of message n of visitor vis's chat:
// from the visitor (dir 'v', id s<n>) or from its agent (dir 'a', id
// r<vis>-<n>). Every byte written is plain ASCII without quotes or
// backslashes, so nothing needs escaping.
func (e *engine) appendSend(b []byte, dir byte, vis, n int, ts, conv int64) []byte {
	b = append(b, `{"id":"`...)
	if dir == 'a' {
		b = append(b, 'r')
		b = strconv.AppendInt(b, int64(vis), 10)
		b = append(b, '-')
	} else {
		b = append(b, 's')
	}
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `","type":"send","data":{"conversation_id":`...)
	b = strconv.AppendInt(b, conv, 10)
	b = append(b, `,"client_id":"sb`...)
	b = append(b, e.run...)
	b = append(b, '-', dir)
	b = strconv.AppendInt(b, int64(vis), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, `","body":"`...)
	b = e.appendBody(b, dir, vis, n, ts)
	return append(b, `"}}`...)
}

// appendBody appends a message body: prefix, direction, visitor, number,
// send time, then padding up to the configured size.
func (e *engine) appendBody(b []byte, dir byte, vis, n int, ts int64) []byte {
	start := len(b)
	b = append(b, e.prefix...)
	b = append(b, dir, '|')
	b = strconv.AppendInt(b, int64(vis), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '|')
	if pad := e.cfg.Size - (len(b) - start); pad > 0 {
		b = append(b, e.pad[:pad]...)
	}
	return b
}

// body is appendBody as a string.
func (e *engine) body(dir byte, vis, n int, ts int64) string {
	return string(e.appendBody(make([]byte, 0, max(e.cfg.Size, 64)), dir, vis, n, ts))
}

// parseBody undoes appendBody; ok is false for anything this run did not
// write.
func (e *engine) parseBody(body []byte) (dir byte, vis, n int, ts int64, ok bool) {
	if !bytes.HasPrefix(body, e.prefixB) {
		return 0, 0, 0, 0, false
	}
	rest := body[len(e.prefixB):]
	if len(rest) < 2 || rest[1] != '|' {
		return 0, 0, 0, 0, false
	}
	dir = rest[0]
	rest = rest[2:]
	field := func() ([]byte, bool) {
		i := bytes.IndexByte(rest, '|')
		if i < 0 {
			return nil, false
		}
		f := rest[:i]
		rest = rest[i+1:]
		return f, true
	}
	f1, ok1 := field()
	f2, ok2 := field()
	f3, ok3 := field()
	if !ok1 || !ok2 || !ok3 {
		return 0, 0, 0, 0, false
	}
	vis, ok1 = atoi(f1)
	n, ok2 = atoi(f2)
	t, ok3 := parseInt(f3)
	if !ok1 || !ok2 || !ok3 || string(f3) == "null" || vis >= len(e.visitors) || n <= 0 {
		return 0, 0, 0, 0, false
	}
	return dir, vis, n, t, true
}

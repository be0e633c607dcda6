package protocol

import (
	"strconv"
	"unicode/utf8"
)

// The hot path's frames without reflection: a visitor's message is a send
// frame in and an ack and an event out, for every message the server
// carries. DecodeSend reads the common form of a send (or note) frame in one
// pass and leaves every other form to DecodeClientFrame and DecodeData;
// AckRaw and EventRaw wrap data that is already JSON in the envelopes Ack
// and Event write. What comes out is byte for byte what the reflective
// functions would give (fast_test.go checks both against them).

// DecodeSend decodes a send or note frame — the envelope and its SendData —
// in one pass. ok is false when b is not one, or is one written in a form
// this decoder leaves to DecodeClientFrame and DecodeData, which then decide
// (and fail with their error where the frame is wrong): invalid UTF-8, keys
// other than the known ones (or in another case, or repeated), mentions, a
// value of another type or null, \u escapes of surrogates, numbers with a
// fraction, an exponent, or more than 18 digits, a missing or too long id.
// When ok, f.ID and f.Type are what DecodeClientFrame returns (f.Data is not
// set) and d is what DecodeData fills.
func DecodeSend(b []byte) (f ClientFrame, d SendData, ok bool) {
	if !utf8.Valid(b) {
		return f, d, false
	}
	p := scanner{b: b}
	var seen uint8 // keys read: 1 id, 2 type, 4 data
	if !p.byte('{') {
		return f, d, false
	}
	for {
		key, ok := p.key()
		if !ok || !p.byte(':') {
			return f, d, false
		}
		var bit uint8
		switch string(key) {
		case "id":
			bit = 1
			f.ID, ok = p.str()
		case "type":
			bit = 2
			f.Type, ok = p.str()
		case "data":
			bit = 4
			d, ok = p.sendData()
		default:
			return f, d, false
		}
		if !ok || seen&bit != 0 {
			return f, d, false
		}
		seen |= bit
		if p.byte(',') {
			continue
		}
		if !p.byte('}') {
			return f, d, false
		}
		break
	}
	p.space()
	if p.i != len(p.b) || seen&4 == 0 || f.ID == "" || len(f.ID) > MaxIDLen || (f.Type != CmdSend && f.Type != CmdNote) {
		return ClientFrame{}, SendData{}, false
	}
	return f, d, true
}

// sendData reads a SendData object without mentions.
func (p *scanner) sendData() (d SendData, ok bool) {
	if !p.byte('{') {
		return d, false
	}
	if p.byte('}') {
		return d, true
	}
	var seen uint8
	for {
		key, ok := p.key()
		if !ok || !p.byte(':') {
			return d, false
		}
		var bit uint8
		switch string(key) {
		case "conversation_id":
			bit = 1
			d.ConversationID, ok = p.int()
		case "client_id":
			bit = 2
			d.ClientID, ok = p.str()
		case "body":
			bit = 4
			d.Body, ok = p.str()
		case "attachment_id":
			bit = 8
			d.AttachmentID, ok = p.int()
		default:
			return d, false
		}
		if !ok || seen&bit != 0 {
			return d, false
		}
		seen |= bit
		if p.byte(',') {
			continue
		}
		return d, p.byte('}')
	}
}

// scanner reads the JSON subset of DecodeSend; every method skips the
// white space before what it reads.
type scanner struct {
	b []byte
	i int
}

func (p *scanner) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// byte reads c.
func (p *scanner) byte(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// key reads a string without escapes, returning its bytes.
func (p *scanner) key() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// str reads a string (the input is valid UTF-8), decoding the escapes
// encoding/json decodes alike: all but \u of a surrogate half, which it
// pairs or replaces.
func (p *scanner) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	for p.i < len(p.b) { // the common case: no escape
		c := p.b[p.i]
		if c == '"' {
			p.i++
			return string(p.b[start : p.i-1]), true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		p.i++
	}
	out := append(make([]byte, 0, p.i-start+16), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		switch e := p.b[p.i+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if p.i+6 > len(p.b) {
				return "", false
			}
			var r rune
			for _, h := range p.b[p.i+2 : p.i+6] {
				switch {
				case '0' <= h && h <= '9':
					h -= '0'
				case 'a' <= h && h <= 'f':
					h -= 'a' - 10
				case 'A' <= h && h <= 'F':
					h -= 'A' - 10
				default:
					return "", false
				}
				r = r<<4 | rune(h)
			}
			if r >= 0xD800 && r <= 0xDFFF {
				return "", false
			}
			out = utf8.AppendRune(out, r)
			p.i += 6
			continue
		default:
			return "", false
		}
		p.i += 2
	}
	return "", false
}

// int reads an integer: no fraction or exponent, at most 18 digits (so it
// fits an int64), no leading zero.
func (p *scanner) int() (int64, bool) {
	p.space()
	neg := p.i < len(p.b) && p.b[p.i] == '-'
	if neg {
		p.i++
	}
	start := p.i
	var n int64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + int64(p.b[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	if digits == 0 || digits > 18 || (digits > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		if c := p.b[p.i]; c == '.' || c == 'e' || c == 'E' {
			return 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// AckRaw is Ack(id, v) for data = json.Marshal(v) (compact JSON, as
// encoding/json writes it), without encoding v again; empty data is a nil v.
func AckRaw(id string, data []byte) []byte {
	b := make([]byte, 0, len(id)+len(data)+40)
	if len(data) == 0 {
		b = append(b, `{"type":"ack","id":`...)
		return append(AppendString(b, id), '}')
	}
	return append(append(AppendAckHead(b, id), data...), '}')
}

// AppendAckHead appends the start of Ack(id, v) for a non-nil v: what
// follows is v's JSON and a closing '}'.
func AppendAckHead(dst []byte, id string) []byte {
	dst = append(dst, `{"type":"ack","id":`...)
	dst = AppendString(dst, id)
	return append(dst, `,"data":`...)
}

// EventRaw is Event(typ, conversationID, seq, v) for data = json.Marshal(v).
func EventRaw(typ string, conversationID, seq int64, data []byte) []byte {
	b := make([]byte, 0, len(typ)+len(data)+80)
	if len(data) == 0 {
		b = appendEventType(b, typ, conversationID, seq)
		return append(b, '}')
	}
	return append(append(AppendEventHead(b, typ, conversationID, seq), data...), '}')
}

// AppendEventHead appends the start of Event(typ, conversationID, seq, v)
// for a non-nil v: what follows is v's JSON and a closing '}'.
func AppendEventHead(dst []byte, typ string, conversationID, seq int64) []byte {
	return append(appendEventType(dst, typ, conversationID, seq), `,"data":`...)
}

func appendEventType(b []byte, typ string, conversationID, seq int64) []byte {
	b = append(b, `{"type":`...)
	b = AppendString(b, typ)
	if conversationID != 0 {
		b = append(b, `,"conversation_id":`...)
		b = strconv.AppendInt(b, conversationID, 10)
	}
	if seq != 0 {
		b = append(b, `,"seq":`...)
		b = strconv.AppendInt(b, seq, 10)
	}
	return b
}

// AppendString appends s as a JSON string exactly as encoding/json's
// Marshal writes it: HTML-safe (<, > and & escaped), U+2028 and U+2029
// escaped, invalid UTF-8 replaced by U+FFFD.
func AppendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Package protocol defines the JSON frames of the real-time protocol
// (docs/protocol.md is the reference for clients). It is a leaf package: the
// chat service encodes server events with it once per event, the gateway
// decodes client commands with it and writes the encoded bytes to every
// socket that should receive them.
package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"unicode/utf8"

	"switchboard/internal/apperr"
)

// MaxFrameBytes is the largest client frame accepted. A larger frame closes
// the socket with CloseTooBig (the WebSocket layer enforces it while reading).
const MaxFrameBytes = 64 << 10

// Client command types.
const (
	CmdAuth        = "auth"         // visitor: first frame, carries the token
	CmdPing        = "ping"         // any: application-level liveness check
	CmdSubscribe   = "subscribe"    // follow a conversation from a cursor (resume)
	CmdUnsubscribe = "unsubscribe"  // stop following a conversation (staff)
	CmdSend        = "send"         // append a text/attachment message
	CmdNote        = "note"         // staff: append an internal note
	CmdTyping      = "typing"       // ephemeral typing indicator
	CmdRead        = "read"         // move my read mark
	CmdPresence    = "presence"     // visitor: page, title, visibility
	CmdRequestChat = "request_chat" // visitor: ask for a human
	CmdHandoff     = "handoff"      // visitor: from the assistant to a human (hybrid mode)
	CmdEndChat     = "end_chat"     // end the live chat
	CmdJoin        = "join"         // staff: join a chat
	CmdLeave       = "leave"        // staff: leave a chat
	CmdAvailable   = "availability" // staff: set my availability
	CmdDecline     = "decline"      // staff: refuse the chat offered to me
	CmdTransfer    = "transfer"     // staff: hand my chat to an agent or a department
	CmdInvite      = "invite"       // staff: ask a colleague into my chat
	CmdAssign      = "assign"       // supervisor/admin: give a chat to an agent
)

// Server frame types besides the event types of package bus.
const (
	TypeAck   = "ack"
	TypeError = "error"
)

// Close codes (RFC 6455 private range 4000-4999 plus standard ones). After
// 1012, 4004 and 4008 a client reconnects with backoff and resumes from its
// cursors. After 4001 it reconnects only with a valid token (an auth timeout
// needs no new one), after 4009 its access changed: it reconnects with the
// session it has and signs in again if that is refused. 4003 is a site
// configuration problem: retrying will not help.
const (
	CloseNormal           = 1000
	CloseInvalidData      = 1007 // reserved: this server answers invalid UTF-8 with an error frame instead
	CloseTooBig           = 1009 // a frame over MaxFrameBytes
	CloseServiceRestart   = 1012 // the node is shutting down: reconnect (to another node) and resume
	CloseUnauthenticated  = 4001 // no valid auth frame in time, or bad credentials
	CloseForbidden        = 4003 // origin not allowed for the site
	CloseHeartbeatTimeout = 4004 // idle: no frame from the client within the idle timeout (send ping)
	CloseSlowConsumer     = 4008 // the send queue overflowed: reconnect and resume from the cursor
	CloseRevoked          = 4009 // the user was disabled, signed out, or their role or sites changed
)

// ClientFrame is the envelope of every client command. Data is decoded by
// the handler of Type into the matching *Data struct below.
type ClientFrame struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// MaxIDLen bounds command ids and client message ids.
const MaxIDLen = 64

// DecodeClientFrame parses one client frame. It never panics; every failure
// is an *apperr.Error with a stable code: invalid_utf8, invalid_json,
// missing_id, id_too_long, missing_type. The frame id is returned whenever it
// could be read, so the error can be correlated.
func DecodeClientFrame(b []byte) (ClientFrame, error) {
	var f ClientFrame
	if !utf8.Valid(b) {
		return f, apperr.Invalid("invalid_utf8", "frame is not valid UTF-8")
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return ClientFrame{}, apperr.Invalid("invalid_json", "frame is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&f); err != nil {
		return ClientFrame{}, apperr.Invalid("invalid_json", "frame is not a JSON object: "+shortJSONError(err))
	}
	if !AtEOF(dec) {
		return ClientFrame{}, apperr.Invalid("invalid_json", "trailing data after the JSON object")
	}
	if len(f.ID) > MaxIDLen {
		return ClientFrame{}, apperr.Invalid("id_too_long", "id is longer than 64 bytes")
	}
	if f.ID == "" {
		return f, apperr.Invalid("missing_id", "every command needs an id")
	}
	if f.Type == "" {
		return f, apperr.Invalid("missing_type", "every command needs a type")
	}
	return f, nil
}

// AtEOF reports whether dec has nothing left but white space. (dec.More is
// not enough: it reports false before a stray '}' or ']'.)
func AtEOF(dec *json.Decoder) bool {
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}

// DecodeData decodes a command's data into v, rejecting unknown fields so
// typos surface as errors instead of silently ignored input.
func DecodeData(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apperr.Invalid("invalid_data", "invalid data: "+shortJSONError(err))
	}
	if !AtEOF(dec) {
		return apperr.Invalid("invalid_data", "trailing data after the data object")
	}
	return nil
}

func shortJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error"
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return "wrong type for field " + te.Field
		}
		return "wrong type"
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

// Command data.

type AuthData struct {
	Token string `json:"token"`
}

type SubscribeData struct {
	ConversationID int64  `json:"conversation_id"`
	AfterSeq       int64  `json:"after_seq"` // last seq the client has; 0 for everything
	Epoch          string `json:"epoch"`     // the epoch the cursor belongs to; "" on first load
}

type ConversationData struct {
	ConversationID int64 `json:"conversation_id"`
}

type SendData struct {
	ConversationID int64   `json:"conversation_id"`
	ClientID       string  `json:"client_id"`
	Body           string  `json:"body"`
	AttachmentID   int64   `json:"attachment_id,omitempty"`
	Mentions       []int64 `json:"mentions,omitempty"` // note: colleagues to notify
}

type TypingData struct {
	ConversationID int64 `json:"conversation_id"`
	Typing         bool  `json:"typing"`
}

type ReadData struct {
	ConversationID int64 `json:"conversation_id"`
	Seq            int64 `json:"seq"`
}

type PresenceData struct {
	URL       string `json:"url"`
	Title     string `json:"title"`
	Visible   bool   `json:"visible"`
	Minimized bool   `json:"minimized"`
	// TimeZone (IANA name) and Locale (BCP 47 tag) are the browser's,
	// for the console's visit history; "" is unknown.
	TimeZone string `json:"timezone,omitempty"`
	Locale   string `json:"locale,omitempty"`
}

type RequestChatData struct {
	Name         string `json:"name,omitempty"`
	Email        string `json:"email,omitempty"`
	Body         string `json:"body,omitempty"` // the first question
	ClientID     string `json:"client_id,omitempty"`
	DepartmentID int64  `json:"department_id,omitempty"` // the pre-chat choice
}

// HandoffData is the data of handoff: the chat with the assistant to hand
// to a human, and optionally the department (0: the one chosen with the chat).
type HandoffData struct {
	ConversationID int64 `json:"conversation_id"`
	DepartmentID   int64 `json:"department_id,omitempty"`
}

// HandOverData is the data of transfer, invite and assign: exactly one
// target (invite and assign take a user only).
type HandOverData struct {
	ConversationID int64 `json:"conversation_id"`
	UserID         int64 `json:"user_id,omitempty"`
	DepartmentID   int64 `json:"department_id,omitempty"`
}

type AvailabilityData struct {
	Availability string `json:"availability"`
}

// ErrorBody is the error object of an error frame (and of REST problems).
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type ackFrame struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Data any    `json:"data,omitempty"`
}

type errorFrame struct {
	Type  string    `json:"type"`
	ID    string    `json:"id,omitempty"`
	Error ErrorBody `json:"error"`
}

type eventFrame struct {
	Type           string `json:"type"`
	ConversationID int64  `json:"conversation_id,omitempty"`
	Seq            int64  `json:"seq,omitempty"`
	Data           any    `json:"data,omitempty"`
}

// Ack encodes the single successful reply to command id.
func Ack(id string, data any) []byte { return mustJSON(ackFrame{Type: TypeAck, ID: id, Data: data}) }

// Error encodes the single failed reply to command id (id may be empty when
// the frame could not be parsed far enough to read it).
func Error(id string, err error) []byte {
	e := apperr.As(err)
	return mustJSON(errorFrame{Type: TypeError, ID: id, Error: ErrorBody{Code: e.Code, Message: e.Message}})
}

// Event encodes a server event.
func Event(typ string, conversationID, seq int64, data any) []byte {
	return mustJSON(eventFrame{Type: typ, ConversationID: conversationID, Seq: seq, Data: data})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are encoded here; failing means a programming error.
		b, _ = json.Marshal(errorFrame{Type: TypeError, Error: ErrorBody{Code: "internal", Message: "encoding failed"}})
	}
	return b
}

package chat

import (
	"strconv"

	"switchboard/internal/bus"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
)

// Every message is encoded twice on its way, as the sender's ack and as the
// event the others receive, and the event is encoded on the store's writer
// goroutine (in a commit callback), the one that cannot use two cores. So a
// message is written without reflection, byte for byte as encoding/json
// writes model.Message (wire_test.go checks both, and fails when the struct
// gains a field this does not write).

// MessageAck is protocol.Ack(id, m).
func MessageAck(id string, m model.Message) []byte {
	b := protocol.AppendAckHead(make([]byte, 0, 320+len(id)+len(m.Body)), id)
	if b, ok := appendMessage(b, &m); ok {
		return append(b, '}')
	}
	return protocol.Ack(id, m)
}

// MessageEvent is the message event of m: protocol.Event(bus.TypeMessage,
// m.ConversationID, m.Seq, m).
func MessageEvent(m model.Message) []byte {
	b := protocol.AppendEventHead(make([]byte, 0, 320+len(m.Body)), bus.TypeMessage, m.ConversationID, m.Seq)
	if b, ok := appendMessage(b, &m); ok {
		return append(b, '}')
	}
	return protocol.Event(bus.TypeMessage, m.ConversationID, m.Seq, m)
}

// appendMessage appends m as encoding/json marshals it; false when a time
// cannot be written (encoding/json fails on it too: outside years 0-9999).
func appendMessage(b []byte, m *model.Message) ([]byte, bool) {
	b = append(b, `{"id":`...)
	b = strconv.AppendInt(b, m.ID, 10)
	b = append(b, `,"conversation_id":`...)
	b = strconv.AppendInt(b, m.ConversationID, 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, m.Seq, 10)
	if m.ChatID != 0 {
		b = append(b, `,"chat_id":`...)
		b = strconv.AppendInt(b, m.ChatID, 10)
	}
	b = append(b, `,"author_kind":`...)
	b = protocol.AppendString(b, string(m.AuthorKind))
	if m.AuthorID != 0 {
		b = append(b, `,"author_id":`...)
		b = strconv.AppendInt(b, m.AuthorID, 10)
	}
	if m.AuthorName != "" {
		b = append(b, `,"author_name":`...)
		b = protocol.AppendString(b, m.AuthorName)
	}
	if m.ClientID != "" {
		b = append(b, `,"client_id":`...)
		b = protocol.AppendString(b, m.ClientID)
	}
	b = append(b, `,"kind":`...)
	b = protocol.AppendString(b, string(m.Kind))
	b = append(b, `,"visibility":`...)
	b = protocol.AppendString(b, string(m.Visibility))
	b = append(b, `,"body":`...)
	b = protocol.AppendString(b, m.Body)
	if m.Event != "" {
		b = append(b, `,"event":`...)
		b = protocol.AppendString(b, m.Event)
	}
	if m.AttachmentID != 0 {
		b = append(b, `,"attachment_id":`...)
		b = strconv.AppendInt(b, m.AttachmentID, 10)
	}
	if a := m.Attachment; a != nil {
		b = append(b, `,"attachment":{"id":`...)
		b = strconv.AppendInt(b, a.ID, 10)
		b = append(b, `,"conversation_id":`...)
		b = strconv.AppendInt(b, a.ConversationID, 10)
		b = append(b, `,"uploader_kind":`...)
		b = protocol.AppendString(b, string(a.UploaderKind))
		b = append(b, `,"uploader_id":`...)
		b = strconv.AppendInt(b, a.UploaderID, 10)
		b = append(b, `,"name":`...)
		b = protocol.AppendString(b, a.Name)
		b = append(b, `,"content_type":`...)
		b = protocol.AppendString(b, a.ContentType)
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, a.Size, 10)
		b = append(b, `,"created_at":"`...)
		var err error
		if b, err = a.CreatedAt.AppendText(b); err != nil { // as Time.MarshalJSON, unquoted
			return nil, false
		}
		b = append(b, `"}`...)
	}
	if m.RawAttachmentID != 0 {
		b = append(b, `,"raw_attachment_id":`...)
		b = strconv.AppendInt(b, m.RawAttachmentID, 10)
	}
	b = append(b, `,"created_at":"`...)
	b, err := m.CreatedAt.AppendText(b)
	if err != nil {
		return nil, false
	}
	return append(b, `"}`...), true
}

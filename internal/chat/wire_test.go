package chat_test

import (
	"bytes"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/internal/bus"
	"switchboard/internal/chat"
	"switchboard/internal/model"
	"switchboard/internal/protocol"
)

// The hand-written encoding of a message (chat/wire.go) writes every field
// of model.Message and model.Attachment: a field added to either must be
// added there too, then here.
func TestWireKnowsEveryMessageField(t *testing.T) {
	for _, c := range []struct {
		v    any
		tags []string
	}{
		{model.Message{}, []string{"id", "conversation_id", "seq", "chat_id,omitempty", "author_kind", "author_id,omitempty",
			"author_name,omitempty", "client_id,omitempty", "kind", "visibility", "body", "event,omitempty",
			"attachment_id,omitempty", "attachment,omitempty", "raw_attachment_id,omitempty", "created_at"}},
		{model.Attachment{}, []string{"id", "conversation_id", "uploader_kind", "uploader_id", "name", "content_type",
			"size", "-", "created_at"}},
	} {
		typ := reflect.TypeOf(c.v)
		var tags []string
		for i := range typ.NumField() {
			tags = append(tags, typ.Field(i).Tag.Get("json"))
		}
		if !reflect.DeepEqual(tags, c.tags) {
			t.Errorf("%s has the JSON fields %q; chat/wire.go writes %q", typ, tags, c.tags)
		}
	}
}

func TestWireMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	texts := []string{"", "hello", "Order 1234", `a "quote" \ and <b>&</b>`, "line\nbreak\ttab", "é☃😀", "\u2028\u2029",
		"\xff\xfe bad utf-8", "\x00\x01\x1f", strings.Repeat("long ", 300)}
	text := func() string { return texts[r.Intn(len(texts))] }
	id := func() int64 { return []int64{0, 1, 42, -7, 1 << 40}[r.Intn(5)] }
	when := func() time.Time {
		return []time.Time{{}, time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC),
			time.Date(2026, 11, 21, 12, 0, 0, 123456000, time.UTC), time.UnixMicro(1763726400123456).UTC(),
			time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 5*3600+1800))}[r.Intn(5)]
	}
	check := func(m model.Message) {
		t.Helper()
		if got, want := chat.MessageEvent(m), protocol.Event(bus.TypeMessage, m.ConversationID, m.Seq, m); !bytes.Equal(got, want) {
			t.Fatalf("MessageEvent:\n%s\nprotocol.Event:\n%s", got, want)
		}
		for _, cmd := range []string{"7", "a<b>\"c"} {
			if got, want := chat.MessageAck(cmd, m), protocol.Ack(cmd, m); !bytes.Equal(got, want) {
				t.Fatalf("MessageAck:\n%s\nprotocol.Ack:\n%s", got, want)
			}
		}
	}
	for range 5000 {
		m := model.Message{ID: id(), ConversationID: id(), Seq: id(), ChatID: id(), AuthorKind: model.Party(text()),
			AuthorID: id(), AuthorName: text(), ClientID: text(), Kind: model.MessageKind(text()),
			Visibility: model.Visibility(text()), Body: text(), Event: text(), AttachmentID: id(),
			RawAttachmentID: id(), CreatedAt: when()}
		if r.Intn(3) == 0 {
			m.Attachment = &model.Attachment{ID: id(), ConversationID: id(), UploaderKind: model.Party(text()),
				UploaderID: id(), Name: text(), ContentType: text(), Size: id(), BlobKey: text(), CreatedAt: when()}
		}
		check(m)
	}
	// Times encoding/json refuses: the frames fall back to it, error frame and all.
	check(model.Message{ID: 1, CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	check(model.Message{ID: 1, Attachment: &model.Attachment{CreatedAt: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}})
}

func BenchmarkMessageEvent(b *testing.B) {
	m := model.Message{ID: 123456, ConversationID: 42, Seq: 1017, ChatID: 99, AuthorKind: model.PartyVisitor, AuthorID: 4242,
		AuthorName: "Visitor", ClientID: "sbx-v3-17", Kind: model.KindText, Visibility: model.Public,
		Body: "0123456789012345678901234567890123456789012345678901234567890123", CreatedAt: time.Now().UTC()}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			chat.MessageEvent(m)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			protocol.Event(bus.TypeMessage, m.ConversationID, m.Seq, m)
		}
	})
}

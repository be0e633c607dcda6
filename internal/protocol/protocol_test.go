package protocol

import (
	"encoding/json"
	"strings"
	"testing"

	"switchboard/internal/apperr"
)

func TestDecodeClientFrame(t *testing.T) {
	cases := []struct {
		name, in, code string
	}{
		{"ok", `{"id":"1","type":"ping"}`, ""},
		{"ok with data", `{"id":"1","type":"send","data":{"body":"hi"}}`, ""},
		{"not json", `hello`, "invalid_json"},
		{"array", `[1,2]`, "invalid_json"},
		{"trailing", `{"id":"1","type":"ping"} x`, "invalid_json"},
		{"two objects", `{"id":"1","type":"ping"}{"id":"2","type":"ping"}`, "invalid_json"},
		{"wrong id type", `{"id":1,"type":"ping"}`, "invalid_json"},
		{"missing id", `{"type":"ping"}`, "missing_id"},
		{"long id", `{"id":"` + strings.Repeat("x", 65) + `","type":"ping"}`, "id_too_long"},
		{"missing type", `{"id":"1"}`, "missing_type"},
		{"invalid utf8", "{\"id\":\"1\",\"type\":\"\xff\"}", "invalid_utf8"},
		{"empty", ``, "invalid_json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeClientFrame([]byte(c.in))
			if c.code == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if got := apperr.CodeOf(err); got != c.code {
				t.Fatalf("code %q, want %q (err %v)", got, c.code, err)
			}
		})
	}
}

func TestDecodeDataRejectsUnknownFields(t *testing.T) {
	var d SendData
	if err := DecodeData(json.RawMessage(`{"conversation_id":1,"bogus":true}`), &d); apperr.CodeOf(err) != "invalid_data" {
		t.Fatalf("err %v", err)
	}
	if err := DecodeData(nil, &d); err != nil {
		t.Fatalf("empty data: %v", err)
	}
	if err := DecodeData(json.RawMessage(`{"conversation_id":"x"}`), &d); apperr.CodeOf(err) != "invalid_data" {
		t.Fatalf("wrong type: %v", err)
	}
}

func TestErrorFrameHidesInternalCauses(t *testing.T) {
	b := Error("7", apperr.Internal(errBoom{}))
	if strings.Contains(string(b), "boom") {
		t.Fatalf("internal cause leaked: %s", b)
	}
	var f struct {
		Type  string
		ID    string
		Error ErrorBody
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Type != "error" || f.ID != "7" || f.Error.Code != "internal" {
		t.Fatalf("frame %s", b)
	}
}

type errBoom struct{}

func (errBoom) Error() string { return "boom: secret detail" }

// FuzzDecodeClientFrame: whatever bytes arrive, decoding never panics, and
// either yields a frame with an id and a type or a typed error; decoding the
// data of any command type never panics either.
func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"id":"1","type":"auth","data":{"token":"abc"}}`,
		`{"id":"2","type":"send","data":{"conversation_id":5,"client_id":"x","body":"hi"}}`,
		`{"id":"3","type":"subscribe","data":{"conversation_id":5,"after_seq":10,"epoch":"e"}}`,
		`{"id":"4","type":"typing","data":{"conversation_id":5,"typing":true}}`,
		`{"id":"5","type":"presence","data":{"url":"https://a.test/","title":"t","visible":true}}`,
		`{"id":"6","type":"ping"}`,
		`{"id":"","type":""}`, `{}`, `null`, `[]`, `"x"`, `{"id":"1","type":"send","data":[1]}`,
		"{\"id\":\"\xc3\x28\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeClientFrame(b)
		if err != nil {
			if apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if fr.ID == "" || fr.Type == "" || len(fr.ID) > MaxIDLen {
			t.Fatalf("accepted frame without id/type: %+v", fr)
		}
		for _, v := range []any{&AuthData{}, &SubscribeData{}, &SendData{}, &TypingData{}, &ReadData{}, &PresenceData{}, &RequestChatData{}, &AvailabilityData{}, &ConversationData{}} {
			if err := DecodeData(fr.Data, v); err != nil && apperr.KindOf(err) != apperr.KindInvalid {
				t.Fatalf("untyped data error %v", err)
			}
		}
	})
}

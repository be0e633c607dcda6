package protocol

import (
	"bytes"
	"encoding/json"
	"math/rand"
	"strings"
	"testing"
)

// slowSend is what DecodeSend stands in for: DecodeClientFrame, then
// DecodeData of a send or note.
func slowSend(b []byte) (ClientFrame, SendData, bool) {
	f, err := DecodeClientFrame(b)
	if err != nil || (f.Type != CmdSend && f.Type != CmdNote) {
		return f, SendData{}, false
	}
	var d SendData
	if err := DecodeData(f.Data, &d); err != nil {
		return f, d, false
	}
	return f, d, true
}

// checkSend: whatever DecodeSend accepts, the reflective decoders accept
// with the same result.
func checkSend(t *testing.T, b []byte) bool {
	t.Helper()
	f, d, ok := DecodeSend(b)
	if !ok {
		return false
	}
	sf, sd, sok := slowSend(b)
	if !sok || sf.ID != f.ID || sf.Type != f.Type || sd.ConversationID != d.ConversationID || sd.ClientID != d.ClientID ||
		sd.Body != d.Body || sd.AttachmentID != d.AttachmentID || sd.Mentions != nil {
		t.Fatalf("DecodeSend(%q) = %+v %+v; the reflective decoders: %v %+v %+v", b, f, d, sok, sf, sd)
	}
	return true
}

func TestDecodeSend(t *testing.T) {
	for _, c := range []struct {
		in   string
		fast bool // DecodeSend takes it (else it leaves it to the others)
	}{
		{`{"id":"7","type":"send","data":{"conversation_id":1,"client_id":"v-2","body":"Order 1234"}}`, true},
		{` { "data" : { "body" : "x" , "conversation_id" : 12 } , "type" : "note" , "id" : "a" } ` + "\n", true},
		{`{"id":"7","type":"send","data":{}}`, true},
		{`{"id":"7","type":"send","data":{"conversation_id":-3,"attachment_id":0,"body":""}}`, true},
		{`{"id":"7","type":"send","data":{"conversation_id":1,"body":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20AC\u0000 <&> é ☃"}}`, true},
		{`{"id":"7","type":"send","data":{"body":"` + strings.Repeat("long ", 1000) + `"}}`, true},
		{`{"id":"\u0037","type":"send","data":{"body":"x"}}`, true},
		// Left to the reflective decoders:
		{`{"id":"7","type":"ping"}`, false},
		{`{"id":"7","type":"send"}`, false},
		{`{"id":"","type":"send","data":{}}`, false},
		{`{"id":"` + strings.Repeat("x", 65) + `","type":"send","data":{}}`, false},
		{`{"ID":"7","type":"send","data":{}}`, false},
		{`{"id":"7","type":"send","data":{"Body":"x"}}`, false},
		{`{"id":"7","type":"send","data":{"body":"x","body":"y"}}`, false},
		{`{"id":"7","id":"8","type":"send","data":{}}`, false},
		{`{"id":"7","type":"send","data":{"conversation_id":1.0}}`, false},
		{`{"id":"7","type":"send","data":{"conversation_id":1e2}}`, false},
		{`{"id":"7","type":"send","data":{"conversation_id":01}}`, false},
		{`{"id":"7","type":"send","data":{"conversation_id":1234567890123456789}}`, false},
		{`{"id":"7","type":"send","data":{"conversation_id":"1"}}`, false},
		{`{"id":"7","type":"send","data":{"conversation_id":null}}`, false},
		{`{"id":"7","type":"send","data":{"mentions":[1]}}`, false},
		{`{"id":"7","type":"send","data":{"bogus":1}}`, false},
		{`{"id":"7","type":"send","data":{"body":"\ud83d\ude00"}}`, false},
		{`{"id":"7","type":"send","data":{"body":"\'"}}`, false},
		{`{"id":"7","type":"send","data":{"body":"a` + "\n" + `b"}}`, false},
		{`{"id":"7","type":"send","data":{"body":"x"}} x`, false},
		{`{"id":"7","type":"send","data":{"body":"x"}`, false},
		{`{"id":"7","type":"send","data":{"body":"x"},}`, false},
		{`{"id":"7","type":"send","data":null}`, false},
		{"{\"id\":\"7\",\"type\":\"send\",\"data\":{\"body\":\"\xff\"}}", false},
		{`{"id":"7","type":"send","data":{"body":"x"},"extra":1}`, false},
	} {
		if got := checkSend(t, []byte(c.in)); got != c.fast {
			t.Errorf("DecodeSend(%q) took it: %v, want %v", c.in, got, c.fast)
		}
	}
}

// FuzzDecodeSend: DecodeSend never disagrees with DecodeClientFrame and
// DecodeData.
func FuzzDecodeSend(f *testing.F) {
	for _, s := range []string{
		`{"id":"7","type":"send","data":{"conversation_id":1,"client_id":"v-2","body":"Order 1234"}}`,
		`{"data":{"body":"a\"b\\c\/\u00e9\ud83d\ude00","attachment_id":3},"type":"note","id":"x"}`,
		` {"id":"1","type":"send","data":{"conversation_id":-0,"body":"\t"}} `,
		`{"id":"1","type":"send","data":{"conversation_id":12e1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkSend(t, b) })
}

func TestDecodeSendRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	pieces := []string{`{`, `}`, `"id"`, `"type"`, `"data"`, `"send"`, `"note"`, `:`, `,`, ` `, `"body"`, `"client_id"`,
		`"conversation_id"`, `"attachment_id"`, `12`, `-1`, `0`, `"x\n"`, `"\u00e9"`, `"é"`, `null`, `1.5`, `"7"`}
	base := `{"id":"7","type":"send","data":{"conversation_id":1,"client_id":"v-2","body":"hi"}}`
	taken := 0
	for range 200000 {
		var b []byte
		if r.Intn(2) == 0 {
			for range 1 + r.Intn(24) {
				b = append(b, pieces[r.Intn(len(pieces))]...)
			}
		} else {
			b = []byte(base)
			for range 1 + r.Intn(3) {
				i := r.Intn(len(b))
				switch r.Intn(3) {
				case 0:
					b = append(b[:i], b[i+1:]...)
				case 1:
					b = append(b[:i], append([]byte(pieces[r.Intn(len(pieces))]), b[i:]...)...)
				default:
					b[i] = byte(r.Intn(128))
				}
			}
		}
		if checkSend(t, b) {
			taken++
		}
	}
	if taken == 0 {
		t.Fatal("no random frame was decoded by DecodeSend")
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	alphabet := []string{"a", "é", "☃", "😀", "<", ">", "&", `"`, `\`, "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
		"\u2028", "\u2029", "\xff", "\xc3", "/", " ", "'"}
	for i := range 20000 {
		var sb strings.Builder
		for range r.Intn(12) {
			sb.WriteString(alphabet[r.Intn(len(alphabet))])
		}
		s := sb.String()
		if i == 0 {
			s = ""
		}
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got, want)
		}
	}
}

func TestRawFramesMatchEncoded(t *testing.T) {
	data := map[string]any{"a": 1, "b": "<x>"}
	raw, _ := json.Marshal(data)
	for _, id := range []string{"7", "", "a\"<b>"} {
		if got, want := AckRaw(id, raw), Ack(id, data); !bytes.Equal(got, want) {
			t.Errorf("AckRaw = %s, Ack %s", got, want)
		}
		if got, want := AckRaw(id, nil), Ack(id, nil); !bytes.Equal(got, want) {
			t.Errorf("AckRaw nil = %s, Ack %s", got, want)
		}
	}
	for _, c := range []struct{ conv, seq int64 }{{0, 0}, {5, 0}, {5, 9}, {0, 9}, {-1, -2}} {
		if got, want := EventRaw("message", c.conv, c.seq, raw), Event("message", c.conv, c.seq, data); !bytes.Equal(got, want) {
			t.Errorf("EventRaw = %s, Event %s", got, want)
		}
		if got, want := EventRaw("message", c.conv, c.seq, nil), Event("message", c.conv, c.seq, nil); !bytes.Equal(got, want) {
			t.Errorf("EventRaw nil = %s, Event %s", got, want)
		}
	}
}

func BenchmarkDecodeSend(b *testing.B) {
	frame := []byte(`{"id":"s17","type":"send","data":{"conversation_id":42,"client_id":"sbx-v3-17","body":"0123456789012345678901234567890123456789012345678901234567890123"}}`)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := DecodeSend(frame); !ok {
				b.Fatal("not decoded")
			}
		}
	})
	b.Run("reflective", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := slowSend(frame); !ok {
				b.Fatal("not decoded")
			}
		}
	})
}

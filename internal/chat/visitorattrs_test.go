package chat

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAttributeValue: what a visitor may send as an attribute value, and the
// text stored for it.
func TestAttributeValue(t *testing.T) {
	for _, c := range []struct {
		raw      string
		want     string
		null, ok bool
	}{
		{`"pro"`, "pro", false, true},
		{`""`, "", false, true},
		{`"` + strings.Repeat("é", 256) + `"`, strings.Repeat("é", 256), false, true},
		{`"` + strings.Repeat("é", 257) + `"`, "", false, false},
		{`"a\u0000b"`, "", false, false},
		{`"line\nbreak"`, "", false, false},
		{`3`, "3", false, true},
		{`-19.50`, "-19.50", false, true},
		{`1e3`, "1e3", false, true},
		{`true`, "true", false, true},
		{`false`, "false", false, true},
		{` null `, "", true, true},
		{`nul`, "", true, false},
		{`{"a":1}`, "", false, false},
		{`[1]`, "", false, false},
		{`01`, "", false, false},
		{`-`, "", false, false},
		{``, "", false, false},
	} {
		v, null, ok := attributeValue(json.RawMessage(c.raw))
		if v != c.want || null != c.null || ok != c.ok {
			t.Errorf("attributeValue(%s) = %q, %v, %v; want %q, %v, %v", c.raw, v, null, ok, c.want, c.null, c.ok)
		}
	}
}

func TestValidAttributeKey(t *testing.T) {
	for k, want := range map[string]bool{
		"plan": true, "cart.items": true, "a_b-c.9": true, strings.Repeat("k", 64): true,
		"": false, strings.Repeat("k", 65): false, "Plan": false, "my plan": false, "plan!": false, "é": false, "__proto__": true,
	} {
		if got := validAttributeKey(k); got != want {
			t.Errorf("validAttributeKey(%q) = %v, want %v", k, got, want)
		}
	}
}

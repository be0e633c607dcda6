package channel

import (
	"errors"
	"testing"
	"time"

	"switchboard/internal/apperr"
)

func TestValidE164(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"+14155552671", true},
		{"+447700900123", true},
		{"+491711234567", true},
		{"+12", true},              // shortest: country code and one digit
		{"+123456789012345", true}, // 15 digits, the maximum
		{"+1234567890123456", false},
		{"", false},
		{"+", false},
		{"+1", false},
		{"14155552671", false},
		{"+04155552671", false},
		{"+1 415 555 2671", false},
		{"+1-415-555-2671", false},
		{"+1(415)5552671", false},
		{"++14155552671", false},
		{"whatsapp:+14155552671", false},
		{"+1415555267a", false},
		{"+１４１５５５５２６７１", false}, // full-width digits
		{" +14155552671", false},
	}
	for _, tc := range tests {
		if got := ValidE164(tc.in); got != tc.want {
			t.Errorf("ValidE164(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestFreeformAllowed(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		last time.Time
		want bool
	}{
		{"never wrote", time.Time{}, false},
		{"just now", now, true},
		{"one minute ago", now.Add(-time.Minute), true},
		{"23h59m59s ago", now.Add(-24*time.Hour + time.Second), true},
		{"one nanosecond inside", now.Add(-24*time.Hour + 1), true},
		{"exactly 24h ago", now.Add(-24 * time.Hour), false},
		{"24h and a second ago", now.Add(-24*time.Hour - time.Second), false},
		{"last week", now.AddDate(0, 0, -7), false},
		{"clock skew: a little in the future", now.Add(2 * time.Second), true},
		{"other time zone, 23h ago", now.Add(-23 * time.Hour).In(time.FixedZone("X", 5*3600+1800)), true},
		{"other time zone, 25h ago", now.Add(-25 * time.Hour).In(time.FixedZone("Y", -8*3600)), false},
	}
	for _, tc := range tests {
		if got := FreeformAllowed(tc.last, now); got != tc.want {
			t.Errorf("%s: FreeformAllowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCheckWhatsApp(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	recent, old := now.Add(-time.Hour), now.Add(-48*time.Hour)
	free := Outgoing{To: "+14155552671", Body: "hello"}
	tmpl := Outgoing{To: "+14155552671", TemplateID: "HXb5b62575e6e4ff6129ad7c8efe1f983e"}
	tests := []struct {
		name string
		m    Outgoing
		last time.Time
		want error
	}{
		{"free-form inside window", free, recent, nil},
		{"free-form outside window", free, old, ErrTemplateRequired},
		{"free-form, customer never wrote", free, time.Time{}, ErrTemplateRequired},
		{"template outside window", tmpl, old, nil},
		{"template, customer never wrote", tmpl, time.Time{}, nil},
		{"template inside window", tmpl, recent, nil},
	}
	for _, tc := range tests {
		err := CheckWhatsApp(tc.m, tc.last, now)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, tc.want) || apperr.CodeOf(err) != CodeTemplateRequired || apperr.KindOf(err) != apperr.KindConflict {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

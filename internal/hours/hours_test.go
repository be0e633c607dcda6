package hours

import (
	"encoding/json"
	"testing"
	"time"

	"switchboard/internal/apperr"
)

func iv(start, end string) Interval {
	s, err := ParseMinute(start)
	if err != nil {
		panic(err)
	}
	e, err := ParseMinute(end)
	if err != nil {
		panic(err)
	}
	return Interval{s, e}
}

func everyDay(tz string, ivs ...Interval) Schedule {
	s := Schedule{TimeZone: tz}
	for d := range s.Weekly {
		s.Weekly[d] = ivs
	}
	return s
}

func compile(t *testing.T, s Schedule) *Compiled {
	t.Helper()
	c, err := s.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestWeekdaysInAZone(t *testing.T) {
	s := Schedule{TimeZone: "Europe/Paris"}
	for d := time.Monday; d <= time.Friday; d++ {
		s.Weekly[d] = []Interval{iv("09:00", "12:30"), iv("13:30", "18:00")}
	}
	c := compile(t, s)
	for at, want := range map[string]bool{
		"2026-06-01T06:59:00Z": false, // Monday 08:59 CEST
		"2026-06-01T07:00:00Z": true,  // 09:00
		"2026-06-01T10:29:59Z": true,  // 12:29:59
		"2026-06-01T10:30:00Z": false, // lunch
		"2026-06-01T11:30:00Z": true,  // 13:30
		"2026-06-01T16:00:00Z": false, // 18:00
		"2026-06-06T10:00:00Z": false, // Saturday
		"2026-01-05T08:00:00Z": true,  // Monday 09:00 CET (winter offset)
		"2026-01-05T07:59:00Z": false,
	} {
		if got := c.IsOpen(utc(at)); got != want {
			t.Errorf("%s: open=%v, want %v", at, got, want)
		}
	}
	// Friday evening to Monday morning.
	next, ok := c.NextChange(utc("2026-06-05T16:30:00Z"))
	if !ok || !next.Equal(utc("2026-06-08T07:00:00Z")) {
		t.Fatalf("next opening after Friday close: %v %v", next, ok)
	}
}

func TestSpringForward(t *testing.T) {
	// New York moves from EST (-5) to EDT (-4) at 2026-03-08 02:00 local.
	c := compile(t, everyDay("America/New_York", iv("09:00", "17:00")))
	cases := map[string]bool{
		"2026-03-07T13:59:00Z": false, // Sat 08:59 EST
		"2026-03-07T14:00:00Z": true,  // Sat 09:00 EST
		"2026-03-08T12:59:00Z": false, // Sun 08:59 EDT
		"2026-03-08T13:00:00Z": true,  // Sun 09:00 EDT: an hour earlier in UTC
		"2026-03-08T20:59:00Z": true,  // 16:59 EDT
		"2026-03-08T21:00:00Z": false, // 17:00 EDT
	}
	for at, want := range cases {
		if got := c.IsOpen(utc(at)); got != want {
			t.Errorf("%s: open=%v, want %v", at, got, want)
		}
	}
	next, ok := c.NextChange(utc("2026-03-07T23:00:00Z"))
	if !ok || !next.Equal(utc("2026-03-08T13:00:00Z")) {
		t.Fatalf("opening on the DST day: %v", next)
	}

	// An interval that starts inside the skipped hour opens when the clock jumps.
	c = compile(t, everyDay("America/New_York", iv("02:30", "04:00")))
	if c.IsOpen(utc("2026-03-08T06:59:59Z")) { // 01:59:59 EST
		t.Fatal("open before the jump")
	}
	if !c.IsOpen(utc("2026-03-08T07:00:00Z")) { // 03:00 EDT
		t.Fatal("closed right after the jump")
	}
	next, ok = c.NextChange(utc("2026-03-08T06:30:00Z"))
	if !ok || !next.Equal(utc("2026-03-08T07:00:00Z")) {
		t.Fatalf("opening inside the skipped hour: %v", next)
	}
}

func TestFallBack(t *testing.T) {
	// New York moves from EDT (-4) to EST (-5) at 2026-11-01 02:00 local:
	// 01:00-02:00 happens twice.
	c := compile(t, everyDay("America/New_York", iv("01:00", "01:30")))
	for at, want := range map[string]bool{
		"2026-11-01T04:59:00Z": false, // 00:59 EDT
		"2026-11-01T05:00:00Z": true,  // 01:00 EDT
		"2026-11-01T05:30:00Z": false, // 01:30 EDT
		"2026-11-01T06:00:00Z": true,  // 01:00 EST, the second time
		"2026-11-01T06:30:00Z": false, // 01:30 EST
	} {
		if got := c.IsOpen(utc(at)); got != want {
			t.Errorf("%s: open=%v, want %v", at, got, want)
		}
	}
	steps := []string{"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z"}
	at := utc("2026-11-01T04:00:00Z")
	for _, want := range steps {
		next, ok := c.NextChange(at)
		if !ok || !next.Equal(utc(want)) {
			t.Fatalf("after %s: next change %v, want %s", at, next, want)
		}
		at = next
	}
	// A normal day of 9 to 5 on the fall-back day is 9 hours long in UTC terms? No: 8 hours of wall time.
	c = compile(t, everyDay("America/New_York", iv("09:00", "17:00")))
	open, _ := c.NextChange(utc("2026-11-01T06:00:00Z"))
	closeAt, _ := c.NextChange(open)
	if d := closeAt.Sub(open); d != 8*time.Hour {
		t.Fatalf("open for %v on the fall-back day", d)
	}
}

func TestHalfHourZoneAndExceptions(t *testing.T) {
	s := everyDay("Asia/Kolkata", iv("10:00", "19:00"))
	s.Exceptions = []Exception{
		{Date: "2026-08-15", Name: "Independence Day"},                                    // closed
		{Date: "2026-10-20", Name: "Diwali", Intervals: []Interval{iv("10:00", "13:00")}}, // short day
	}
	c := compile(t, s)
	for at, want := range map[string]bool{
		"2026-08-14T04:30:00Z": true,  // 10:00 IST
		"2026-08-14T04:29:00Z": false, // 09:59 IST
		"2026-08-15T06:00:00Z": false, // holiday
		"2026-10-20T07:00:00Z": true,  // 12:30 IST
		"2026-10-20T07:30:00Z": false, // 13:00 IST, short day
	} {
		if got := c.IsOpen(utc(at)); got != want {
			t.Errorf("%s: open=%v, want %v", at, got, want)
		}
	}
	next, ok := c.NextOpen(utc("2026-08-14T20:00:00Z")) // evening before the holiday
	if !ok || !next.Equal(utc("2026-08-16T04:30:00Z")) {
		t.Fatalf("next opening skips the holiday: %v", next)
	}
}

func TestEdges(t *testing.T) {
	c := compile(t, everyDay("UTC", iv("00:00", "24:00")))
	if _, ok := c.NextChange(utc("2026-01-01T00:00:00Z")); ok {
		t.Fatal("always open has a next change")
	}
	if !c.IsOpen(utc("2026-01-01T23:59:59Z")) {
		t.Fatal("24:00 end excludes the last minute")
	}
	closed := compile(t, Schedule{TimeZone: "UTC"})
	if _, ok := closed.NextOpen(utc("2026-01-01T00:00:00Z")); ok {
		t.Fatal("always closed has a next opening")
	}
	// Touching intervals are fine and do not produce a change at the seam.
	c = compile(t, everyDay("UTC", iv("09:00", "12:00"), iv("12:00", "17:00")))
	next, _ := c.NextChange(utc("2026-01-01T10:00:00Z"))
	if !next.Equal(utc("2026-01-01T17:00:00Z")) {
		t.Fatalf("seam treated as a change: %v", next)
	}
}

func TestValidation(t *testing.T) {
	bad := []struct {
		s    Schedule
		code string
	}{
		{Schedule{}, "unknown_time_zone"},
		{Schedule{TimeZone: "Mars/Olympus"}, "unknown_time_zone"},
		{Schedule{TimeZone: "Local"}, "unknown_time_zone"},
		{everyDay("UTC", Interval{600, 540}), "invalid_interval"},
		{everyDay("UTC", Interval{600, 600}), "invalid_interval"},
		{everyDay("UTC", Interval{-1, 600}), "invalid_interval"},
		{everyDay("UTC", Interval{600, 1441}), "invalid_interval"},
		{everyDay("UTC", iv("09:00", "12:00"), iv("11:00", "13:00")), "overlapping_intervals"},
		{Schedule{TimeZone: "UTC", Exceptions: []Exception{{Date: "2026-13-01"}}}, "invalid_date"},
		{Schedule{TimeZone: "UTC", Exceptions: []Exception{{Date: "2026-12-25"}, {Date: "2026-12-25"}}}, "duplicate_exception"},
	}
	for _, b := range bad {
		if _, err := b.s.Compile(); apperr.CodeOf(err) != b.code {
			t.Errorf("%+v: err %v, want code %s", b.s, err, b.code)
		}
	}
	for _, s := range []string{"9:00", "25:00", "24:01", "12:60", "ab:cd", "12-00"} {
		if _, err := ParseMinute(s); apperr.CodeOf(err) != "invalid_time" {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestJSON(t *testing.T) {
	in := `{"time_zone":"Europe/Berlin","weekly":[[],[{"start":"09:00","end":"17:30"}],[],[],[],[],[]],"exceptions":[{"date":"2026-12-24","intervals":[{"start":"09:00","end":"12:00"}]}]}`
	var s Schedule
	if err := json.Unmarshal([]byte(in), &s); err != nil {
		t.Fatal(err)
	}
	if s.Weekly[time.Monday][0].End != 17*60+30 {
		t.Fatalf("decoded %+v", s.Weekly[time.Monday])
	}
	out, _ := json.Marshal(s)
	var back Schedule
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.Weekly[time.Monday][0] != s.Weekly[time.Monday][0] || back.Exceptions[0].Date != "2026-12-24" {
		t.Fatalf("round trip %s", out)
	}
	if err := json.Unmarshal([]byte(`{"time_zone":"UTC","weekly":[[{"start":"9am","end":"17:00"}],[],[],[],[],[],[]]}`), &s); apperr.CodeOf(err) != "invalid_time" {
		t.Fatalf("bad time in JSON: %v", err)
	}
}

// FuzzNextChangeAgreesWithIsOpen: for any schedule that compiles and any
// instant, the state right before NextChange equals the state at t, and the
// state at NextChange differs.
func FuzzNextChangeAgreesWithIsOpen(f *testing.F) {
	f.Add(int64(1772931600), uint16(150), uint16(240), "America/New_York")
	f.Add(int64(1793422800), uint16(60), uint16(90), "America/New_York")
	f.Add(int64(1780000000), uint16(600), uint16(1020), "Asia/Kolkata")
	f.Add(int64(1780000000), uint16(0), uint16(1440), "Australia/Lord_Howe")
	f.Fuzz(func(t *testing.T, unix int64, start, end uint16, tz string) {
		if unix < 0 || unix > 4102444800 {
			return
		}
		c, err := everyDay(tz, Interval{Minute(start), Minute(end)}).Compile()
		if err != nil {
			return
		}
		at := time.Unix(unix, 0)
		next, ok := c.NextChange(at)
		if !ok {
			return
		}
		if !next.After(at) {
			t.Fatalf("next change %v not after %v", next, at)
		}
		if c.IsOpen(next.Add(-time.Second)) != c.IsOpen(at) {
			t.Fatalf("state changed before %v (from %v)", next, at)
		}
		if c.IsOpen(next) == c.IsOpen(at) {
			t.Fatalf("no change at %v", next)
		}
	})
}

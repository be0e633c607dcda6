// Package hours owns business hours: weekly opening intervals in a site's
// (or department's) IANA time zone, plus dated exceptions such as holidays.
//
// Intervals are wall-clock times in that zone, which is what a team means by
// "we open at 9": on a day when daylight saving time starts or ends, 09:00 is
// still 09:00 local. A wall time that does not exist (the hour skipped in
// spring) is simply never reached; one that occurs twice (the hour repeated in
// autumn) is open both times if the interval covers it. Nothing here reads
// the clock: callers pass the instant, so tests and routing use an injected
// clock.
package hours

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/apperr"
)

// Minute is a wall-clock time of day in minutes after midnight, 0..1440
// (1440 = 24:00, only as an interval end). It reads and writes as "HH:MM".
type Minute int

// ParseMinute parses "HH:MM" (00:00 to 24:00).
func ParseMinute(s string) (Minute, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, apperr.Invalid("invalid_time", fmt.Sprintf("time %q is not HH:MM", s))
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, apperr.Invalid("invalid_time", fmt.Sprintf("time %q is not between 00:00 and 24:00", s))
	}
	return Minute(hh*60 + mm), nil
}

func (m Minute) String() string { return fmt.Sprintf("%02d:%02d", int(m)/60, int(m)%60) }

func (m Minute) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

func (m *Minute) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return apperr.Invalid("invalid_time", "times are strings like \"09:30\"")
	}
	v, err := ParseMinute(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Interval is [Start, End) on one day.
type Interval struct {
	Start Minute `json:"start"`
	End   Minute `json:"end"`
}

// Exception replaces the weekly hours on one date (YYYY-MM-DD in the
// schedule's zone). No intervals: closed all day.
type Exception struct {
	Date      string     `json:"date"`
	Name      string     `json:"name,omitempty"` // e.g. "Christmas"
	Intervals []Interval `json:"intervals"`
}

// Schedule is a set of business hours. Weekly is indexed by time.Weekday
// (Sunday = 0).
type Schedule struct {
	TimeZone   string        `json:"time_zone"`
	Weekly     [7][]Interval `json:"weekly"`
	Exceptions []Exception   `json:"exceptions,omitempty"`
}

// Compiled is a validated schedule ready to answer questions quickly.
type Compiled struct {
	loc        *time.Location
	weekly     [7][]Interval
	exceptions map[string][]Interval
}

// Compile validates s and prepares it. Errors are typed with stable codes:
// unknown_time_zone, invalid_interval (end not after start, or out of
// range), overlapping_intervals, invalid_date, duplicate_exception,
// too_many_exceptions.
func (s Schedule) Compile() (*Compiled, error) {
	if s.TimeZone == "" {
		return nil, apperr.Invalid("unknown_time_zone", "time_zone is required (an IANA name such as Europe/Paris)")
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil || strings.EqualFold(s.TimeZone, "local") {
		return nil, apperr.Invalid("unknown_time_zone", fmt.Sprintf("unknown time zone %q", s.TimeZone))
	}
	c := &Compiled{loc: loc, exceptions: make(map[string][]Interval, len(s.Exceptions))}
	for d := range s.Weekly {
		iv, err := normalize(s.Weekly[d], time.Weekday(d).String())
		if err != nil {
			return nil, err
		}
		c.weekly[d] = iv
	}
	if len(s.Exceptions) > 500 {
		return nil, apperr.Invalid("too_many_exceptions", "at most 500 dated exceptions")
	}
	for _, e := range s.Exceptions {
		if _, err := time.ParseInLocation("2006-01-02", e.Date, loc); err != nil {
			return nil, apperr.Invalid("invalid_date", fmt.Sprintf("exception date %q is not YYYY-MM-DD", e.Date))
		}
		if _, dup := c.exceptions[e.Date]; dup {
			return nil, apperr.Invalid("duplicate_exception", "two exceptions for "+e.Date)
		}
		iv, err := normalize(e.Intervals, e.Date)
		if err != nil {
			return nil, err
		}
		c.exceptions[e.Date] = iv
	}
	return c, nil
}

// normalize checks one day's intervals and sorts them.
func normalize(in []Interval, day string) ([]Interval, error) {
	out := append([]Interval(nil), in...)
	for _, iv := range out {
		if iv.Start < 0 || iv.End > 1440 || iv.End <= iv.Start {
			return nil, apperr.Invalid("invalid_interval", fmt.Sprintf("%s: %s-%s must end after it starts, within the day", day, iv.Start, iv.End))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	for i := 1; i < len(out); i++ {
		if out[i].Start < out[i-1].End {
			return nil, apperr.Invalid("overlapping_intervals", fmt.Sprintf("%s: %s-%s overlaps %s-%s", day, out[i-1].Start, out[i-1].End, out[i].Start, out[i].End))
		}
	}
	return out, nil
}

// Location is the schedule's time zone.
func (c *Compiled) Location() *time.Location { return c.loc }

// intervalsOn returns the intervals of a local date.
func (c *Compiled) intervalsOn(y int, m time.Month, d int) []Interval {
	key := fmt.Sprintf("%04d-%02d-%02d", y, int(m), d)
	if iv, ok := c.exceptions[key]; ok {
		return iv
	}
	return c.weekly[time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Weekday()]
}

// IsOpen reports whether the business is open at instant t.
func (c *Compiled) IsOpen(t time.Time) bool {
	lt := t.In(c.loc)
	y, m, d := lt.Date()
	min := Minute(lt.Hour()*60 + lt.Minute())
	for _, iv := range c.intervalsOn(y, m, d) {
		if min >= iv.Start && min < iv.End {
			return true
		}
	}
	return false
}

// maxLookahead bounds NextChange: a schedule closed for longer has no next
// opening worth announcing.
const maxLookahead = 366

// NextChange returns the first instant after t at which IsOpen changes, and
// false when it does not change within a year (always open, or closed).
//
// The state can only change at an interval boundary (a wall time, which in
// autumn may occur twice) or when the zone's offset changes (in spring the
// clock jumps over a boundary); those are the candidates, checked in order.
func (c *Compiled) NextChange(t time.Time) (time.Time, bool) {
	open := c.IsOpen(t)
	lt := t.In(c.loc)
	y, m, d := lt.Date()
	for i := 0; i <= maxLookahead; i++ {
		day := time.Date(y, m, d+i, 0, 0, 0, 0, time.UTC)
		dy, dm, dd := day.Date()
		var cands []time.Time
		for _, iv := range c.intervalsOn(dy, dm, dd) {
			for _, b := range []Minute{iv.Start, iv.End} {
				cands = append(cands, wallTimes(c.loc, dy, dm, dd, b)...)
			}
		}
		midnight := time.Date(dy, dm, dd, 0, 0, 0, 0, c.loc)
		if _, end := midnight.ZoneBounds(); !end.IsZero() && end.Before(midnight.Add(26*time.Hour)) {
			cands = append(cands, end)
		}
		sort.Slice(cands, func(i, j int) bool { return cands[i].Before(cands[j]) })
		for _, at := range cands {
			if at.After(t) && c.IsOpen(at) != open {
				return at, true
			}
		}
	}
	return time.Time{}, false
}

// NextOpen returns when the business next opens after t (t itself if open).
func (c *Compiled) NextOpen(t time.Time) (time.Time, bool) {
	if c.IsOpen(t) {
		return t, true
	}
	return c.NextChange(t)
}

// wallTimes returns the instants at which the local clock reads the given
// date and minute: usually one, two in the hour repeated in autumn, and for
// a wall time skipped in spring the instant Go normalises it to (the zone
// transition itself is a separate candidate).
func wallTimes(loc *time.Location, y int, m time.Month, d int, min Minute) []time.Time {
	w := time.Date(y, m, d, int(min)/60, int(min)%60, 0, 0, loc)
	out := []time.Time{w}
	for _, alt := range []time.Time{w.Add(-time.Hour), w.Add(time.Hour)} {
		ay, am, ad := alt.In(loc).Date()
		if ay == y && am == m && ad == d && alt.In(loc).Hour()*60+alt.In(loc).Minute() == int(min)%1440 && min < 1440 {
			out = append(out, alt)
		}
	}
	return out
}

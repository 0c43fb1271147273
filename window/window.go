// Package window says when a send may go under a send window: the local
// days and hours it may go in, in one time zone or in every one of
// several (a phone number can span zones). Daylight saving time is the
// zone's own: a window from 08:00 opens at 08:00 on the wall clock, on
// the day of a change too.
package window

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // zones in images without a zone database

	"github.com/nyaruka/phonenumbers"
)

// Spec is a window as written in an envelope or in SEND_WINDOWS.
type Spec struct {
	// TZ is an IANA time zone, or "auto": the zones of the recipient's
	// phone number.
	TZ string `json:"tz"`
	// Days are the days the window opens, e.g. "mon-fri" or "mon,wed,sat";
	// every day when empty.
	Days string `json:"days,omitempty"`
	// From and To are local times, "08:00" and "21:00". A To before From
	// makes a window that closes the next day; "24:00" is midnight.
	From string `json:"from"`
	To   string `json:"to"`
}

// Window is a parsed Spec. The zero Window is always open.
type Window struct {
	zones    []*time.Location
	auto     bool
	days     [7]bool // by time.Weekday
	from, to int     // minutes after local midnight
}

// Auto reports whether the window's zones come from the recipient.
func (w Window) Auto() bool { return w.auto }

// FieldError is a Spec's field that is wrong, and why.
type FieldError struct {
	// Field is the field's JSON name: tz, days, from or to.
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }

func (e *FieldError) Unwrap() error { return e.Err }

// Parse checks s. Its errors are *FieldError: "tz: …", "days: …".
func Parse(s Spec) (Window, error) {
	var w Window
	switch s.TZ {
	case "":
		return Window{}, &FieldError{"tz", errors.New(`missing: want an IANA zone such as "America/New_York", or "auto"`)}
	case "auto":
		w.auto = true
	default:
		loc, err := loadZone(s.TZ)
		if err != nil {
			return Window{}, &FieldError{"tz", err}
		}
		w.zones = []*time.Location{loc}
	}
	var err error
	if w.days, err = parseDays(s.Days); err != nil {
		return Window{}, &FieldError{"days", err}
	}
	if w.from, err = parseClock(s.From, false); err != nil {
		return Window{}, &FieldError{"from", err}
	}
	if w.to, err = parseClock(s.To, true); err != nil {
		return Window{}, &FieldError{"to", err}
	}
	if w.from == w.to {
		return Window{}, &FieldError{"to", fmt.Errorf("%s is from: the window would be empty", s.To)}
	}
	return w, nil
}

// loadZone loads an IANA zone; "Local" and "" are not zones of a recipient.
func loadZone(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, errors.New(`"Local" is this machine's zone, not a recipient's: name an IANA zone such as "America/New_York"`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

// ForPhone returns the window in the zones of phone (E.164, "+1…") when
// its zone is auto, and w otherwise. It fails when the number is not one
// or no time is inside the window in every one of its zones.
func (w Window) ForPhone(phone string) (Window, error) { return w.ForPhones(phone) }

// ForPhones returns the window in the zones of every one of phones when
// its zone is auto, and w otherwise: a send to several recipients goes
// only at times inside the window for each of them. It fails when there
// is no phone, one is not a number, or no time is inside the window in
// every zone.
func (w Window) ForPhones(phones ...string) (Window, error) {
	if !w.auto {
		return w, nil
	}
	if len(phones) == 0 {
		return Window{}, errors.New(`tz "auto" needs a phone recipient: the send has none`)
	}
	var zones []string
	for i, phone := range phones {
		names, err := phoneZones(phone)
		if err != nil && len(phones) > 1 {
			return Window{}, fmt.Errorf("recipient %d: %w", i+1, err)
		} else if err != nil {
			return Window{}, err
		}
		for _, n := range names {
			if !slices.Contains(zones, n) {
				zones = append(zones, n)
			}
		}
	}
	out, err := w.InZones(zones...)
	if err != nil {
		return Window{}, fmt.Errorf("tz \"auto\": %w", err)
	}
	if _, ok := out.Next(time.Now()); !ok {
		return Window{}, fmt.Errorf(`tz "auto": no time is inside the window in all %d time zones of the recipients: name the zone`, len(zones))
	}
	return out, nil
}

// phoneZones names the time zones the phone-number library gives phone.
func phoneZones(phone string) ([]string, error) {
	num, err := phonenumbers.Parse(phone, "")
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return nil, errors.New(`tz "auto" needs the recipient's phone number in E.164 form ("+12125550123")`)
	}
	names, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil || len(names) == 0 || names[0] == phonenumbers.UNKNOWN_TIMEZONE {
		return nil, errors.New(`tz "auto": the phone number's time zone is not known: name the zone`)
	}
	return names, nil
}

// InZones returns the window's days and hours in the named zones: open
// when it is open in every one of them.
func (w Window) InZones(names ...string) (Window, error) {
	out := w
	out.auto = false
	out.zones = nil
	for _, n := range names {
		loc, err := loadZone(n)
		if err != nil {
			return Window{}, err
		}
		out.zones = append(out.zones, loc)
	}
	return out, nil
}

// Zones names the window's zones.
func (w Window) Zones() []string {
	names := make([]string, len(w.zones))
	for i, z := range w.zones {
		names[i] = z.String()
	}
	return names
}

// horizon bounds the search for an opening: a window opens at least once a
// week, or never in every zone at once.
const horizon = 8 * 24 * time.Hour

// Next returns the earliest time at or after t inside the window in every
// zone, and false when there is none within a week. An auto window not
// yet resolved with ForPhone has no zone and is always open.
func (w Window) Next(t time.Time) (time.Time, bool) {
	if len(w.zones) == 0 {
		return t, true
	}
	end := t.Add(horizon)
	for t.Before(end) {
		moved := false
		for _, loc := range w.zones {
			n := w.nextIn(loc, t)
			if n.IsZero() {
				return time.Time{}, false
			}
			if n.After(t) {
				t, moved = n, true
			}
		}
		if !moved {
			return t, true
		}
	}
	return time.Time{}, false
}

// Contains reports whether t is inside the window in every zone.
func (w Window) Contains(t time.Time) bool {
	n, ok := w.Next(t)
	return ok && n.Equal(t)
}

// nextIn is the earliest time at or after t inside the window in loc, or
// zero when there is none within the horizon. The wall clock enters the
// window only where it reads from (once a day, twice when the clock goes
// back over it) or where daylight saving time makes it jump: those are
// the candidates.
func (w Window) nextIn(loc *time.Location, t time.Time) time.Time {
	if w.inside(t.In(loc)) {
		return t
	}
	var best time.Time
	consider := func(c time.Time) {
		if c.After(t) && (best.IsZero() || c.Before(best)) && w.inside(c.In(loc)) {
			best = c
		}
	}
	y, m, d := t.In(loc).Date()
	for i := -1; i <= 8; i++ {
		// The clock reads from at wall-offset, for each offset in force
		// then: twice when a change repeats the hour, whatever the size
		// of the change (Antarctica/Troll moves by two hours).
		wall := time.Date(y, m, d+i, 0, w.from, 0, 0, time.UTC)
		for _, off := range offsetsAround(time.Date(y, m, d+i, 0, w.from, 0, 0, loc)) {
			s := wall.Add(-time.Duration(off) * time.Second)
			if _, o := s.In(loc).Zone(); o == off {
				consider(s)
			}
		}
	}
	for at, end := t, t.Add(horizon); at.Before(end); {
		_, next := at.In(loc).ZoneBounds()
		if next.IsZero() {
			break
		}
		consider(next)
		at = next
	}
	return best
}

// offsetsAround are the offsets of c's zone in force at c and on either
// side of the changes that begin and end the period c is in.
func offsetsAround(c time.Time) []int {
	_, off := c.Zone()
	offs := []int{off}
	start, end := c.ZoneBounds()
	if !start.IsZero() {
		if _, o := start.Add(-time.Second).In(c.Location()).Zone(); o != off {
			offs = append(offs, o)
		}
	}
	if !end.IsZero() {
		if _, o := end.In(c.Location()).Zone(); !slices.Contains(offs, o) {
			offs = append(offs, o)
		}
	}
	return offs
}

// inside reports whether the wall clock of lt is inside the window.
func (w Window) inside(lt time.Time) bool {
	sec, today := clock(lt), lt.Weekday()
	if w.from < w.to {
		return w.days[today] && sec >= w.from*60 && sec < w.to*60
	}
	return w.days[today] && sec >= w.from*60 || w.days[(today+6)%7] && sec < w.to*60
}

// clock is the seconds after midnight lt's wall clock reads.
func clock(lt time.Time) int {
	return lt.Hour()*3600 + lt.Minute()*60 + lt.Second()
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseDays reads "mon-fri,sun"; a range may wrap ("fri-mon").
func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	if strings.TrimSpace(s) == "" {
		return [7]bool{true, true, true, true, true, true, true}, nil
	}
	for _, item := range strings.Split(s, ",") {
		first, last, isRange := strings.Cut(strings.TrimSpace(item), "-")
		a, ok := dayNames[strings.ToLower(strings.TrimSpace(first))]
		if !ok {
			return days, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat or sun, or a range such as mon-fri)", first)
		}
		b := a
		if isRange {
			if b, ok = dayNames[strings.ToLower(strings.TrimSpace(last))]; !ok {
				return days, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat or sun, or a range such as mon-fri)", last)
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b {
				break
			}
		}
	}
	return days, nil
}

// parseClock reads "HH:MM" as minutes after midnight; "24:00" only as an end.
func parseClock(s string, end bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, herr := strconv.Atoi(hh)
	m, merr := strconv.Atoi(mm)
	if !ok || len(hh) != 2 || len(mm) != 2 || herr != nil || merr != nil || h < 0 || m < 0 || m > 59 || h > 24 || h == 24 && (m != 0 || !end) {
		if s == "" {
			return 0, errors.New(`missing: want a local time such as "08:00"`)
		}
		return 0, fmt.Errorf(`%q is not a local time such as "08:00" (00:00 to 23:59, or 24:00 for an end)`, s)
	}
	return h*60 + m, nil
}

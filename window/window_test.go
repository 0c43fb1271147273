package window_test

import (
	"archive/zip"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/punctualhq/punctual/window"
)

func mustParse(t *testing.T, s window.Spec) window.Window {
	t.Helper()
	w, err := window.Parse(s)
	if err != nil {
		t.Fatalf("parse %+v: %v", s, err)
	}
	return w
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseNamesTheFieldAndTheReason(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		spec window.Spec
		want string
	}{
		{window.Spec{From: "08:00", To: "21:00"}, "tz: missing"},
		{window.Spec{TZ: "America/Nowhere", From: "08:00", To: "21:00"}, `tz: unknown time zone "America/Nowhere"`},
		{window.Spec{TZ: "Local", From: "08:00", To: "21:00"}, "tz: \"Local\""},
		{window.Spec{TZ: "UTC", Days: "mon-fry", From: "08:00", To: "21:00"}, `days: unknown day "fry"`},
		{window.Spec{TZ: "UTC", Days: "weekdays", From: "08:00", To: "21:00"}, `days: unknown day "weekdays"`},
		{window.Spec{TZ: "UTC", From: "8:00", To: "21:00"}, `from: "8:00" is not a local time`},
		{window.Spec{TZ: "UTC", From: "08:00", To: "25:00"}, `to: "25:00" is not a local time`},
		{window.Spec{TZ: "UTC", From: "08:60", To: "21:00"}, `from: "08:60" is not a local time`},
		{window.Spec{TZ: "UTC", From: "24:00", To: "21:00"}, `from: "24:00" is not a local time`},
		{window.Spec{TZ: "UTC", From: "08:00"}, "to: missing"},
		{window.Spec{TZ: "UTC", From: "08:00", To: "08:00"}, "to: 08:00 is from: the window would be empty"},
	} {
		_, err := window.Parse(c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c.spec, err, c.want)
		}
	}
}

func TestNextAcrossDaylightSavingChanges(t *testing.T) {
	t.Parallel()
	ny := mustParse(t, window.Spec{TZ: "America/New_York", Days: "mon-sat", From: "08:00", To: "21:00"})
	for _, c := range []struct{ at, want string }{
		// Saturday evening before the clocks go forward: Sunday is not a
		// day of the window, Monday 08:00 is EDT (UTC-4).
		{"2026-03-08T02:30:00Z", "2026-03-09T12:00:00Z"},
		// Friday night before the clocks go back: Saturday 08:00 is still
		// EDT; the next Monday's is EST (UTC-5).
		{"2026-10-31T02:00:00Z", "2026-10-31T12:00:00Z"},
		{"2026-11-01T01:00:30Z", "2026-11-02T13:00:00Z"},
		// Inside: at once.
		{"2026-11-02T13:00:00Z", "2026-11-02T13:00:00Z"},
		{"2026-11-03T01:59:59Z", "2026-11-03T01:59:59Z"},
		// 21:00 EST is closed.
		{"2026-11-03T02:00:00Z", "2026-11-03T13:00:00Z"},
	} {
		got, ok := ny.Next(utc(c.at))
		if !ok || !got.Equal(utc(c.want)) {
			t.Errorf("Next(%s) = %s, %v; want %s", c.at, got.UTC().Format(time.RFC3339), ok, c.want)
		}
	}

	// A window whose opening the spring change skips opens when the
	// clock jumps past it; one in the hour the autumn change repeats
	// opens at its first reading and closes while the clock reads before it.
	gap := mustParse(t, window.Spec{TZ: "America/New_York", From: "02:30", To: "04:00"})
	if got, _ := gap.Next(utc("2026-03-08T05:00:00Z")); !got.Equal(utc("2026-03-08T07:00:00Z")) {
		t.Errorf("the skipped 02:30 opened at %s, want 03:00 EDT (07:00Z)", got.UTC().Format(time.RFC3339))
	}
	repeat := mustParse(t, window.Spec{TZ: "America/New_York", From: "01:30", To: "02:00"})
	for _, c := range []struct{ at, want string }{
		{"2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z"}, // 01:00 EDT → 01:30 EDT
		{"2026-11-01T06:00:00Z", "2026-11-01T06:30:00Z"}, // 01:00 EST (the clock went back) → 01:30 EST
	} {
		if got, _ := repeat.Next(utc(c.at)); !got.Equal(utc(c.want)) {
			t.Errorf("Next(%s) = %s, want %s", c.at, got.UTC().Format(time.RFC3339), c.want)
		}
	}
}

// insideByHand is the window's rule written out plainly: the wall clock's
// minute of the day and its day in loc.
func insideByHand(loc *time.Location, days map[time.Weekday]bool, from, to int, at time.Time) bool {
	lt := at.In(loc)
	m := lt.Hour()*60 + lt.Minute()
	if from < to {
		return days[lt.Weekday()] && m >= from && m < to
	}
	return days[lt.Weekday()] && m >= from || days[(lt.Weekday()+6)%7] && m < to
}

// TestNextIsTheFirstMinuteInsideInEveryZone checks Next against a scan
// minute by minute, over zones with daylight saving changes of an hour
// and of half an hour, offsets in quarter hours, windows over midnight
// and instants around the changes.
func TestNextIsTheFirstMinuteInsideInEveryZone(t *testing.T) {
	t.Parallel()
	zones := []string{"America/New_York", "Europe/London", "Australia/Lord_Howe", "Australia/Sydney", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham", "UTC"}
	changes := []string{"2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z", "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z", "2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z", "2026-04-04T14:00:00Z"}
	names := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 400 {
		var spec window.Spec
		var locs []*time.Location
		for range 1 + r.IntN(2) {
			name := zones[r.IntN(len(zones))]
			loc, _ := time.LoadLocation(name)
			locs = append(locs, loc)
			spec.TZ = name
		}
		days := map[time.Weekday]bool{}
		var picked []string
		for d, n := range names {
			if r.IntN(3) > 0 {
				days[time.Weekday(d)] = true
				picked = append(picked, n)
			}
		}
		if len(picked) == 0 {
			continue
		}
		spec.Days = strings.Join(picked, ",")
		from, to := r.IntN(24*4)*15, r.IntN(24*4)*15+15
		if from == to {
			continue
		}
		spec.From, spec.To = hhmm(from), hhmm(to)
		var zoneNames []string
		for _, loc := range locs {
			zoneNames = append(zoneNames, loc.String())
		}
		w, err := mustParse(t, spec).InZones(zoneNames...)
		if err != nil {
			t.Fatal(err)
		}
		at := utc(changes[r.IntN(len(changes))]).Add(time.Duration(r.IntN(48*60)-24*60)*time.Minute + time.Duration(r.IntN(60))*time.Second)

		inAll := func(x time.Time) bool {
			for _, loc := range locs {
				if !insideByHand(loc, days, from, to, x) {
					return false
				}
			}
			return true
		}
		want := time.Time{}
		if inAll(at) {
			want = at
		} else {
			for x := at.Truncate(time.Minute).Add(time.Minute); x.Before(at.Add(8 * 24 * time.Hour)); x = x.Add(time.Minute) {
				if inAll(x) {
					want = x
					break
				}
			}
		}
		got, ok := w.Next(at)
		if ok != !want.IsZero() || !got.Equal(want) {
			t.Fatalf("case %d: %+v in %v from %s: Next = %s, %v; a scan finds %s", i, spec, w.Zones(), at.Format(time.RFC3339), got.Format(time.RFC3339), ok, want.Format(time.RFC3339))
		}
	}
}

func hhmm(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

func TestAutoTakesTheZonesOfThePhoneNumber(t *testing.T) {
	t.Parallel()
	auto := mustParse(t, window.Spec{TZ: "auto", From: "08:00", To: "21:00"})
	for _, c := range []struct {
		phone string
		zones []string
	}{
		{"+12125550123", []string{"America/New_York"}},
		{"+14155550123", []string{"America/Los_Angeles"}},
		{"+447911123456", []string{"Europe/Guernsey", "Europe/Isle_of_Man", "Europe/London"}},
		{"+61212345678", []string{"Australia/Sydney"}},
		{"+5511987654321", []string{"America/Sao_Paulo"}},
	} {
		w, err := auto.ForPhone(c.phone)
		if err != nil {
			t.Errorf("%s: %v", c.phone, err)
			continue
		}
		if got := strings.Join(w.Zones(), ","); got != strings.Join(c.zones, ",") {
			t.Errorf("%s: zones %s, want %s", c.phone, got, strings.Join(c.zones, ","))
		}
	}

	// A US toll-free number is in every US zone, from Guam to Newfoundland:
	// its sends go only when it is 08:00 to 21:00 in all of them, or the
	// window is refused.
	w, err := auto.ForPhone("+18005550123")
	if err == nil {
		next, _ := w.Next(utc("2026-12-01T00:00:00Z"))
		for _, name := range w.Zones() {
			loc, _ := time.LoadLocation(name)
			if h := next.In(loc).Hour(); h < 8 || h >= 21 {
				t.Errorf("toll-free send at %s is %02d h in %s", next.UTC().Format(time.RFC3339), h, name)
			}
		}
	} else if !strings.Contains(err.Error(), "no time is inside the window in all") {
		t.Errorf("toll-free number: %v", err)
	}

	for _, bad := range []string{"ana@example.com", "2125550123", "+1"} {
		if _, err := auto.ForPhone(bad); err == nil || !strings.Contains(err.Error(), `tz "auto"`) {
			t.Errorf("%q: error %v, want one about tz auto", bad, err)
		}
	}
}

func TestAutoForSeveralRecipientsHoldsInTheZonesOfEach(t *testing.T) {
	t.Parallel()
	auto := mustParse(t, window.Spec{TZ: "auto", From: "08:00", To: "21:00"})
	// New York and Berlin: 08:00 to 21:00 in both is 13:00 to 20:00 UTC in
	// winter (EST, CET).
	w, err := auto.ForPhones("+12125550123", "+4915112345678", "+12125550199")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.Zones(), ","); got != "America/New_York,Europe/Berlin" {
		t.Errorf("zones %s, want each zone once: America/New_York,Europe/Berlin", got)
	}
	for _, c := range []struct{ at, want string }{
		{"2026-12-02T09:00:00Z", "2026-12-02T13:00:00Z"}, // open in Berlin, not yet in New York
		{"2026-12-02T15:00:00Z", "2026-12-02T15:00:00Z"}, // open in both
		{"2026-12-02T20:00:00Z", "2026-12-03T13:00:00Z"}, // closed in Berlin, open in New York
	} {
		if got, ok := w.Next(utc(c.at)); !ok || !got.Equal(utc(c.want)) {
			t.Errorf("Next(%s) = %s, %v; want %s", c.at, got.UTC().Format(time.RFC3339), ok, c.want)
		}
	}

	if _, err := auto.ForPhones("+12125550123", "ana@example.com"); err == nil || !strings.Contains(err.Error(), `recipient 2: tz "auto" needs`) {
		t.Errorf("an e-mail among the recipients: error %v, want one naming recipient 2", err)
	}
	if _, err := auto.ForPhones(); err == nil || !strings.Contains(err.Error(), "needs a phone recipient") {
		t.Errorf("no recipient: error %v", err)
	}
	fixed := mustParse(t, window.Spec{TZ: "Asia/Tokyo", From: "08:00", To: "21:00"})
	if w, err := fixed.ForPhones("ana@example.com"); err != nil || strings.Join(w.Zones(), ",") != "Asia/Tokyo" {
		t.Errorf("a named zone is kept whoever the recipients are: %v, %v", w.Zones(), err)
	}
}

func TestParseErrorsAreFieldErrors(t *testing.T) {
	t.Parallel()
	_, err := window.Parse(window.Spec{TZ: "UTC", Days: "fry", From: "08:00", To: "21:00"})
	var fe *window.FieldError
	if !errors.As(err, &fe) || fe.Field != "days" {
		t.Fatalf("error %v, want a *FieldError of days", err)
	}
}

// zoneNames lists every IANA zone of the Go tree's zone database, or of
// the system's when the Go tree has none.
func zoneNames(t *testing.T) []string {
	t.Helper()
	var names []string
	goroot, _ := exec.Command("go", "env", "GOROOT").Output()
	if z, err := zip.OpenReader(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "time", "zoneinfo.zip")); err == nil {
		defer z.Close()
		for _, f := range z.File {
			if !strings.HasSuffix(f.Name, "/") {
				names = append(names, f.Name)
			}
		}
		return names
	}
	root := "/usr/share/zoneinfo"
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name, _ := filepath.Rel(root, p)
		if _, lerr := time.LoadLocation(name); lerr == nil && !strings.HasPrefix(name, "posix") && !strings.HasPrefix(name, "right") {
			names = append(names, name)
		}
		return nil
	})
	if err != nil || len(names) == 0 {
		t.Fatalf("no zone database to list the zones from (GOROOT %s, %s): %v", goroot, root, err)
	}
	return names
}

// TestNextMatchesAScanAroundEveryZonesChanges compares Next with a scan
// minute by minute around every change of offset in 2026 and 2027 of
// every IANA zone, for windows that open just before, in and just after
// the hours a change skips or repeats: Antarctica/Troll moves its clocks
// by two hours, Australia/Lord_Howe by half an hour.
func TestNextMatchesAScanAroundEveryZonesChanges(t *testing.T) {
	t.Parallel()
	start, stop := utc("2026-01-01T00:00:00Z"), utc("2028-01-01T00:00:00Z")
	checked, zones := 0, 0
	seen := map[string]bool{}
	for _, name := range zoneNames(t) {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var changes []time.Time
		for at := start; ; {
			_, next := at.In(loc).ZoneBounds()
			if next.IsZero() || !next.Before(stop) {
				break
			}
			changes = append(changes, next)
			at = next
		}
		// Zones whose clocks change alike in these two years (Europe's
		// capitals, links such as US/Eastern) answer alike: one is checked.
		rules := fmt.Sprint(changes)
		for _, c := range changes {
			_, before := c.Add(-time.Second).In(loc).Zone()
			_, after := c.In(loc).Zone()
			rules += fmt.Sprint(" ", before, after)
		}
		if len(changes) == 0 || seen[rules] {
			continue
		}
		seen[rules] = true
		zones++
		for _, change := range changes {
			_, before := change.Add(-time.Second).In(loc).Zone()
			_, after := change.In(loc).Zone()
			// The wall clock at the change, read with the old offset and
			// with the new: the hours between are skipped or repeated.
			wallBefore := (change.Add(time.Duration(before)*time.Second).Hour()*60 + change.Add(time.Duration(before)*time.Second).Minute())
			wallAfter := (change.Add(time.Duration(after)*time.Second).Hour()*60 + change.Add(time.Duration(after)*time.Second).Minute())
			lo, hi := min(wallBefore, wallAfter), max(wallBefore, wallAfter)
			froms := map[int]bool{}
			for _, f := range []int{lo - 30, lo, (lo + hi) / 2, hi - 30, hi, hi + 30} {
				froms[(f+24*60)%(24*60)] = true
			}
			// Instants from 26 hours before the change to 4 hours after
			// it (every third minute in the hour either side of it), and the
			// first minute inside from each: the window opens at least
			// once a day, so a day and a bit more covers the answers.
			first := change.Add(-26 * time.Hour)
			const span = (26 + 4) * 60
			clocks := make([]int, span+26*60)
			for m := range clocks {
				lt := first.Add(time.Duration(m) * time.Minute).In(loc)
				clocks[m] = lt.Hour()*60 + lt.Minute()
			}
			for from := range froms {
				to := (from + 60) % (24 * 60)
				if to == 0 {
					to = 24 * 60
				}
				w := mustParse(t, window.Spec{TZ: name, From: hhmm(from), To: hhmm(to)})
				want := -1
				for m := len(clocks) - 1; m >= 0; m-- {
					if clocks[m] >= from && (clocks[m] < to || to < from) || to < from && clocks[m] < to {
						want = m
					}
					if m >= span || m%11 != 0 && (m < 25*60 || m > 27*60 || m%3 != 0) {
						continue
					}
					at := first.Add(time.Duration(m) * time.Minute)
					got, ok := w.Next(at)
					checked++
					if !ok || want < 0 || !got.Equal(first.Add(time.Duration(want)*time.Minute)) {
						t.Fatalf("%s, window %s-%s, change at %s: Next(%s) = %s, %v; a scan finds %s",
							name, hhmm(from), hhmm(to), change.Format(time.RFC3339), at.In(loc).Format(time.RFC3339),
							got.In(loc).Format(time.RFC3339), ok, first.Add(time.Duration(want)*time.Minute).In(loc).Format(time.RFC3339))
					}
				}
			}
		}
	}
	if zones < 20 || checked == 0 {
		t.Fatalf("%d different changes of offset in 2026-2027, %d instants checked: the zone list is not the IANA database", zones, checked)
	}
	t.Logf("%d instants in %d zones that change their clocks each their own way", checked, zones)
}

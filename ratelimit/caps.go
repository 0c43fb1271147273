package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/redis/go-redis/v9"
)

// Caps books the sends to each recipient on a calendar of its own, so that
// no recipient gets more than a cap's count of sends in any of its periods:
// 3/24h lets the fourth send go 24 h (and a second, see maxCapLate) after
// the first, whenever in the day that was. A cap's scope says which sends it counts: "" every send to the
// recipient, "mateo" those through a provider, "mateo:acme" those through
// one account. Every cap whose scope covers a send applies to it, so a
// narrower cap only ever adds to a wider one.
//
// A recipient's calendar is keyed by a hash of its normalised address
// (NormalizeRecipient): no address is written to Redis. The hash is a
// pseudonym, not a secret: a phone number's can be found by trying numbers.
type Caps struct {
	rdb  redis.UniversalClient
	caps Limits
}

// NewCaps returns the Caps keeping their calendars in rdb; nil when caps is
// empty.
func NewCaps(rdb redis.UniversalClient, caps Limits) *Caps {
	if len(caps) == 0 {
		return nil
	}
	return &Caps{rdb: rdb, caps: caps}
}

// A cap counts sends and spaces none: its calendar keeps its bookings
// capGap apart, the calendar's resolution. Two sends to one recipient due
// at one instant go a millisecond apart, in order.
const capGap = time.Millisecond

// A send may go up to maxCapLate after its cap booking (a tenth of the
// shortest period, for caps of less than 10 s), as a busy worker is late:
// a cap's bookings are that much more than its period apart, so that the
// sends themselves are its period apart. One later than that books again.
const maxCapLate = time.Second

// capCalendarOf returns how late a send may go after its booking on a
// calendar of rates, and the calendar's windows as reserve.lua takes
// them: count, and the period widened by that lateness, negative (rolling).
func capCalendarOf(rates []Rate) (late time.Duration, windows []any) {
	late = maxCapLate
	for _, r := range rates {
		late = min(late, r.Period/10)
	}
	late = late.Truncate(time.Millisecond)
	for _, r := range rates {
		windows = append(windows, r.Count, -(r.Period + late).Milliseconds())
	}
	return late, windows
}

// maxRounds bounds the rounds Reserve takes to find one time for every
// calendar of a send: each round moves to the latest time one of them
// gave, and ends when none gives a later one.
const maxRounds = 100

// capCalendar is the calendar of one recipient under one cap.
type capCalendar struct {
	scope   string
	keys    []string
	late    time.Duration
	windows []any
}

// calendars returns the calendars a send of provider's account to
// recipients books: one per normalised recipient and cap covering the send.
func (c *Caps) calendars(provider, account string, recipients []string) []capCalendar {
	if c == nil {
		return nil
	}
	var cals []capCalendar
	for _, id := range recipientIDs(recipients) {
		for _, scope := range capScopes(provider, account) {
			rates, ok := c.caps[scope]
			if !ok {
				continue
			}
			late, windows := capCalendarOf(rates)
			cals = append(cals, capCalendar{scope: scope, keys: capKeys(scope, id), late: late, windows: windows})
		}
	}
	return cals
}

// recipientIDs returns the pseudonyms that key the calendars of
// recipients, each normalised recipient once.
func recipientIDs(recipients []string) []string {
	var ids []string
	seen := map[string]bool{}
	for _, r := range recipients {
		r = NormalizeRecipient(r)
		if r == "" || seen[r] {
			continue
		}
		seen[r] = true
		sum := sha256.Sum256([]byte("punctual recipient\x00" + r))
		ids = append(ids, hex.EncodeToString(sum[:16]))
	}
	return ids
}

// capScopes are the scopes of the caps that can cover a send of
// provider's account, the widest first.
func capScopes(provider, account string) []string {
	return []string{"", provider, provider + ":" + account}
}

// capKeys returns the Redis keys of the calendar of the recipient id under
// the cap of scope, in one cluster slot.
func capKeys(scope, id string) []string {
	tag := "punctual:cap:{" + strings.TrimPrefix(scope+":", ":") + id + "}:"
	return []string{tag + "bookings", tag + "runs", tag + "blocked"}
}

// Reserve books the send taskID of provider's account to recipients, due
// at at, with every cap that covers it, and returns the one time they all
// allow: the earliest at or after at (to the millisecond, rounded up;
// Redis's now when at has passed). A send that holds a booking at or after
// at keeps it, and so does one at most a second late for it (a tenth of
// the shortest period of a cap under 10 s). Without a cap covering the
// send it returns at.
func (c *Caps) Reserve(ctx context.Context, provider, account, taskID string, recipients []string, at time.Time) (time.Time, error) {
	cals := c.calendars(provider, account, recipients)
	if len(cals) == 0 {
		return at, nil
	}
	t := time.UnixMilli(ceilMilli(at))
	for range maxRounds {
		latest := t
		for _, cal := range cals {
			slots, err := reserve(ctx, c.rdb, cal.keys, capGap, cal.late, cal.windows, []Send{{TaskID: taskID, At: t}})
			if err != nil {
				return time.Time{}, fmt.Errorf("recipient cap %s: %w", capName(cal.scope), err)
			}
			if slots[0].At.After(latest) {
				latest = slots[0].At
			}
		}
		if !latest.After(t) {
			return t, nil
		}
		t = latest
	}
	return time.Time{}, fmt.Errorf("recipient caps: no time every cap allows in %d rounds", maxRounds)
}

// Release frees the bookings of the send taskID, which will not be sent.
func (c *Caps) Release(ctx context.Context, provider, account, taskID string, recipients []string) error {
	var errs []error
	for _, cal := range c.calendars(provider, account, recipients) {
		if err := releaseScript.Run(ctx, c.rdb, cal.keys, taskID).Err(); err != nil {
			errs = append(errs, fmt.Errorf("recipient cap %s: %w", capName(cal.scope), err))
		}
	}
	return errors.Join(errs...)
}

// CapBooking names the places a send may hold on its recipients' cap
// calendars.
type CapBooking struct {
	Provider, Account, TaskID string
	// Recipients are the send's addresses, as its operation reads them.
	Recipients []string
}

// ReleaseCaps frees the cap bookings of sends that will not be sent, under
// every cap that could cover them: a producer frees what the workers
// booked without being given their RECIPIENT_CAPS, and a calendar that
// holds no place for a send is left as it is. One round trip per node.
func ReleaseCaps(ctx context.Context, rdb redis.UniversalClient, sends []CapBooking) error {
	pipe := rdb.Pipeline()
	for _, s := range sends {
		for _, id := range recipientIDs(s.Recipients) {
			for _, scope := range capScopes(s.Provider, s.Account) {
				releaseScript.EvalSha(ctx, pipe, capKeys(scope, id), s.TaskID)
			}
		}
	}
	if pipe.Len() == 0 {
		return nil
	}
	if err := releaseScript.Load(ctx, rdb).Err(); err != nil {
		return fmt.Errorf("recipient caps: %w", err)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("recipient caps: %w", err)
	}
	return nil
}

// capName names a cap's scope in errors.
func capName(scope string) string {
	if scope == "" {
		return "of every send"
	}
	return scope
}

// NormalizeRecipient returns the form of an address that its caps count
// by: a phone number in E.164 (+14155552671, however it was written, when
// it starts with its country code), anything else trimmed and lower-cased
// (an email address, a handle). Lower-casing may join two addresses a
// provider tells apart; a cap then counts them as one, which errs on the
// side of fewer sends.
func NormalizeRecipient(addr string) string {
	addr = strings.TrimSpace(addr)
	if !strings.Contains(addr, "@") {
		if n, err := phonenumbers.Parse(addr, ""); err == nil {
			return phonenumbers.Format(n, phonenumbers.E164)
		}
	}
	return strings.ToLower(addr)
}

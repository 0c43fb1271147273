package bench

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// lateness is what the stand-in received for sends numbered 0 to n-1 (the
// "bench #i:" of their text), judged against when each was due.
type lateness struct {
	// early counts requests received before they were due, or too close
	// to the previous one of their account (see spaced).
	early int
	// missing sends never got a 2xx; extra 2xx came for a send already
	// accepted; limited requests got 429, failed another answer.
	missing, extra, limited, failed int
	p50, p99, max                   time.Duration
}

func (l lateness) String() string {
	s := fmt.Sprintf("%d early, p99 %s", l.early, ms(l.p99))
	if l.limited > 0 {
		s += fmt.Sprintf(", %d×429", l.limited)
	}
	if l.missing > 0 {
		s += fmt.Sprintf(", %d missing", l.missing)
	}
	return s
}

// ok says whether nothing went early, missing, twice or refused, and the
// p99 is within bound.
func (l lateness) ok(bound time.Duration) bool {
	return l.early == 0 && l.missing == 0 && l.extra == 0 && l.limited == 0 && l.failed == 0 && l.p99 <= bound
}

// note describes the lateness in full.
func (l lateness) note() string {
	return fmt.Sprintf("%d early, %d missing, %d extra, %d×429, %d other failures; lateness p50 %s, p99 %s, max %s",
		l.early, l.missing, l.extra, l.limited, l.failed, ms(l.p50), ms(l.p99), ms(l.max))
}

// numbers are the figures of l, named with prefix.
func (l lateness) numbers(prefix string, into map[string]float64) {
	for k, v := range map[string]float64{
		"early": float64(l.early), "missing": float64(l.missing), "extra": float64(l.extra), "429s": float64(l.limited),
		"failed": float64(l.failed), "p50_ms": msf(l.p50), "p99_ms": msf(l.p99), "max_ms": msf(l.max),
	} {
		into[prefix+k] = v
	}
}

func msf(d time.Duration) float64 { return d.Seconds() * 1000 }

// accepted returns the receipt time of the first 2xx of each send, and
// judges every request against its send's due time: lateness is the first
// 2xx's receipt minus the due time.
func accepted(reqs []received, due []time.Time) (map[int]time.Time, lateness, error) {
	first := map[int]time.Time{}
	var l lateness
	for _, r := range reqs {
		i, ok := textIndex(r.Body)
		if !ok || i >= len(due) {
			return nil, l, fmt.Errorf("the stand-in received a request the bench did not make: %s %s %.100s", r.Method, r.Path, r.Body)
		}
		if r.At.Before(due[i]) {
			l.early++
		}
		switch {
		case r.Status == 429:
			l.limited++
		case r.Status < 200 || r.Status > 299:
			l.failed++
		default:
			if _, seen := first[i]; seen {
				l.extra++
			} else {
				first[i] = r.At
			}
		}
	}
	l.missing = len(due) - len(first)
	return first, l, nil
}

// judge measures the lateness of each send against its due time.
func judge(reqs []received, due []time.Time) (lateness, error) {
	first, l, err := accepted(reqs, due)
	if err != nil {
		return l, err
	}
	late := make([]time.Duration, 0, len(first))
	for i, at := range first {
		late = append(late, at.Sub(due[i]))
	}
	l.percentiles(late)
	return l, nil
}

// judgeSpaced measures lateness against the earliest schedule the limit
// allows: per account (account[i] is send i's), with the due times
// sorted, s_1 = due_1 and s_k = max(due_k, s_(k-1) + spacing); the k-th
// accepted request of the account is late by its receipt minus s_k. Two
// requests of one account closer than minGap count as early.
func judgeSpaced(reqs []received, due []time.Time, account []string, spacing, minGap time.Duration) (lateness, error) {
	first, l, err := accepted(reqs, due)
	if err != nil {
		return l, err
	}
	dues, receipts := map[string][]time.Time{}, map[string][]time.Time{}
	for i, d := range due {
		dues[account[i]] = append(dues[account[i]], d)
		if at, ok := first[i]; ok {
			receipts[account[i]] = append(receipts[account[i]], at)
		}
	}
	var late []time.Duration
	for a, ds := range dues {
		slices.SortFunc(ds, time.Time.Compare)
		got := receipts[a]
		slices.SortFunc(got, time.Time.Compare)
		schedule := make([]time.Time, len(ds))
		for k, d := range ds {
			schedule[k] = d
			if k > 0 && d.Before(schedule[k-1].Add(spacing)) {
				schedule[k] = schedule[k-1].Add(spacing)
			}
			if k < len(got) {
				late = append(late, got[k].Sub(schedule[k]))
			}
		}
	}
	// Every request an account received counts for its spacing, refused
	// ones too: each reached the provider.
	byAccount := map[string][]time.Time{}
	for _, r := range reqs {
		byAccount[r.Account] = append(byAccount[r.Account], r.At)
	}
	for _, ats := range byAccount {
		slices.SortFunc(ats, time.Time.Compare)
		for k := 1; k < len(ats); k++ {
			if ats[k].Sub(ats[k-1]) < minGap {
				l.early++
			}
		}
	}
	l.percentiles(late)
	return l, nil
}

// percentiles sets p50, p99 and max from the samples.
func (l *lateness) percentiles(late []time.Duration) {
	if len(late) == 0 {
		return
	}
	slices.Sort(late)
	l.p50 = late[len(late)/2]
	l.p99 = late[int(math.Ceil(0.99*float64(len(late))))-1]
	l.max = late[len(late)-1]
}

func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// lastAccepted returns how many requests got a 2xx and when the last of
// them was received.
func lastAccepted(reqs []received) (int, time.Time) {
	n, last := 0, time.Time{}
	for _, r := range reqs {
		if r.Status >= 200 && r.Status <= 299 {
			n++
			if r.At.After(last) {
				last = r.At
			}
		}
	}
	return n, last
}

// drainRate stops sb and returns the sends a second from start to its
// receipt of the last of n sends, each of which it must have accepted.
func drainRate(sb *standIn, n int, start time.Time) (float64, error) {
	reqs, err := sb.finish()
	if err != nil {
		return 0, err
	}
	got, last := lastAccepted(reqs)
	if got != n {
		return 0, fmt.Errorf("the stand-in accepted %d requests for %d sends (%d received)", got, n, len(reqs))
	}
	return float64(n) / last.Sub(start).Seconds(), nil
}

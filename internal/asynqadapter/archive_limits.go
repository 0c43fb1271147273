package asynqadapter

// Archived tasks are kept for the archive retention, with no count limit.
//
// asynq v0.26: rdb.Archive (internal/rdb/rdb.go:906) and the inspector's
// archive calls (internal/rdb/inspect.go:1184, 1240, 1331, 1396) pass
// their scripts (archiveCmd, rdb.go:861) a cutoff, now less
// archivedExpirationInDays (90), and maxArchiveSize (10000, rdb.go:840),
// and the scripts delete for good every archived task of the queue older
// than the cutoff or beyond the newest 10,000: a refused send would vanish
// with nobody told.
//
// We change: both arguments. The cutoff becomes now less
// Options.Retention (ARCHIVE_RETENTION), the size math.MaxInt32: nothing
// is trimmed by count, and by age only past the retention.
//
// We recognise it: a key of the script is a queue's archive
// (asynq:{q}:archived), and among its arguments an int64 within two hours
// of 90 days ago is followed by the int 10000.
//
// Not recognised: asynq's limits apply. A script that archives (an
// archive key, and an int64 within two hours of now among its arguments:
// the time of death) without them rewritten judges ArchiveLimits not
// applied at once.

import (
	"math"
	"time"
)

const (
	asynqArchiveSize = 10000
	asynqArchiveAge  = 90 * 24 * time.Hour
	// slack is how far the cutoff asynq computed may be from ours: asynq's
	// clock is read a moment earlier, and 90 days is not always 90×24 h.
	slack = 7200
)

// limits returns args with asynq's archive limits replaced, when the
// script archives: a key of it is an archive, and its arguments hold the
// cutoff (a Unix time 90 days ago) followed by the size limit.
func (c *Client) limits(keys []string, args []any) []any {
	if !archives(keys) {
		return args
	}
	now := time.Now()
	for i := 1; i < len(args); i++ {
		size, ok := args[i].(int)
		cutoff, isTime := args[i-1].(int64)
		if !ok || !isTime || size != asynqArchiveSize || math.Abs(float64(cutoff-now.Add(-asynqArchiveAge).Unix())) > slack {
			continue
		}
		out := append([]any(nil), args...)
		out[i-1], out[i] = now.Add(-c.retention).Unix(), math.MaxInt32
		patches[ArchiveLimits].hit()
		return out
	}
	if archiving(args, now) {
		patches[ArchiveLimits].missed()
	}
	return args
}

func archives(keys []string) bool {
	for _, k := range keys {
		if isQueueKey(k, "archived") {
			return true
		}
	}
	return false
}

// archiving reports whether args hold a Unix time within slack of now, as
// those of asynq's scripts that archive a task do (when it died), and not
// those that only read or empty the archive.
func archiving(args []any, now time.Time) bool {
	for _, a := range args {
		if t, ok := a.(int64); ok && math.Abs(float64(t-now.Unix())) <= slack {
			return true
		}
	}
	return false
}

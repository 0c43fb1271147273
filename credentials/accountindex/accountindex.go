// Package accountindex is the list of accounts the workers keep in Redis
// for `enqueue accounts` and the producer: field provider/name, value the
// credential's kind and, for a renewable one, its chain. It holds no
// credential. It is a package of its own so that the producer reads it
// without linking the workers' credentials.
package accountindex

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Key is the Redis hash of the index.
const Key = "punctual:credentials:index"

// KindAgency is the kind of an agency account: it mints its locations'
// tokens and sends nothing.
const KindAgency = "agency"

// Field is the index's field of a provider's account.
func Field(provider, name string) string { return provider + "/" + name }

// Value is the index's value of an account: its kind, and its chain when
// it has one.
func Value(kind, chain string) string {
	if chain == "" {
		return kind
	}
	return kind + " " + chain
}

// Parse splits a field and a value of the index.
func Parse(field, value string) (provider, name, kind, chain string) {
	provider, name, _ = strings.Cut(field, "/")
	kind, chain, _ = strings.Cut(value, " ")
	return provider, name, kind, chain
}

// Agencies tells which accounts are agencies, from an index read at most
// every Every: a producer asks it of every send.
type Agencies struct {
	Redis redis.UniversalClient
	// Every is how long an index read is used; 10 s when zero.
	Every time.Duration

	mu     sync.Mutex
	read   time.Time
	agency map[string]bool
}

// Is reports whether the workers' index names the account an agency;
// false when Redis cannot tell (the workers refuse its sends then).
func (a *Agencies) Is(ctx context.Context, provider, name string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	every := a.Every
	if every == 0 {
		every = 10 * time.Second
	}
	if time.Since(a.read) >= every {
		a.read = time.Now()
		index, err := a.Redis.HGetAll(ctx, Key).Result()
		if err == nil {
			a.agency = map[string]bool{}
			for field, value := range index {
				if _, _, kind, _ := Parse(field, value); kind == KindAgency {
					a.agency[field] = true
				}
			}
		}
	}
	return a.agency[Field(provider, name)]
}

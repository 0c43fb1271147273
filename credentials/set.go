package credentials

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"
)

// id names an account: its provider and its name.
type id struct{ provider, name string }

func (i id) String() string { return i.provider + "/" + i.name }

// set is the accounts in force: read without locks, replaced whole.
type set struct {
	accounts map[id]*Account
	// seeds fingerprint each renewable account's credential: a changed
	// one starts a new chain and ends a wait for reauthorization.
	seeds map[id][sha256.Size]byte
	// oauth names an account that needs the app and CREDENTIALS_KEY; "" when none does.
	oauth string
	// gone are the accounts a reload dropped less than goneGrace ago, with when.
	gone map[id]time.Time
}

// goneGrace is how long the sends of an account a reload dropped wait
// before they end as of no account: a file read while it is rewritten
// in place may lack its last entries and still be good.
const goneGrace = 5 * time.Second

// keepGone records in s the accounts of prev that s drops, and those
// prev recorded that s still lacks, while their grace lasts.
func (s *set) keepGone(prev *set, now time.Time) {
	s.gone = map[id]time.Time{}
	if prev == nil {
		return
	}
	for k := range prev.accounts {
		if s.accounts[k] == nil {
			s.gone[k] = now
		}
	}
	for k, at := range prev.gone {
		if s.accounts[k] == nil && now.Sub(at) < goneGrace {
			s.gone[k] = at
		}
	}
}

// newSet merges the static accounts of the environment (provider -> name
// -> token) with those of the file, and checks them together.
func newSet(static map[string]map[string]string, fromFile []Account) (*set, error) {
	s := &set{accounts: make(map[id]*Account, len(fromFile)+4), seeds: map[id][sha256.Size]byte{}}
	for provider, tokens := range static {
		for name, token := range tokens {
			s.accounts[id{provider, name}] = &Account{Provider: provider, Name: name, Kind: KindToken, Token: token}
		}
	}
	var errs []error
	for i := range fromFile {
		a := &fromFile[i]
		k := id{a.Provider, a.Name}
		if prev, ok := s.accounts[k]; ok {
			where := "given twice"
			if slices.IndexFunc(fromFile[:i], func(b Account) bool { return b.Provider == a.Provider && b.Name == a.Name }) < 0 {
				where = "also set by the environment (" + envOf(prev.Provider) + ")"
			}
			errs = append(errs, fmt.Errorf("accounts[%d] %q: %s account %s", i, a.Name, a.Provider, where))
			continue
		}
		s.accounts[k] = a
	}
	for i := range fromFile {
		a := &fromFile[i]
		switch a.Kind {
		case KindOAuth, KindAgency:
			s.seeds[id{a.Provider, a.Name}] = sha256.Sum256([]byte("oauth\x00" + a.RefreshToken))
		case KindAgencyLocation:
			agency := s.accounts[id{a.Provider, a.Agency}]
			if agency == nil || agency.Kind != KindAgency {
				errs = append(errs, fmt.Errorf("accounts[%d] %q: agency: %q is not an agency account (refresh_token with company_id)", i, a.Name, a.Agency))
				continue
			}
			// The agency's credential is part of the location's: a new one
			// ends the location's wait for reauthorization too.
			s.seeds[id{a.Provider, a.Name}] = sha256.Sum256([]byte("agency\x00" + agency.RefreshToken + "\x00" + a.LocationID))
		default:
			continue
		}
		if s.oauth == "" {
			s.oauth = fmt.Sprintf("accounts[%d] %q", i, a.Name)
		}
	}
	return s, errors.Join(errs...)
}

// envOf names the variables that give a provider's static accounts.
func envOf(provider string) string {
	if provider == "mateo" {
		return "MATEO_TOKEN or MATEO_ACCOUNTS"
	}
	return "LEADCONNECTOR_TOKEN or LEADCONNECTOR_ACCOUNTS"
}

func (s *set) get(provider, name string) *Account { return s.accounts[id{provider, name}] }

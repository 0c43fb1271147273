package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/ratelimit"
	"github.com/punctualhq/punctual/tasks"
)

// Accounts are the tokens of each provider's accounts.
type Accounts map[string]map[string]string

// Token returns the token of a provider's account.
func (a Accounts) Token(provider, account string) (string, bool) {
	t, ok := a[provider][account]
	return t, ok
}

// Names returns a provider's account names, sorted.
func (a Accounts) Names(provider string) []string {
	var names []string
	for name := range a[provider] {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// add reads a provider's default token and its name=token list. Its errors
// name entries by position and name, never by their token.
func (a Accounts) add(provider, token, list string) error {
	tokens := map[string]string{}
	if token != "" {
		tokens["default"] = token
	}
	var errs []error
	for i, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, tok, found := strings.Cut(entry, "=")
		name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
		switch {
		case (!found || tok == "") && !tasks.IsName(name):
			// Not a name: it may be a token given with a wrong separator.
			errs = append(errs, fmt.Errorf("entry %d: want name=token", i+1))
		case !found || tok == "":
			errs = append(errs, fmt.Errorf("entry %d (%q): no token (want name=token)", i+1, name))
		case !tasks.IsName(name):
			errs = append(errs, fmt.Errorf("entry %d: account name is not letters, digits, _ . - (at most 64)", i+1))
		case tokens[name] != "":
			errs = append(errs, fmt.Errorf("entry %d (%q): account given twice", i+1, name))
		default:
			tokens[name] = tok
		}
	}
	if len(tokens) > 0 {
		a[provider] = tokens
	}
	return errors.Join(errs...)
}

// ParseQueues reads name=weight,name2=weight2 into asynq's queue weights.
func ParseQueues(s string) (map[string]int, error) {
	queues := map[string]int{}
	for i, entry := range strings.Split(s, ",") {
		name, weight, found := strings.Cut(strings.TrimSpace(entry), "=")
		n, err := strconv.Atoi(strings.TrimSpace(weight))
		name = strings.TrimSpace(name)
		switch {
		case !found || err != nil || n < 1:
			return nil, fmt.Errorf("entry %d %q: want name=weight with a whole weight of at least 1", i+1, entry)
		case !tasks.IsName(name):
			return nil, fmt.Errorf("entry %d: queue name %q is not letters, digits, _ . - (at most 64)", i+1, name)
		case queues[name] != 0:
			return nil, fmt.Errorf("entry %d: queue %q given twice", i+1, name)
		}
		queues[name] = n
	}
	return queues, nil
}

// Rate is a number of requests per period.
type Rate = ratelimit.Rate

// RateLimits are the limits per provider ("mateo") and per account
// ("mateo:acme"); nil means limiting is off.
type RateLimits = ratelimit.Limits

// ParseRateLimits reads provider[:account]=N/period+N/period,... where a
// period is a duration (10s, 24h) or a bare unit (s, m, h, d); "off" turns
// limiting off. Providers are those of reg; Config.ParseRateLimits checks
// them against the configuration's registry.
func ParseRateLimits(reg providers.Registry, s string) (RateLimits, error) {
	return parseRateLimits(reg, s)
}

// ParseRateLimits reads RATE_LIMITS as the package's ParseRateLimits does,
// its providers those of c's registry.
func (c *Config) ParseRateLimits() (RateLimits, error) {
	return parseRateLimits(c.registry, c.RateLimits)
}

func parseRateLimits(reg providers.Registry, s string) (RateLimits, error) {
	if strings.TrimSpace(s) == "off" {
		return nil, nil
	}
	return parseScoped(reg, s, false, 0)
}

// RecipientCaps are the caps per recipient of every send (""), of a
// provider's ("mateo") and of an account's ("mateo:acme"); nil when none.
type RecipientCaps = ratelimit.Limits

// ParseRecipientCaps reads [provider[:account]=]N/period+N/period,...,
// periods as ParseRateLimits reads them and of at least a second: a cap
// without a scope counts every send to a recipient. "" or "off": no caps.
// Providers are those of reg.
func ParseRecipientCaps(reg providers.Registry, s string) (RecipientCaps, error) {
	return parseRecipientCaps(reg, s)
}

// ParseRecipientCaps reads RECIPIENT_CAPS as the package's
// ParseRecipientCaps does, its providers those of c's registry.
func (c *Config) ParseRecipientCaps() (RecipientCaps, error) {
	return parseRecipientCaps(c.registry, c.RecipientCaps)
}

func parseRecipientCaps(reg providers.Registry, s string) (RecipientCaps, error) {
	if s = strings.TrimSpace(s); s == "" || s == "off" {
		return nil, nil
	}
	return parseScoped(reg, s, true, time.Second)
}

// parseScoped reads scope=N/period+...,... with a scope of provider or
// provider:account, a provider of reg; unscoped allows entries without one, scoped "". No period may be
// shorter than minPeriod.
func parseScoped(reg providers.Registry, s string, unscoped bool, minPeriod time.Duration) (ratelimit.Limits, error) {
	names := reg.Names()
	limits := ratelimit.Limits{}
	for i, entry := range strings.Split(s, ",") {
		scope, rates, found := strings.Cut(strings.TrimSpace(entry), "=")
		if !found && unscoped {
			scope, rates, found = "", scope, true
		}
		scope = strings.TrimSpace(scope)
		provider, account, _ := strings.Cut(scope, ":")
		switch {
		case !found:
			return nil, fmt.Errorf("entry %d %q: want provider[:account]=N/period", i+1, entry)
		case strings.TrimSpace(entry) == "":
			return nil, fmt.Errorf("entry %d: empty, want [provider[:account]=]N/period", i+1)
		case scope == "" && unscoped:
		case !slices.Contains(names, provider):
			return nil, fmt.Errorf("entry %d: unknown provider %q (%s)", i+1, provider, strings.Join(names, ", "))
		case strings.Contains(scope, ":") && !tasks.IsName(account):
			return nil, fmt.Errorf("entry %d: account name %q is not letters, digits, _ . -", i+1, account)
		}
		if limits[scope] != nil {
			return nil, fmt.Errorf("entry %d: %s given twice", i+1, scopeName(scope))
		}
		for _, r := range strings.Split(rates, "+") {
			rate, err := parseRate(r)
			if err == nil && rate.Period < minPeriod {
				err = fmt.Errorf("%q: period shorter than %s", r, minPeriod)
			}
			if err != nil {
				return nil, fmt.Errorf("entry %d (%s): %w", i+1, scopeName(scope), err)
			}
			limits[scope] = append(limits[scope], rate)
		}
	}
	return limits, nil
}

// scopeName names a scope in errors.
func scopeName(scope string) string {
	if scope == "" {
		return "the cap of every send"
	}
	return strconv.Quote(scope)
}

func parseRate(s string) (Rate, error) {
	count, period, found := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.Atoi(count)
	if !found || err != nil || n < 1 {
		return Rate{}, fmt.Errorf("%q: want N/period with N at least 1", s)
	}
	if period != "" && !strings.ContainsAny(period[:1], "0123456789.") {
		period = "1" + period
	}
	if days, ok := strings.CutSuffix(period, "d"); ok {
		if d, err := strconv.Atoi(days); err == nil {
			period = strconv.Itoa(d*24) + "h"
		}
	}
	d, err := time.ParseDuration(period)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("%q: period %q is not a duration such as s, 10s, 24h, d", s, period)
	}
	return Rate{Count: n, Period: d}, nil
}

package credentials

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/punctualhq/punctual/credentials/accountindex"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/tasks"
)

// Kind is how an account proves who it is.
type Kind string

// The kinds of credential.
const (
	// KindToken is a static token: a Mateo API key, a HighLevel Private
	// Integration token.
	KindToken Kind = "token"
	// KindOAuth is a HighLevel OAuth refresh token of a location
	// (LocationID): a Sub-Account, which sends.
	KindOAuth Kind = "oauth"
	// KindAgency is a HighLevel OAuth refresh token of an agency
	// (CompanyID): it mints its locations' tokens (KindAgencyLocation) and
	// sends nothing, as HighLevel takes messages with Sub-Account tokens
	// only.
	KindAgency Kind = accountindex.KindAgency
	// KindAgencyLocation is a location whose token a KindAgency account
	// mints (POST /oauth/locationToken).
	KindAgencyLocation Kind = "agency_location"
)

// Account is one account and its credential, as configured.
type Account struct {
	Provider string
	Name     string
	Kind     Kind
	// Token is the static token of KindToken.
	Token string
	// RefreshToken starts the chain of a KindOAuth or KindAgency account;
	// the refreshed ones are kept in Redis.
	RefreshToken string
	// LocationID is the location of a KindOAuth or KindAgencyLocation
	// account; CompanyID the agency of a KindAgency one.
	LocationID, CompanyID string
	// Agency names the KindAgency account a KindAgencyLocation's
	// token is minted with.
	Agency string
	// Window is the window of the account's sends that name none (a name
	// of SEND_WINDOWS or one spelled out); zero when it has none.
	Window tasks.Window
}

// renewable reports whether the account's access token is renewed, not given.
func (a *Account) renewable() bool { return a.Kind != KindToken }

// userType is the HighLevel user type an account's tokens act as.
func (a *Account) userType() string {
	if a.Kind == KindAgency {
		return leadconnector.UserCompany
	}
	return leadconnector.UserLocation
}

// entry is one account of ACCOUNTS_FILE, in JSON or YAML.
type entry struct {
	Name         string `json:"name" yaml:"name"`
	Provider     string `json:"provider" yaml:"provider"`
	Token        string `json:"token" yaml:"token"`
	RefreshToken string `json:"refresh_token" yaml:"refresh_token"`
	LocationID   string `json:"location_id" yaml:"location_id"`
	CompanyID    string `json:"company_id" yaml:"company_id"`
	Agency       string `json:"agency" yaml:"agency"`
	// Window is a name or an object, read by tasks.ParseWindow.
	Window any `json:"window" yaml:"window"`
}

// file is ACCOUNTS_FILE: {"accounts": [entry, ...]}.
type file struct {
	Accounts []entry `json:"accounts" yaml:"accounts"`
}

// ParseFile reads the accounts of ACCOUNTS_FILE, JSON or YAML. Every
// problem is returned, each naming its entry (by position and name) and
// field, never a secret; an account whose credential is bad is refused,
// and so is the whole file. An account's provider must be one of
// providers, the names of the worker's registry.
func ParseFile(data []byte, providers []string) ([]Account, error) {
	var f file
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("not valid JSON: %w", err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("not valid YAML: %w", redactYAML(locateYAML(data, err)))
		}
	}
	accounts := make([]Account, 0, len(f.Accounts))
	var errs []error
	for i, e := range f.Accounts {
		a, err := e.account(providers)
		if err != nil {
			errs = append(errs, fmt.Errorf("accounts[%d] %q: %w", i, e.Name, err))
			continue
		}
		accounts = append(accounts, a)
	}
	return accounts, errors.Join(errs...)
}

// yamlSyntax is how yaml.v3 words a syntax error: "yaml: line 3: did not
// find expected key", the line being optional.
var yamlSyntax = regexp.MustCompile(`^yaml: (?:line \d+: )?`)

// locateYAML gives a YAML syntax error the line of its fault. yaml.v3
// (v3.0.1 decode.go, parser.fail) names the line before the one where the
// enclosing block starts, not the line of the fault: a fault on line 6 of
// a list of accounts is said to be on line 1. The fault is on the first
// line whose prefix of the document fails with the same problem, found by
// bisection as a longer prefix holds the fault too. Errors that are not
// syntax errors (type mismatches, duplicate keys) name their line right
// and are returned as they are.
func locateYAML(data []byte, err error) error {
	msg := err.Error()
	loc := yamlSyntax.FindStringIndex(msg)
	if loc == nil {
		return err
	}
	problem := msg[loc[1]:]
	lines := bytes.SplitAfter(data, []byte("\n"))
	line := sort.Search(len(lines), func(i int) bool {
		var n yaml.Node
		err := yaml.NewDecoder(bytes.NewReader(bytes.Join(lines[:i+1], nil))).Decode(&n)
		return err != nil && strings.HasSuffix(err.Error(), ": "+problem)
	}) + 1
	if line > len(lines) { // not found again: keep what yaml.v3 said
		return err
	}
	return fmt.Errorf("line %d: %s", line, problem)
}

// redactYAML keeps what yaml.v3 says of a type mismatch but not the value
// it quotes, which may be a token.
func redactYAML(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	lines := make([]string, len(te.Errors))
	for i, msg := range te.Errors {
		// "line 3: cannot unmarshal !!seq into string" or "line 4: field tokn not found in type ..."
		if before, _, found := strings.Cut(msg, "`"); found {
			msg = strings.TrimSpace(before) + " (value not shown)"
		}
		lines[i] = msg
	}
	return errors.New(strings.Join(lines, "; "))
}

// account checks an entry, whose provider must be one of providers, and
// gives its kind.
func (e entry) account(providers []string) (Account, error) {
	a := Account{Provider: e.Provider, Name: e.Name, Token: e.Token, RefreshToken: e.RefreshToken,
		LocationID: e.LocationID, CompanyID: e.CompanyID, Agency: e.Agency}
	switch {
	case !tasks.IsName(e.Name):
		return a, errors.New("name: want letters, digits, _ . - (at most 64)")
	case !slices.Contains(providers, e.Provider):
		return a, fmt.Errorf("provider: want one of %s, got %q", strings.Join(providers, ", "), e.Provider)
	}
	set := 0
	for _, s := range []string{e.Token, e.RefreshToken, e.Agency} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return a, errors.New("want exactly one of token, refresh_token (OAuth) and agency (a location of an agency)")
	}
	switch {
	case e.Token != "":
		a.Kind = KindToken
		if e.LocationID != "" || e.CompanyID != "" {
			return a, errors.New("location_id, company_id: not with token")
		}
	case e.Provider != leadconnector.Name:
		return a, errors.New("provider: OAuth is for leadconnector only")
	case e.RefreshToken != "":
		a.Kind = KindOAuth
		switch {
		case (e.LocationID == "") == (e.CompanyID == ""):
			return a, errors.New("location_id or company_id: want one of them with refresh_token")
		case e.CompanyID == "":
		case e.Window != nil:
			return a, errors.New("window: an agency (company_id) sends nothing: give the window to its locations' entries")
		default:
			a.Kind = KindAgency
		}
	default:
		a.Kind = KindAgencyLocation
		switch {
		case e.LocationID == "":
			return a, errors.New("location_id: required with agency")
		case e.CompanyID != "":
			return a, errors.New("company_id: not with agency (it is the agency's)")
		}
	}
	if strings.ContainsAny(a.Token+a.RefreshToken, " \t\r\n") {
		return a, errors.New("token or refresh_token: contains white space")
	}
	if e.Window != nil {
		var err error
		if a.Window, err = tasks.ParseWindow(e.Window); err != nil {
			return a, err
		}
	}
	return a, nil
}

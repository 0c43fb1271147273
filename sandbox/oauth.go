package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/sandbox/fake"
)

// OAuth plays HighLevel's OAuth 2.0 for the fakes that take it
// (LeadConnector's), below each one's path, as HighLevel's published
// OpenAPI file has it: POST /oauth/token redeems an authorization code or
// a refresh token, each single use, for an access token and the next
// refresh token; POST /oauth/locationToken (Version 2021-07-28) gives an
// agency's location a token of its own. Bodies are checked against the
// published schemas (422, messages as an array); errors are
// {"statusCode","message","error"}. With OAuth on, those fakes take the
// access tokens it issued, until they expire or are revoked, besides
// their Config.Tokens; an agency's (Company) token is refused by their
// API, as HighLevel's Conversations API takes Sub-Account tokens only.
type OAuth struct {
	// ClientID and ClientSecret are the app's; any are taken when empty.
	ClientID, ClientSecret string
	// Lifetime is how long an access token lasts, given as expires_in in
	// seconds, fractions too (a number, as the published schema types it).
	// Default 86399s, as HighLevel gives.
	Lifetime time.Duration
}

// DefaultLifetime is the lifetime of HighLevel's access tokens.
const DefaultLifetime = 86399 * time.Second

// UserType is who a token acts for: a location (sub-account) or an agency (company).
const (
	UserLocation = leadconnector.UserLocation
	UserCompany  = leadconnector.UserCompany
)

// grant is what a token stands for.
type grant struct {
	userType string
	// id is the location id of a Location, the company id of a Company.
	id string
	// company is the agency of a location minted from an agency token.
	company string
	expires time.Time // access tokens only
}

// Install returns an authorization code of a location (UserLocation) or
// an agency (UserCompany), single use, as HighLevel gives the app's
// redirect URI when the app is installed; POST /oauth/token with
// grant_type authorization_code redeems it.
func (s *Server) Install(userType, id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := "sbx-code-" + randomHex()
	s.codes[code] = grant{userType: userType, id: id}
	s.issued = append(s.issued, code)
	return code
}

// Issue returns a new refresh token for a location (UserLocation) or an
// agency (UserCompany), as installing the app would.
func (s *Server) Issue(userType, id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issueRefresh(grant{userType: userType, id: id})
}

// Revoke makes every token of a location or agency id stop working, as
// uninstalling the app does.
func (s *Server) Revoke(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[string]grant{s.refresh, s.access, s.codes} {
		for tok, g := range m {
			if g.id == id || g.company == id {
				delete(m, tok)
			}
		}
	}
}

// Expire makes every access token issued so far expired, as a day going
// by would; refresh tokens keep working.
func (s *Server) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, g := range s.access {
		g.expires = time.Time{}
		s.access[tok] = g
	}
}

// LoseAnswers makes the next n redemptions of a refresh token spend it and
// issue the next ones, then close the connection without an answer: the
// chain moved on and the client never learned its new refresh token.
func (s *Server) LoseAnswers(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose = n
}

// Forbid makes the API answer 401 to every access token of a location or
// agency id, new ones too, while the token endpoints keep issuing them:
// as HighLevel does for an app that lacks a scope the request needs.
func (s *Server) Forbid(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden[id] = true
}

// Valid reports whether an access token is issued, live and not revoked.
func (s *Server) Valid(token string) bool {
	_, ok := s.accessGrant(token)
	return ok
}

// Tokens returns every token issued so far, access and refresh, live or
// not: what must never be seen in plain text elsewhere.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.issued)
}

func (s *Server) issueRefresh(g grant) string {
	tok := "sbx-refresh-" + randomHex()
	s.refresh[tok] = g
	s.issued = append(s.issued, tok)
	return tok
}

func (s *Server) issueAccess(g grant) (token string, lifetime time.Duration) {
	lifetime = s.cfg.OAuth.Lifetime
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	g.expires = time.Now().Add(lifetime)
	tok := "sbx-access-" + randomHex()
	s.access[tok] = g
	s.issued = append(s.issued, tok)
	return tok, lifetime
}

// accessGrant returns the grant of a live access token.
func (s *Server) accessGrant(token string) (grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.access[token]
	return g, ok && time.Now().Before(g.expires)
}

// permits reports whether the API takes a live access token (Forbid).
func (s *Server) permits(g grant) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.forbidden[g.id] && !s.forbidden[g.company]
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// oauthError answers as HighLevel's OAuth server does, in its published
// shape: {"statusCode","message","error"}, the message an array for a 422.
func oauthError(w http.ResponseWriter, status int, messages ...string) {
	fake.WriteJSON(w, status, leadconnector.ErrorBody(status, http.StatusText(status), messages...))
}

// tokenResponse is the answer of both token endpoints, typed as the
// published schema types it: expires_in a number, whole or not.
func tokenResponse(access, refresh string, lifetime time.Duration, g grant) leadconnector.TokenResponse {
	resp := leadconnector.TokenResponse{
		AccessToken: access, TokenType: "Bearer", ExpiresIn: json.Number(strconv.FormatFloat(lifetime.Seconds(), 'f', -1, 64)),
		RefreshToken: refresh, Scope: "conversations/message.write", UserType: g.userType, UserID: "sandbox-user",
	}
	if g.userType == UserCompany {
		resp.CompanyID = g.id
	} else {
		resp.LocationID, resp.CompanyID = g.id, g.company
	}
	return resp
}

// form reads a form-encoded body, answering 422 as HighLevel does when it
// is not one or breaks the endpoint's published schema.
func form(w http.ResponseWriter, r *http.Request, schema jsonvalue.Object) (url.Values, bool) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusUnprocessableEntity, "body must be application/x-www-form-urlencoded")
		return nil, false
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusUnprocessableEntity, "body is not a form")
		return nil, false
	}
	if err := leadconnector.CheckForm(schema, r.PostForm); err != nil {
		oauthError(w, http.StatusUnprocessableEntity, strings.Split(err.Error(), "; ")...)
		return nil, false
	}
	return r.PostForm, true
}

// oauthToken is POST /oauth/token, with grant_type refresh_token or
// authorization_code: the refresh token or the code is spent, whatever
// the answer. A wrong client is answered 401 with no more said, as an
// app's own credentials are; a spent or unknown grant 400, naming it.
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	f, ok := form(w, r, leadconnector.TokenRequestSchema)
	if !ok {
		return
	}
	o := s.cfg.OAuth
	if o.ClientID != "" && (f.Get("client_id") != o.ClientID || f.Get("client_secret") != o.ClientSecret) {
		oauthError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	var spend map[string]grant
	var presented string
	switch f.Get("grant_type") {
	case "refresh_token":
		spend, presented = s.refresh, f.Get("refresh_token")
	case "authorization_code":
		spend, presented = s.codes, f.Get("code")
	default:
		oauthError(w, http.StatusBadRequest, "the sandbox plays grant_type refresh_token and authorization_code only")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := spend[presented]
	delete(spend, presented)
	if !ok || presented == "" || (f.Get("user_type") != "" && f.Get("user_type") != g.userType) {
		oauthError(w, http.StatusBadRequest, "Invalid grant: "+strings.ReplaceAll(f.Get("grant_type"), "_", " ")+" is invalid")
		return
	}
	access, lifetime := s.issueAccess(g)
	refresh := s.issueRefresh(g)
	if s.lose > 0 {
		s.lose--
		drop(w)
		return
	}
	fake.WriteJSON(w, http.StatusOK, tokenResponse(access, refresh, lifetime, g))
}

// oauthLocationToken is POST /oauth/locationToken: an agency's access
// token gets one of its locations a token of its own. It requires
// Version 2021-07-28, the only value published for it.
func (s *Server) oauthLocationToken(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get("Version"); v != leadconnector.LocationTokenVersion {
		oauthError(w, http.StatusBadRequest, "Version header: want "+leadconnector.LocationTokenVersion+" for this endpoint")
		return
	}
	agency, ok := s.accessGrant(bearer(r))
	if !ok || agency.userType != UserCompany {
		oauthError(w, http.StatusUnauthorized, "Invalid JWT")
		return
	}
	f, ok := form(w, r, leadconnector.LocationTokenRequestSchema)
	if !ok {
		return
	}
	if f.Get("companyId") != agency.id {
		oauthError(w, http.StatusBadRequest, "companyId is not the token's")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := grant{userType: UserLocation, id: f.Get("locationId"), company: agency.id}
	access, lifetime := s.issueAccess(g)
	fake.WriteJSON(w, http.StatusOK, tokenResponse(access, "", lifetime, g))
}

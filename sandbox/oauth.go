package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/punctualhq/punctual/sandbox/fake"
)

// OAuth plays HighLevel's OAuth 2.0 for the fakes that take it
// (LeadConnector's), below each one's path: POST /oauth/token redeems a
// refresh token, single use, for an access token and the next refresh
// token; POST /oauth/locationToken gives an agency's location a token of
// its own. With OAuth on, those fakes take the access tokens it issued,
// until they expire or are revoked, besides their Config.Tokens.
type OAuth struct {
	// ClientID and ClientSecret are the app's; any are taken when empty.
	ClientID, ClientSecret string
	// Lifetime is how long an access token lasts. Default 86399s, as
	// HighLevel gives.
	Lifetime time.Duration
}

// DefaultLifetime is the lifetime of HighLevel's access tokens.
const DefaultLifetime = 86399 * time.Second

// UserType is who a token acts for: a location (sub-account) or an agency (company).
const (
	UserLocation = "Location"
	UserCompany  = "Company"
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
	for _, m := range []map[string]grant{s.refresh, s.access} {
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

// oauthError answers as HighLevel's OAuth server does: {"error","error_description"}.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	fake.WriteJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// tokenResponse is the answer of both token endpoints.
func tokenResponse(access, refresh string, lifetime time.Duration, g grant) map[string]any {
	resp := map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": int(lifetime / time.Second),
		"scope": "conversations/message.write", "userType": g.userType, "userId": "sandbox-user",
	}
	if refresh != "" {
		resp["refresh_token"] = refresh
	}
	if g.userType == UserCompany {
		resp["companyId"] = g.id
	} else {
		resp["locationId"], resp["companyId"] = g.id, g.company
	}
	return resp
}

// oauthToken is POST /oauth/token with grant_type refresh_token: the
// refresh token is spent, whatever the answer.
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "want a form-encoded body")
		return
	}
	f := r.PostForm
	o := s.cfg.OAuth
	switch {
	case f.Get("grant_type") != "refresh_token":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be refresh_token")
		return
	case o.ClientID != "" && (f.Get("client_id") != o.ClientID || f.Get("client_secret") != o.ClientSecret):
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.refresh[f.Get("refresh_token")]
	delete(s.refresh, f.Get("refresh_token"))
	if !ok || (f.Get("user_type") != "" && f.Get("user_type") != g.userType) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid grant: refresh token is invalid")
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
// token gets one of its locations a token of its own.
func (s *Server) oauthLocationToken(w http.ResponseWriter, r *http.Request) {
	f := s.route(r.URL.Path)
	agency, ok := s.accessGrant(bearer(r))
	if !ok || agency.userType != UserCompany {
		f.refuse(w, http.StatusUnauthorized, "unauthorized", "Invalid JWT")
		return
	}
	if err := r.ParseForm(); err != nil || r.PostForm.Get("locationId") == "" || r.PostForm.Get("companyId") != agency.id {
		f.refuse(w, http.StatusBadRequest, "Bad Request", "want companyId (the token's) and locationId, form-encoded")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g := grant{userType: UserLocation, id: r.PostForm.Get("locationId"), company: agency.id}
	access, lifetime := s.issueAccess(g)
	fake.WriteJSON(w, http.StatusOK, tokenResponse(access, "", lifetime, g))
}

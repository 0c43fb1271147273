package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/punctualhq/punctual/providers/leadconnector"
)

// oauthTimeout bounds one request to HighLevel's OAuth server; the Redis
// lock that makes one process redeem a refresh token lasts longer.
const oauthTimeout = 10 * time.Second

// assumedLifetime is how long an access token is taken to last when the
// answer gives no expires_in (the published schema makes it optional):
// it is renewed ahead of that, or at its first 401.
const assumedLifetime = time.Hour

// oauthClient asks HighLevel's OAuth server for tokens.
type oauthClient struct {
	base             string
	clientID, secret string
	http             *http.Client
}

// issued is what a token endpoint gives: an access token, until when it
// lasts, the next refresh token (none for a location token), and whom
// the token is of, as far as the answer says.
type issued struct {
	Access, Refresh string
	Expires         time.Time
	// UserType, LocationID and CompanyID are the answer's, "" when absent.
	UserType, LocationID, CompanyID string
}

// The ways the OAuth server refuses, as far as its answer tells.
type refusal int

const (
	// refusedUnclear is a refusal that names neither the grant nor the
	// app: the chain is kept, and the account waits a while.
	refusedUnclear refusal = iota
	// refusedGrant names the credential presented (a spent or revoked
	// refresh token, an agency token refused): the account needs a new one.
	refusedGrant
	// refusedApp is of the app itself (LEADCONNECTOR_CLIENT_ID and
	// _SECRET): an outage of the app, every chain kept.
	refusedApp
)

// RefusedError is the OAuth server's refusal of a token request. Trying
// again with the same credentials would not help.
type RefusedError struct {
	Status int
	// Reason is what the answer said, never a secret: an RFC 6749 code
	// such as invalid_grant, or the status and HighLevel's message.
	Reason string
	kind   refusal
}

func (e *RefusedError) Error() string {
	return "the OAuth server refused the token request: " + e.Reason
}

// errNoAnswer is the error of a request whose answer did not come: a
// refresh token may be spent without its successor known.
var errNoAnswer = errors.New("no answer")

// refresh redeems a refresh token: POST /oauth/token. The token is spent
// once the request is written, whatever the answer. The published
// operation takes no Version header, and none is sent.
func (c *oauthClient) refresh(ctx context.Context, refreshToken, userType string) (issued, error) {
	return c.post(ctx, leadconnector.PathToken, "", "", url.Values{
		"client_id": {c.clientID}, "client_secret": {c.secret}, "grant_type": {"refresh_token"},
		"refresh_token": {refreshToken}, "user_type": {userType},
	})
}

// locationToken mints a location's token with its agency's: POST
// /oauth/locationToken, with the one Version it takes (2021-07-28).
func (c *oauthClient) locationToken(ctx context.Context, agencyToken, companyID, locationID string) (issued, error) {
	return c.post(ctx, leadconnector.PathLocationToken, agencyToken, leadconnector.LocationTokenVersion,
		url.Values{"companyId": {companyID}, "locationId": {locationID}})
}

func (c *oauthClient) post(ctx context.Context, path, bearer, version string, form url.Values) (issued, error) {
	ctx, cancel := context.WithTimeout(ctx, oauthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return issued{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if version != "" {
		req.Header.Set("Version", version)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return issued{}, fmt.Errorf("POST %s: %w: %w", path, errNoAnswer, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return issued{}, fmt.Errorf("POST %s: %w: reading it: %w", path, errNoAnswer, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return issued{}, fmt.Errorf("POST %s: %d: try again later", path, resp.StatusCode)
	case resp.StatusCode >= 400:
		return issued{}, refused(path, resp.StatusCode, body, bearer, form)
	}
	var ans leadconnector.TokenResponse
	if err := json.Unmarshal(body, &ans); err != nil {
		return issued{}, fmt.Errorf("POST %s: %w: %d with an answer that is not a token answer", path, errNoAnswer, resp.StatusCode)
	}
	got := issued{Access: ans.AccessToken, Refresh: ans.RefreshToken, UserType: ans.UserType, LocationID: ans.LocationID, CompanyID: ans.CompanyID}
	lifetime := assumedLifetime
	if secs, err := strconv.ParseFloat(ans.ExpiresIn.String(), 64); err == nil && secs > 0 && secs < 10*366*86400 {
		lifetime = time.Duration(secs * float64(time.Second))
	}
	got.Expires = time.Now().Add(lifetime)
	return got, nil
}

// refused reads an error answer of the OAuth server: HighLevel's
// published {"statusCode","message","error"} (the message an array for a
// 422), or RFC 6749's {"error","error_description"}, which it does not
// document but a server may give. Only an answer that names the grant is
// a refusal of the account's credential (refusedGrant); a 401 of POST
// /oauth/token, whose only credentials in a header-less request are the
// app's, or an answer naming the client, is of the app; anything else
// cannot tell. For POST /oauth/locationToken a 401 is of the agency's
// token, the credential presented.
func refused(path string, status int, body []byte, bearer string, form url.Values) *RefusedError {
	var ans struct {
		leadconnector.APIErrorBody
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &ans)
	message := strings.Join(ans.Messages(), "; ")
	if message == "" {
		message = ans.Description
	}
	for _, secret := range []string{bearer, form.Get("refresh_token"), form.Get("client_secret"), form.Get("code")} {
		if secret != "" && (strings.Contains(message, secret) || strings.Contains(ans.Error, secret)) {
			message, ans.Error = "(not shown: it quotes a credential)", ""
		}
	}
	if len(message) > 200 {
		message = message[:200] + "…"
	}
	e := &RefusedError{Status: status, Reason: strings.TrimSpace(fmt.Sprintf("%d %s", status, message))}
	lower := strings.ToLower(message)
	switch code := ans.Error; {
	case code == "invalid_grant":
		e.kind, e.Reason = refusedGrant, code
	case code == "invalid_client" || code == "unauthorized_client":
		e.kind, e.Reason = refusedApp, code
	case isRFCCode(code):
		e.kind, e.Reason = refusedUnclear, code
	case path == leadconnector.PathLocationToken && status == http.StatusUnauthorized:
		e.kind = refusedGrant
	case strings.Contains(lower, "grant") || strings.Contains(lower, "refresh token") || strings.Contains(lower, "refresh_token"):
		e.kind = refusedGrant
	case strings.Contains(lower, "client"), path == leadconnector.PathToken && status == http.StatusUnauthorized:
		e.kind = refusedApp
	}
	return e
}

// isRFCCode reports whether s is one of RFC 6749's error codes (§5.2).
func isRFCCode(s string) bool {
	switch s {
	case "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_scope":
		return true
	}
	return false
}

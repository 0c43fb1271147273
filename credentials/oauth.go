package credentials

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// oauthTimeout bounds one request to HighLevel's OAuth server; the Redis
// lock that makes one process redeem a refresh token lasts longer.
const oauthTimeout = 10 * time.Second

// oauthClient asks HighLevel's OAuth server for tokens.
type oauthClient struct {
	base, version    string
	clientID, secret string
	http             *http.Client
}

// issued is what a token endpoint gives: an access token, until when it
// lasts, and the next refresh token (none for a location token).
type issued struct {
	Access, Refresh string
	Expires         time.Time
}

// RefusedError is the OAuth server's refusal of a credential: a spent or
// revoked refresh token (invalid_grant), an app not installed in the
// location. Trying again with the same credential would not help.
type RefusedError struct {
	Status int
	// Code is the server's error code, such as invalid_grant.
	Code string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the OAuth server refused the credential: %d %s", e.Status, e.Code)
}

// appFault reports whether the refusal is of the app (LEADCONNECTOR_CLIENT_ID
// and _SECRET), not of the account's credential.
func (e *RefusedError) appFault() bool {
	return e.Code == "invalid_client" || e.Code == "unauthorized_client"
}

// errNoAnswer is the error of a request whose answer did not come: a
// refresh token may be spent without its successor known.
var errNoAnswer = errors.New("no answer")

// refresh redeems a refresh token: POST /oauth/token. The token is spent
// once the request is written, whatever the answer.
func (c *oauthClient) refresh(ctx context.Context, refreshToken, userType string) (issued, error) {
	return c.post(ctx, "/oauth/token", "", url.Values{
		"client_id": {c.clientID}, "client_secret": {c.secret}, "grant_type": {"refresh_token"},
		"refresh_token": {refreshToken}, "user_type": {userType},
	})
}

// locationToken mints a location's token with its agency's: POST /oauth/locationToken.
func (c *oauthClient) locationToken(ctx context.Context, agencyToken, companyID, locationID string) (issued, error) {
	return c.post(ctx, "/oauth/locationToken", agencyToken, url.Values{"companyId": {companyID}, "locationId": {locationID}})
}

func (c *oauthClient) post(ctx context.Context, path, bearer string, form url.Values) (issued, error) {
	ctx, cancel := context.WithTimeout(ctx, oauthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return issued{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Version", c.version)
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
	var ans struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
		// Error is the OAuth error code; HighLevel's API errors give
		// {"statusCode","message","error"} with the status text in error.
		Error string `json:"error"`
	}
	jerr := json.Unmarshal(body, &ans)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return issued{}, fmt.Errorf("POST %s: %d: try again later", path, resp.StatusCode)
	case resp.StatusCode >= 400:
		code := ans.Error
		if !isCode(code) || strings.Contains(bearer+form.Get("refresh_token")+form.Get("client_secret"), code) {
			code = "" // not an OAuth code, or a secret echoed: it is not repeated
		}
		return issued{}, &RefusedError{Status: resp.StatusCode, Code: code}
	case jerr != nil || ans.AccessToken == "" || ans.ExpiresIn <= 0:
		return issued{}, fmt.Errorf("POST %s: %d without access_token and expires_in", path, resp.StatusCode)
	}
	return issued{Access: ans.AccessToken, Refresh: ans.RefreshToken, Expires: time.Now().Add(time.Duration(ans.ExpiresIn) * time.Second)}, nil
}

// isCode reports whether s has the form of an OAuth error code, such as
// invalid_grant, or of an HTTP status text: letters and underscores.
// Anything else in the error field may be a token and is not repeated.
func isCode(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && r != '_' {
			return false
		}
	}
	return true
}

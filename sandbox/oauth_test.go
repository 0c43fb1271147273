package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/sandbox"
)

// form is the header of a form-encoded request, with token as bearer when given.
func form(token string) http.Header {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Version": {"2021-07-28"}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

// tokens is the answer of a token endpoint.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	LocationID   string `json:"locationId"`
	CompanyID    string `json:"companyId"`
	UserType     string `json:"userType"`
}

func TestOAuthRotatesSingleUseRefreshTokens(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sandbox.Config{
		Tokens: map[string]map[string]string{leadconnector.Name: {lcTok: "static"}},
		OAuth:  &sandbox.OAuth{ClientID: "app", ClientSecret: "shh", Lifetime: time.Second},
	})
	refresh := sb.Issue(sandbox.UserLocation, "loc1")
	exchange := func(refresh, secret string) answer {
		v := url.Values{"client_id": {"app"}, "client_secret": {secret}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}, "user_type": {"Location"}}
		return send(t, srv, "POST", "/oauth/token", form(""), v.Encode())
	}
	decode := func(a answer) tokens {
		t.Helper()
		var tk tokens
		if a.status != http.StatusOK {
			t.Fatalf("status %d: %s", a.status, a.body)
		}
		if err := json.Unmarshal(a.body, &tk); err != nil {
			t.Fatal(err)
		}
		return tk
	}
	first := decode(exchange(refresh, "shh"))
	if first.ExpiresIn != 1 || first.LocationID != "loc1" || first.UserType != "Location" || first.RefreshToken == refresh || first.RefreshToken == "" {
		t.Fatalf("first exchange: %+v", first)
	}
	exchange(refresh, "shh").check(t, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Invalid grant: refresh token is invalid"}`)
	exchange(first.RefreshToken, "wrong").check(t, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"unknown client or wrong secret"}`)
	second := decode(exchange(first.RefreshToken, "shh"))

	if a := send(t, srv, "POST", "/conversations/messages", lcHeader(second.AccessToken), smsBody); a.status != http.StatusOK {
		t.Fatalf("a live access token: status %d: %s", a.status, a.body)
	}
	lc401 := lcError(401, "invalid or missing bearer token")
	send(t, srv, "POST", "/conversations/messages", lcHeader("sbx-access-unknown"), smsBody).check(t, 401, lc401)
	if a := send(t, srv, "POST", "/conversations/messages", lcHeader(lcTok), smsBody); a.status != http.StatusOK {
		t.Fatalf("a static token with OAuth on: status %d: %s", a.status, a.body)
	}
	sb.Expire()
	send(t, srv, "POST", "/conversations/messages", lcHeader(second.AccessToken), smsBody).check(t, 401, lc401)

	third := decode(exchange(second.RefreshToken, "shh"))
	sb.Revoke("loc1")
	send(t, srv, "POST", "/conversations/messages", lcHeader(third.AccessToken), smsBody).check(t, 401, lc401)
	exchange(third.RefreshToken, "shh").check(t, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Invalid grant: refresh token is invalid"}`)
}

func TestOAuthLocationToken(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sandbox.Config{OAuth: &sandbox.OAuth{}})
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {sb.Issue(sandbox.UserCompany, "co1")}, "user_type": {"Company"}}
	a := send(t, srv, "POST", "/oauth/token", form(""), v.Encode())
	var agency tokens
	if err := json.Unmarshal(a.body, &agency); err != nil || a.status != 200 || agency.CompanyID != "co1" || agency.ExpiresIn != 86399 {
		t.Fatalf("agency token: %d %s", a.status, a.body)
	}
	mint := func(token, company string) answer {
		return send(t, srv, "POST", "/oauth/locationToken", form(token), url.Values{"companyId": {company}, "locationId": {"loc9"}}.Encode())
	}
	mint("sbx-access-nobody", "co1").check(t, 401, lcError(401, "Invalid JWT"))
	mint(agency.AccessToken, "co2").check(t, 400, lcError(400, "want companyId (the token's) and locationId, form-encoded"))
	a = mint(agency.AccessToken, "co1")
	var loc tokens
	if err := json.Unmarshal(a.body, &loc); err != nil || a.status != 200 || loc.LocationID != "loc9" || loc.CompanyID != "co1" || loc.UserType != "Location" || loc.RefreshToken != "" {
		t.Fatalf("location token: %d %s", a.status, a.body)
	}
	if a := send(t, srv, "POST", "/conversations/messages", lcHeader(loc.AccessToken), smsBody); a.status != 200 {
		t.Fatalf("the location token: status %d: %s", a.status, a.body)
	}
	// With OAuth on and no static tokens, only the tokens issued are taken.
	send(t, srv, "POST", "/conversations/messages", lcHeader("tok-anything"), smsBody).check(t, 401, lcError(401, "invalid or missing bearer token"))
	sb.Revoke("co1")
	send(t, srv, "POST", "/conversations/messages", lcHeader(loc.AccessToken), smsBody).check(t, 401, lcError(401, "invalid or missing bearer token"))
}

func TestOAuthLosesAnswersAndForbidsTokens(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sandbox.Config{OAuth: &sandbox.OAuth{}})
	exchange := func(refresh string) (answer, error) {
		v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "user_type": {"Location"}}
		return try(t, srv, "POST", "/oauth/token", form(""), v.Encode())
	}
	refresh := sb.Issue(sandbox.UserLocation, "loc1")
	sb.LoseAnswers(1)
	if a, err := exchange(refresh); err == nil {
		t.Fatalf("a lost answer came: %d %s", a.status, a.body)
	}
	// The token was spent all the same.
	a, err := exchange(refresh)
	if err != nil {
		t.Fatal(err)
	}
	a.check(t, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Invalid grant: refresh token is invalid"}`)
	if got := sb.Requests(); len(got) != 2 || got[0].Status != 0 {
		t.Errorf("requests %+v, want the lost answer recorded with status 0", got)
	}

	var tk tokens
	if a, err = exchange(sb.Issue(sandbox.UserLocation, "loc2")); err != nil || json.Unmarshal(a.body, &tk) != nil {
		t.Fatalf("%v %s", err, a.body)
	}
	sb.Forbid("loc2")
	send(t, srv, "POST", "/conversations/messages", lcHeader(tk.AccessToken), smsBody).check(t, 401, lcError(401, "invalid or missing bearer token"))
	if !sb.Valid(tk.AccessToken) {
		t.Error("a forbidden location's token is no longer valid at the token endpoints")
	}
}

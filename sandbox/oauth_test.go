package sandbox_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/jsonvalue"
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
	AccessToken  string  `json:"access_token"`
	RefreshToken string  `json:"refresh_token"`
	ExpiresIn    float64 `json:"expires_in"`
	LocationID   string  `json:"locationId"`
	CompanyID    string  `json:"companyId"`
	UserType     string  `json:"userType"`
	UserID       string  `json:"userId"`
}

// invalidGrant is the answer to a spent or unknown refresh token.
var invalidGrant = lcError(400, "Invalid grant: refresh token is invalid")

// redeem is the form of POST /oauth/token for a refresh token, of any app.
func redeem(refresh, userType string) string {
	return url.Values{"client_id": {"any"}, "client_secret": {"any"}, "grant_type": {"refresh_token"}, "refresh_token": {refresh}, "user_type": {userType}}.Encode()
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
	exchange(refresh, "shh").check(t, http.StatusBadRequest, invalidGrant)
	// A wrong secret says no more than 401 Unauthorized, and spends nothing.
	exchange(first.RefreshToken, "wrong").check(t, http.StatusUnauthorized, lcError(401, "Unauthorized"))
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
	exchange(third.RefreshToken, "shh").check(t, http.StatusBadRequest, invalidGrant)
}

func TestOAuthLocationToken(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sandbox.Config{OAuth: &sandbox.OAuth{}})
	a := send(t, srv, "POST", "/oauth/token", form(""), redeem(sb.Issue(sandbox.UserCompany, "co1"), "Company"))
	var agency tokens
	if err := json.Unmarshal(a.body, &agency); err != nil || a.status != 200 || agency.CompanyID != "co1" || agency.ExpiresIn != 86399 {
		t.Fatalf("agency token: %d %s", a.status, a.body)
	}
	// The published API takes Sub-Account tokens only on messages.
	send(t, srv, "POST", "/conversations/messages", lcHeader(agency.AccessToken), smsBody).
		check(t, 401, lcError(401, "an agency (Company) token: this endpoint takes a Sub-Account (Location) token"))
	mint := func(token, company string) answer {
		return send(t, srv, "POST", "/oauth/locationToken", form(token), url.Values{"companyId": {company}, "locationId": {"loc9"}}.Encode())
	}
	mint("sbx-access-nobody", "co1").check(t, 401, lcError(401, "Invalid JWT"))
	mint(agency.AccessToken, "co2").check(t, 400, lcError(400, "companyId is not the token's"))
	// The endpoint's one published Version, whatever LEADCONNECTOR_VERSION is.
	for _, v := range []string{"", "2021-04-15"} {
		send(t, srv, "POST", "/oauth/locationToken", with(form(agency.AccessToken), "Version", v), url.Values{"companyId": {"co1"}, "locationId": {"loc9"}}.Encode()).
			check(t, 400, lcError(400, "Version header: want 2021-07-28 for this endpoint"))
	}
	send(t, srv, "POST", "/oauth/locationToken", form(agency.AccessToken), url.Values{"companyId": {"co1"}}.Encode()).
		check(t, 422, `{"statusCode":422,"message":["body.locationId: required"],"error":"Unprocessable Entity"}`)
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
		return try(t, srv, "POST", "/oauth/token", form(""), redeem(refresh, "Location"))
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
	a.check(t, http.StatusBadRequest, invalidGrant)
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

func TestOAuthTokenAnswersAsThePublishedSchema(t *testing.T) {
	t.Parallel()
	sb, srv := setup(t, sandbox.Config{OAuth: &sandbox.OAuth{ClientID: "app", ClientSecret: "shh", Lifetime: 86399500 * time.Millisecond}})
	post := func(v url.Values) answer { return send(t, srv, "POST", "/oauth/token", form(""), v.Encode()) }
	app := func(more ...string) url.Values {
		v := url.Values{"client_id": {"app"}, "client_secret": {"shh"}}
		for i := 0; i < len(more); i += 2 {
			v.Set(more[i], more[i+1])
		}
		return v
	}
	// An install's code, redeemed once: a number of seconds, fractions too.
	code := sb.Install(sandbox.UserLocation, "loc1")
	a := post(app("grant_type", "authorization_code", "code", code, "user_type", "Location"))
	if err := jsonvalue.Validate(leadconnector.TokenResponseSchema, "answer", a.body); a.status != 200 || err != nil {
		t.Fatalf("%d %s: %v", a.status, a.body, err)
	}
	var tk tokens
	if err := json.Unmarshal(a.body, &tk); err != nil || tk.ExpiresIn != 86399.5 || tk.LocationID != "loc1" || tk.RefreshToken == "" || tk.UserID == "" {
		t.Fatalf("the code's tokens: %s", a.body)
	}
	post(app("grant_type", "authorization_code", "code", code)).check(t, 400, lcError(400, "Invalid grant: authorization code is invalid"))
	// Bodies that break the published schema: 422, the messages an array.
	for _, tc := range []struct {
		body url.Values
		want []string
	}{
		{url.Values{"grant_type": {"refresh_token"}}, []string{"body.client_id: required", "body.client_secret: required"}},
		{app("grant_type", "password"), []string{"body.grant_type: must be one of authorization_code, refresh_token, client_credentials"}},
		{app("grant_type", "refresh_token", "user_type", "Agency"), []string{"body.user_type: must be one of Company, Location"}},
		{app("grant_type", "refresh_token", "scope", "x"), []string{"body: fields not in the published schema: scope"}},
	} {
		want, _ := json.Marshal(map[string]any{"statusCode": 422, "message": tc.want, "error": "Unprocessable Entity"})
		post(tc.body).check(t, 422, string(want))
	}
}

package leadconnector

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/punctualhq/punctual/internal/jsonvalue"
)

// HighLevel's OAuth 2.0 server, as its published OpenAPI file
// (GoHighLevel/highlevel-api-docs apps/oauth.json, 2026-05-01) has it.
// Both endpoints take a form-encoded body and answer JSON; their errors
// are HighLevel's {"statusCode","message","error"} (APIErrorBody), not
// RFC 6749's {"error","error_description"}.
const (
	// PathToken is POST /oauth/token: an authorization code or a refresh
	// token redeemed for an access token and the next refresh token. The
	// published operation takes no Version header.
	PathToken = "/oauth/token"
	// PathLocationToken is POST /oauth/locationToken: an agency's access
	// token gets one of its locations a token of its own, with no refresh
	// token.
	PathLocationToken = "/oauth/locationToken"
	// LocationTokenVersion is the Version header POST /oauth/locationToken
	// requires: the only value its published operation allows, whatever
	// LEADCONNECTOR_VERSION is.
	LocationTokenVersion = "2021-07-28"
)

// The user types of a token: a Sub-Account (location) or an agency
// (company). Messages are sent with a Location token only.
const (
	UserLocation = "Location"
	UserCompany  = "Company"
)

// TokenRequestSchema is the published body of POST /oauth/token
// (GetAccessCodebodyDto), form fields as strings.
var TokenRequestSchema = jsonvalue.Object{
	Required: []string{"client_id", "client_secret", "grant_type"},
	Properties: map[string]jsonvalue.Schema{
		"client_id":     text,
		"client_secret": text,
		"grant_type":    jsonvalue.String{Enum: []string{"authorization_code", "refresh_token", "client_credentials"}},
		"code":          text,
		"refresh_token": text,
		"user_type":     jsonvalue.String{Enum: []string{UserCompany, UserLocation}},
		"redirect_uri":  text,
	},
}

// LocationTokenRequestSchema is the published body of POST
// /oauth/locationToken (GetLocationAccessCodeBodyDto).
var LocationTokenRequestSchema = jsonvalue.Object{
	Required:   []string{"companyId", "locationId"},
	Properties: map[string]jsonvalue.Schema{"companyId": text, "locationId": text},
}

// CheckForm checks a form-encoded body against a request schema of the
// OAuth endpoints: every field given once, known to the schema, of its
// type and enum; the required ones present. Its error names each field
// that breaks it, never a value.
func CheckForm(schema jsonvalue.Object, form url.Values) error {
	obj := make(map[string]any, len(form))
	var unknown []string
	for name, values := range form {
		if _, ok := schema.Properties[name]; !ok {
			unknown = append(unknown, name)
			continue
		}
		if len(values) != 1 {
			return fmt.Errorf("body.%s: given %d times", name, len(values))
		}
		obj[name] = values[0]
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("body: fields not in the published schema: %s", strings.Join(unknown, ", "))
	}
	if err := jsonvalue.Check(schema, "body", obj); err != nil {
		// An enum error quotes the value; a value may be a secret.
		return redactValues(err)
	}
	return nil
}

// redactValues keeps the field and the rule of each line of err, not the
// value it quotes.
func redactValues(err error) error {
	lines := strings.Split(err.Error(), "\n")
	for i, l := range lines {
		if before, _, ok := strings.Cut(l, `: "`); ok {
			lines[i] = before
		}
	}
	return fmt.Errorf("%s", strings.Join(lines, "; "))
}

// TokenResponse is the answer of both token endpoints
// (GetAccessCodeSuccessfulResponseDto, GetLocationAccessTokenSuccessfulResponseDto).
// Only userId is required by the published schema: every other field may
// be absent, and ExpiresIn is a number, not an integer.
type TokenResponse struct {
	AccessToken  string      `json:"access_token,omitempty"`
	TokenType    string      `json:"token_type,omitempty"`
	ExpiresIn    json.Number `json:"expires_in,omitempty"`
	RefreshToken string      `json:"refresh_token,omitempty"`
	Scope        string      `json:"scope,omitempty"`
	UserType     string      `json:"userType,omitempty"`
	// LocationID is present for a Sub-Account token only.
	LocationID string `json:"locationId,omitempty"`
	CompanyID  string `json:"companyId,omitempty"`
	UserID     string `json:"userId"`
	PlanID     string `json:"planId,omitempty"`
}

// TokenResponseSchema is the published answer of POST /oauth/token: what
// the sandbox's answers are checked against.
var TokenResponseSchema = jsonvalue.Object{
	Required: []string{"userId"},
	Properties: map[string]jsonvalue.Schema{
		"access_token": text, "token_type": text, "expires_in": jsonvalue.Number{}, "refresh_token": text,
		"scope": text, "userType": text, "locationId": text, "companyId": text, "userId": text, "planId": text,
		"approvedLocations": textList, "isBulkInstallation": jsonvalue.Boolean{},
		"installToFutureLocations": jsonvalue.Boolean{}, "approveAllLocations": jsonvalue.Boolean{},
		"appId": text, "versionId": text,
	},
}

// APIErrorBody is HighLevel's error answer: 400 and 401 with a string
// message, 422 with an array of them (BadRequestDTO, UnauthorizedDTO,
// UnprocessableDTO). Message holds either form; Messages reads it.
type APIErrorBody struct {
	StatusCode int             `json:"statusCode"`
	Message    json.RawMessage `json:"message,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// Messages returns the message of an error answer as a list: one for a
// string, each of an array; none when it is neither.
func (b APIErrorBody) Messages() []string {
	var one string
	if json.Unmarshal(b.Message, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(b.Message, &many)
	return many
}

// ErrorBody returns HighLevel's error answer of status: a 422's message
// as an array, the others' as a string.
func ErrorBody(status int, statusText string, messages ...string) APIErrorBody {
	var msg json.RawMessage
	if status == 422 {
		msg, _ = json.Marshal(messages)
	} else {
		msg, _ = json.Marshal(strings.Join(messages, "; "))
	}
	return APIErrorBody{StatusCode: status, Message: msg, Error: statusText}
}

// Package leadconnectorfake is LeadConnector's half of the sandbox: POST
// /conversations/messages, checked against LeadConnector's documented
// schema and answered in its documented shape with fresh ids. It takes the
// access tokens of the sandbox's OAuth, as LeadConnector takes
// HighLevel's.
package leadconnectorfake

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/sandbox/fake"
)

// Provider is LeadConnector's fake, at the sandbox's root as
// LeadConnector's base URL is.
var Provider = fake.Provider{
	Name:        leadconnector.Name,
	Handler:     handler,
	ErrorBody:   errorBody,
	Check:       check,
	RateHeaders: rateHeaders,
	OAuth:       true,
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /conversations/messages", sendMessage)
	return mux
}

// errorBody is LeadConnector's error shape: {"statusCode","message","error"},
// the message an array for a 422.
func errorBody(r fake.Refusal) any {
	return leadconnector.ErrorBody(r.Status, http.StatusText(r.Status), r.Message)
}

// check refuses a request whose Version header is not the one value the
// published operation allows (2021-04-15), as LeadConnector does.
func check(r *http.Request) *fake.Refusal {
	switch v := r.Header.Get("Version"); {
	case v == "":
		return &fake.Refusal{Status: http.StatusBadRequest, Code: "Bad Request", Message: "version header is required"}
	case v != leadconnector.DefaultVersion:
		return &fake.Refusal{Status: http.StatusBadRequest, Code: "Bad Request", Message: "version header: want " + leadconnector.DefaultVersion + " for this endpoint"}
	}
	return nil
}

// rateHeaders writes LeadConnector's headers, one set per window.
func rateHeaders(h http.Header, win fake.Window) {
	h.Set("X-Ratelimit-Max", strconv.Itoa(win.Count))
	h.Set("X-Ratelimit-Remaining", strconv.Itoa(win.Remaining))
	h.Set("X-Ratelimit-Interval-Milliseconds", strconv.Itoa(int(win.Period/time.Millisecond)))
	h.Set("X-Ratelimit-Limit-Daily", strconv.Itoa(win.Daily))
	h.Set("X-Ratelimit-Daily-Remaining", strconv.Itoa(win.DailyRemaining))
}

// sendMessage is POST /conversations/messages.
func sendMessage(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if bad := fake.Validate(leadconnector.SendMessageSchema, body); bad != nil {
		fake.WriteJSON(w, bad.Status, errorBody(*bad))
		return
	}
	var req leadconnector.SendMessageRequest
	_ = json.Unmarshal(body, &req)
	resp := leadconnector.SendMessageResponse{
		ConversationID: shortID(), MessageID: shortID(), Msg: "Message queued successfully.", Status: "pending",
	}
	if req.Type == "Email" {
		resp.EmailMessageID = shortID()
	}
	fake.WriteJSON(w, http.StatusOK, resp)
}

// shortID is an id in LeadConnector's form: 20 letters and digits.
func shortID() string {
	return strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
}

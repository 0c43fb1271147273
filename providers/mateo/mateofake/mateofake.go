// Package mateofake is Mateo's half of the sandbox: POST /send_message and
// PATCH /conversation, checked against Mateo's documented schemas and
// answered in its documented shapes with fresh ids, and a 409 for a
// message id already sent.
package mateofake

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/mateo"
	"github.com/punctualhq/punctual/sandbox/fake"
)

// Provider is Mateo's fake, under /api/v1 as Mateo's base URL is.
var Provider = fake.Provider{
	Name:        mateo.Name,
	Path:        "/api/v1",
	Handler:     handler,
	ErrorBody:   errorBody,
	RateHeaders: rateHeaders,
}

// server is the state of one sandbox's Mateo.
type server struct {
	mu       sync.Mutex
	messages map[string]bool // message ids sent
}

func handler() http.Handler {
	s := &server{messages: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /send_message", s.sendMessage)
	mux.HandleFunc("PATCH /conversation", s.updateConversation)
	return mux
}

// errorBody is Mateo's error shape: {"code","message","hint","status"}.
func errorBody(r fake.Refusal) any {
	return map[string]any{"code": r.Code, "message": r.Message, "hint": nil, "status": r.Status}
}

func refuse(w http.ResponseWriter, r fake.Refusal) {
	fake.WriteJSON(w, r.Status, errorBody(r))
}

// rateHeaders writes Mateo's one set of headers, which describes the
// window with the least room left: the daily one when it is the only one
// or has no more room.
func rateHeaders(h http.Header, win fake.Window) {
	limit, remaining, reset := win.Count, win.Remaining, win.Reset
	if win.Daily > 0 && (win.Count == 0 || win.DailyRemaining <= win.Remaining) {
		limit, remaining, reset = win.Daily, win.DailyRemaining, win.DailyReset
	}
	h.Set("Ratelimit-Limit", strconv.Itoa(limit))
	h.Set("Ratelimit-Remaining", strconv.Itoa(remaining))
	h.Set("Ratelimit-Reset", strconv.Itoa(int((reset+time.Second-1)/time.Second)))
}

// sendMessage is POST /send_message.
func (s *server) sendMessage(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if bad := fake.Validate(mateo.SendMessageSchema, body); bad != nil {
		refuse(w, *bad)
		return
	}
	var req mateo.SendMessageRequest
	_ = json.Unmarshal(body, &req)
	id := req.ID.Value
	if !req.ID.Valid {
		id = uuid.NewString()
	}
	s.mu.Lock()
	dup := s.messages[id]
	s.messages[id] = true
	s.mu.Unlock()
	if dup {
		fake.WriteJSON(w, http.StatusConflict, map[string]any{
			"code": "23505", "message": `duplicate key value violates unique constraint "message_pkey"`,
			"hint": nil, "details": "Key (id)=(" + id + ") already exists.", "status": http.StatusConflict,
		})
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	org := uuid.NewString()
	convID := req.ConversationID.Value
	if !req.ConversationID.Valid {
		convID = uuid.NewString()
	}
	status := req.ConversationStatus.Value
	if !req.ConversationStatus.Valid {
		status = "open"
	}
	conv := conversation(convID, org, now, status)
	conv.ChannelID = req.From
	conv.LatestMessageID = &id
	resp := mateo.SendMessageResponse{
		Conversation: conv,
		Message: mateo.Message{
			ID: id, CreatedAt: now, UpdatedAt: now, OrganisationID: org, ConversationID: convID,
			Subject: text(req.Subject), Status: "sent", SentAt: &now, Timestamp: &now,
			ReplyToMessageID: ptr(req.ReplyToMessageID), TemplateID: ptr(req.TemplateID), Footer: text(req.Footer),
		},
		Recipients: []mateo.RecipientResponse{},
		Actions:    []mateo.ActionResponse{},
	}
	for _, group := range []struct {
		role string
		list []mateo.Recipient
	}{{"to", req.To}, {"cc", req.Cc}, {"bcc", req.Bcc}} {
		role := group.role
		for _, rc := range group.list {
			var handle string
			if hs := rc.Handle.Strings(); len(hs) > 0 {
				handle = hs[0]
			}
			resp.Recipients = append(resp.Recipients, mateo.RecipientResponse{
				ID: uuid.NewString(), CreatedAt: now, UpdatedAt: now, OrganisationID: org, ConversationID: convID,
				MessageID: id, ContactID: text(rc.ContactID), Handle: handle, FullName: text(rc.FullName), Role: role, Status: "sent",
			})
		}
	}
	for _, a := range req.Actions.Value {
		resp.Actions = append(resp.Actions, mateo.ActionResponse{
			ID: uuid.NewString(), CreatedAt: now, UpdatedAt: now, OrganisationID: org, ConversationID: convID,
			MessageID: id, Text: a.Text, Data: ptr(a.Data), Type: a.Type, Subtype: a.Subtype.Value,
		})
	}
	fake.WriteJSON(w, http.StatusOK, resp)
}

// updateConversation is PATCH /conversation?id=eq.{id}.
func (s *server) updateConversation(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id, ok := strings.CutPrefix(r.URL.Query().Get("id"), "eq.")
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil || !ok { // null is no object
		refuse(w, fake.Refusal{Status: http.StatusBadRequest, Code: "PGRST100", Message: errors.Join(err, errors.New("want a JSON object and the query id=eq.{id}")).Error()})
		return
	}
	if _, has := fields["id"]; has {
		refuse(w, fake.Refusal{Status: http.StatusBadRequest, Code: "PGRST100", Message: "the conversation id belongs in the query"})
		return
	}
	fields["id"], _ = json.Marshal(id)
	withID, _ := json.Marshal(fields)
	if bad := fake.Validate(mateo.ConversationUpdateSchema, withID); bad != nil {
		refuse(w, *bad)
		return
	}
	var u mateo.ConversationUpdate
	_ = json.Unmarshal(withID, &u)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	status := u.Status
	if status == "" {
		status = "open"
	}
	conv := conversation(id, uuid.NewString(), now, status)
	if u.InboxID != "" {
		conv.InboxID = u.InboxID
	}
	conv.AssigneeID = ptr(u.AssigneeID)
	fake.WriteJSON(w, http.StatusOK, conv)
}

func conversation(id, org, now, status string) mateo.Conversation {
	unread := false
	return mateo.Conversation{
		ID: id, CreatedAt: now, UpdatedAt: now, OrganisationID: org, Unread: &unread,
		ChannelID: uuid.NewString(), InboxID: uuid.NewString(), Tags: json.RawMessage("[]"),
		Files: []json.RawMessage{}, ChannelType: "email", Status: status,
	}
}

// text is s, or nil when it is empty.
func text(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func ptr(n providers.Nullable[string]) *string {
	if !n.Valid {
		return nil
	}
	return &n.Value
}

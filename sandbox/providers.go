package sandbox

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/providers/leadconnector"
	"github.com/punctualhq/punctual/providers/mateo"
)

func readBody(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}

// invalid answers 400 when body breaks schema, in the provider's shape.
func invalid(w http.ResponseWriter, provider string, schema jsonvalue.Schema, body []byte) bool {
	err := jsonvalue.Validate(schema, "body", body)
	if err == nil {
		return false
	}
	writeError(w, provider, http.StatusBadRequest, "invalid_input", strings.ReplaceAll(err.Error(), "\n", "; "))
	return true
}

func (s *Server) mateoSendMessage(w http.ResponseWriter, r *http.Request) {
	body := readBody(r)
	if invalid(w, mateo.Name, mateo.SendMessageSchema, body) {
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
		writeJSON(w, http.StatusConflict, map[string]any{
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
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) mateoUpdateConversation(w http.ResponseWriter, r *http.Request) {
	body := readBody(r)
	id, ok := strings.CutPrefix(r.URL.Query().Get("id"), "eq.")
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil || !ok { // null is no object
		writeError(w, mateo.Name, http.StatusBadRequest, "PGRST100", errors.Join(err, errors.New("want a JSON object and the query id=eq.{id}")).Error())
		return
	}
	if _, has := fields["id"]; has {
		writeError(w, mateo.Name, http.StatusBadRequest, "PGRST100", "the conversation id belongs in the query")
		return
	}
	fields["id"], _ = json.Marshal(id)
	withID, _ := json.Marshal(fields)
	if invalid(w, mateo.Name, mateo.ConversationUpdateSchema, withID) {
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
	writeJSON(w, http.StatusOK, conv)
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

func (s *Server) leadConnectorSendMessage(w http.ResponseWriter, r *http.Request) {
	body := readBody(r)
	if invalid(w, leadconnector.Name, leadconnector.SendMessageSchema, body) {
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
	writeJSON(w, http.StatusOK, resp)
}

// shortID is an id in LeadConnector's form: 20 letters and digits.
func shortID() string {
	return strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
}

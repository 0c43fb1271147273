package leadconnector

import "encoding/json"

// addresses reads the addresses of a message body: toNumber (SMS,
// WhatsApp) and emailTo (Email), those given. A message to a contact by
// contactId alone names none: LeadConnector looks the contact up.
func addresses(body []byte) []string {
	var b struct {
		ToNumber string `json:"toNumber"`
		EmailTo  string `json:"emailTo"`
	}
	if json.Unmarshal(body, &b) != nil {
		return nil
	}
	var out []string
	for _, a := range []string{b.ToNumber, b.EmailTo} {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

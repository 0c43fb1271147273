package mateo

import "encoding/json"

// addresses reads the addresses of a send_message body: every handle of
// every to recipient. A postal recipient has none.
func addresses(body []byte) []string {
	var b struct {
		To []struct {
			Handle RecipientHandle `json:"handle"`
		} `json:"to"`
	}
	if json.Unmarshal(body, &b) != nil {
		return nil
	}
	var out []string
	for _, r := range b.To {
		out = append(out, r.Handle.Strings()...)
	}
	return out
}

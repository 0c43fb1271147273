package tasks

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/punctualhq/punctual/window"
)

func TestAResultReadsBackAsWritten(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		r    Result
		want any // the response read back
	}{
		{Result{Provider: "mateo", Status: 200, Response: json.RawMessage(`{"message": {"id": "m1"},` + "\n" + `"text":"<b>é</b>"}`)},
			map[string]any{"message": map[string]any{"id": "m1"}, "text": "<b>é</b>"}},
		{Result{Provider: "mateo", Status: 409, Duplicate: true, Response: json.RawMessage(` [1, 2] `)}, []any{1.0, 2.0}},
		{Result{Provider: "leadconnector", Status: 201, Response: json.RawMessage("not JSON \"quoted\" \x01")}, "not JSON \"quoted\" \x01"},
		{Result{Provider: "leadconnector", Status: 200, Response: json.RawMessage(`{"cut": "off`)}, `{"cut": "off`},
		{Result{Provider: "mateo", Status: 200, Response: json.RawMessage(`{"looks": like JSON}`)}, `{"looks": like JSON}`},
		{Result{Provider: "mateo", Status: 204}, nil},
	} {
		data := c.r.AppendJSON(nil)
		got, err := DecodeResult(data)
		if err != nil {
			t.Fatalf("%+v: %s: %v", c.r, data, err)
		}
		var resp any
		if len(got.Response) > 0 {
			if err := json.Unmarshal(got.Response, &resp); err != nil {
				t.Fatalf("%+v: response %s is not JSON: %v", c.r, got.Response, err)
			}
		}
		if got.Provider != c.r.Provider || got.Status != c.r.Status || got.Duplicate != c.r.Duplicate || !reflect.DeepEqual(resp, c.want) {
			t.Errorf("%s read back as %+v (response %#v), want %+v with %#v", data, got, resp, c.r, c.want)
		}
	}
}

func TestAPayloadReadsAsWritten(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 11, 21, 17, 0, 0, 123456789, time.UTC)
	for _, p := range []Payload{
		{Account: "default", Body: json.RawMessage(`{"from":"x","text":"a \"quoted\" \\ text","n":[1,2]}`)},
		{Account: "acme", Due: due, Body: json.RawMessage(`{}`)},
		{Account: "a.b-c_d", Due: due, ExpiresAt: due.Add(time.Hour), Claim: "bulk 1795280400123 0a1b2c3d", Body: json.RawMessage(`{"x":{"body":"}"}}`)},
		{Account: "acme", ExpiresAt: due, Body: json.RawMessage(`{"claim":"not mine"}`)},
		{Account: "acme", Due: due, Window: Window{Name: "tcpa"}, Body: json.RawMessage(`{"window":"not mine"}`)},
		{Account: "acme", Claim: "mateo 1795280400123 0a1b2c3d", Window: Window{Spec: window.Spec{TZ: "America/New_York", Days: "mon-sat", From: "08:00", To: "21:00"}}, Body: json.RawMessage(`{}`)},
		{Account: "acme", Window: Window{Spec: window.Spec{TZ: "auto", From: "22:00", To: "06:00"}}, Body: json.RawMessage(`{}`)},
		{Account: "acme", Due: due, Claim: "mateo 1795280400123 0a1b2c3d", Group: "contact:abc123", GroupGen: 12, Body: json.RawMessage(`{"group":"x"}`)},
		{Account: "acme", Group: "tenant/7:contact@x.org#2+b=c_d.e-f", Body: json.RawMessage(`{}`)},
		{Account: "acme", GroupGen: 3, Body: json.RawMessage(`{}`)},
	} {
		if _, ok := decodeOwn(p.encodeJSON()); !ok {
			t.Errorf("%s is not read without encoding/json", p.encodeJSON())
		}
		for _, data := range [][]byte{p.encodeJSON(), p.encode()} {
			got, err := DecodePayload(data)
			if err != nil {
				t.Fatalf("%+v: %v", p, err)
			}
			var std Payload
			plain, _ := decompress(data)
			if err := json.Unmarshal(plain, &std); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, p) || !reflect.DeepEqual(got, std) {
				t.Errorf("read back\n %+v\nwant\n %+v\nencoding/json\n %+v", got, p, std)
			}
		}
	}
	// Anything else goes to encoding/json.
	for _, text := range []string{
		`{"body":{"a":1},"account":"acme"}`,
		`{"account":"ac\u006de","body":{}}`,
		`{"account":"acme","due":"not a time","body":{}}`,
		`{"account":"acme","window":{"tz":"UTC","from":"08:00","to":"21:00"},"body":{}}`,
		`{"account":"acme","window":{"tz":"UTC","days":"","from":"08:00"},"body":{}}`,
		`{"account":"acme","window":"t\u0063pa","body":{}}`,
		`{"account":"acme","group":"g","group_gen":"7","body":{}}`,
		`{"account":"acme","group":"g","group_gen":7.5,"body":{}}`,
		`{"account":"acme","group_gen":1e3,"body":{}}`,
	} {
		got, err := DecodePayload([]byte(text))
		var std Payload
		stdErr := json.Unmarshal([]byte(text), &std)
		if (err == nil) != (stdErr == nil) || !reflect.DeepEqual(got, std) {
			t.Errorf("%s: %+v, %v; encoding/json %+v, %v", text, got, err, std, stdErr)
		}
	}
}

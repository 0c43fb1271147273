package config_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/providers/builtin"
)

func TestParseRecipientCaps(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	for _, tc := range []struct {
		name, in string
		want     config.RecipientCaps
	}{
		{"none", "", nil},
		{"off", " off ", nil},
		{"every send", "3/24h", config.RecipientCaps{"": {{Count: 3, Period: day}}}},
		{"every send, two rates", "1/h+3/d", config.RecipientCaps{"": {{Count: 1, Period: time.Hour}, {Count: 3, Period: day}}}},
		{"scopes", " 3/24h , mateo=2/24h,leadconnector:acme=1/1h", config.RecipientCaps{
			"": {{Count: 3, Period: day}}, "mateo": {{Count: 2, Period: day}}, "leadconnector:acme": {{Count: 1, Period: time.Hour}},
		}},
		{"a second", "mateo=1/s", config.RecipientCaps{"mateo": {{Count: 1, Period: time.Second}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseRecipientCaps(builtin.Registry(), tc.in)
			if err != nil {
				t.Fatalf("ParseRecipientCaps(%q): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseRecipientCaps(%q) = %v, want %v", tc.in, got, tc.want)
			}
			load(t, map[string]string{"RECIPIENT_CAPS": tc.in})
		})
	}
}

func TestParseRecipientCapsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"not a cap", "3", []string{"entry 1", `"3"`, "N/period"}},
		{"no count", "/24h", []string{"entry 1", "N at least 1"}},
		{"zero", "mateo=0/24h", []string{"entry 1", `"mateo"`, "N at least 1"}},
		{"bad period", "3/24h,mateo=3/fortnight", []string{"entry 2", `"mateo"`, `"3/fortnight"`, "not a duration"}},
		{"under a second", "3/500ms", []string{"entry 1", "the cap of every send", "shorter than 1s"}},
		{"unknown provider", "3/24h,sms=1/h", []string{"entry 2", `unknown provider "sms"`}},
		{"bad account", "mateo:ac me=1/h", []string{"entry 1", `account name "ac me"`}},
		{"every send twice", "3/24h,mateo=1/h,2/h", []string{"entry 3", "the cap of every send", "twice"}},
		{"scope twice", "mateo:acme=1/h,mateo:acme=2/h", []string{"entry 2", `"mateo:acme"`, "twice"}},
		{"empty entry", "3/24h,", []string{"entry 2", "empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseRecipientCaps(builtin.Registry(), tc.in)
			if got != nil {
				t.Errorf("ParseRecipientCaps(%q) = %v, want nil", tc.in, got)
			}
			checkError(t, err, tc.want)
			loadError(t, map[string]string{"RECIPIENT_CAPS": tc.in}, append([]string{"RECIPIENT_CAPS:"}, tc.want...))
		})
	}
}

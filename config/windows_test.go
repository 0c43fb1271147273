package config_test

import (
	"reflect"
	"testing"

	"github.com/punctualhq/punctual/config"
	"github.com/punctualhq/punctual/window"
	"github.com/punctualhq/punctual/worker"
)

func TestParseSendWindows(t *testing.T) {
	t.Parallel()
	in := " tcpa=auto 08:00-21:00; office=Europe/Berlin mon-fri 09:00-17:00;night=UTC sat,sun 22:00-06:00;"
	want := map[string]window.Spec{
		"tcpa":   {TZ: "auto", From: "08:00", To: "21:00"},
		"office": {TZ: "Europe/Berlin", Days: "mon-fri", From: "09:00", To: "17:00"},
		"night":  {TZ: "UTC", Days: "sat,sun", From: "22:00", To: "06:00"},
	}
	got, err := config.ParseSendWindows(in)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseSendWindows(%q) = %v, %v; want %v", in, got, err, want)
	}
	c := load(t, map[string]string{"SEND_WINDOWS": in})
	wc, err := worker.ConfigFrom(c)
	if err != nil || !reflect.DeepEqual(wc.SendWindows, want) {
		t.Errorf("the worker's windows %v (%v), want %v", wc.SendWindows, err, want)
	}
	if got, err := config.ParseSendWindows(""); got != nil || err != nil {
		t.Errorf("unset: %v, %v; want no windows", got, err)
	}
}

func TestParseSendWindowsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"unknown zone", "tcpa=auto 08:00-21:00;ny=America/Nowhere 08:00-21:00", []string{"entry 2", `"ny"`, `tz: unknown time zone "America/Nowhere"`}},
		{"unknown day", "ny=America/New_York mon-fry 08:00-21:00", []string{"entry 1", `days: unknown day "fry"`}},
		{"bad hour", "ny=America/New_York 8-21", []string{"entry 1", `from: "8" is not a local time`}},
		{"no hours", "ny=America/New_York", []string{"entry 1", "want TZ [DAYS] FROM-TO"}},
		{"hours without a dash", "ny=America/New_York 08:00", []string{"entry 1", `hours "08:00": want FROM-TO`}},
		{"no name", "=UTC 08:00-21:00", []string{"entry 1", "want name=TZ [DAYS] FROM-TO"}},
		{"twice", "a=UTC 08:00-21:00;a=UTC 09:00-21:00", []string{"entry 2", `"a"`, "twice"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ParseSendWindows(tc.in)
			if got != nil {
				t.Errorf("ParseSendWindows(%q) = %v, want nil", tc.in, got)
			}
			checkError(t, err, tc.want)
			loadError(t, map[string]string{"SEND_WINDOWS": tc.in}, append([]string{"SEND_WINDOWS:"}, tc.want...))
		})
	}
}

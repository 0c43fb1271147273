package tasks

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/punctualhq/punctual/internal/jsonvalue"
	"github.com/punctualhq/punctual/providers"
	"github.com/punctualhq/punctual/window"
)

// Window is a send's window as its envelope gives it: the name of a
// window of SEND_WINDOWS, or one spelled out. Tasks carry it as given, so
// that a name means what SEND_WINDOWS says when the send goes. The zero
// Window is none: the account's window applies, if it has one.
type Window struct {
	// Name names a window of SEND_WINDOWS; Spec is empty then.
	Name string
	// Spec is a window spelled out.
	Spec window.Spec
}

// IsZero reports whether the send names no window.
func (w Window) IsZero() bool { return w.Name == "" && w.Spec == window.Spec{} }

// String is the name, or the spec as tz days from-to.
func (w Window) String() string {
	if w.Name != "" || w.IsZero() {
		return w.Name
	}
	return strings.Join(slices.DeleteFunc([]string{w.Spec.TZ, w.Spec.Days, w.Spec.From + "-" + w.Spec.To}, func(s string) bool { return s == "" }), " ")
}

// MarshalJSON writes a name as a string and a spec as an object.
func (w Window) MarshalJSON() ([]byte, error) {
	if w.Name != "" {
		return json.Marshal(w.Name)
	}
	return json.Marshal(w.Spec)
}

// UnmarshalJSON reads a name or a spec, as ParseWindow does, without
// checking its values: a task's window is checked when it is sent.
func (w *Window) UnmarshalJSON(data []byte) error {
	v, err := jsonvalue.DecodeJSON(data)
	if err != nil {
		return err
	}
	*w, err = decodeWindow(v)
	return err
}

// windowFields are the members of a spelled-out window.
var windowFields = []string{"tz", "days", "from", "to"}

// ParseWindow reads a window from a decoded JSON or YAML value: a name
// (a string), or an object {"tz", "days", "from", "to"}, and checks it.
// Its errors are *jsonvalue.FieldError with paths below "window":
// `window.tz: unknown time zone "X"`.
func ParseWindow(v any) (Window, error) {
	w, err := decodeWindow(v)
	if err != nil {
		return Window{}, err
	}
	return w, w.Check()
}

// decodeWindow reads a name or a spec from a decoded value.
func decodeWindow(v any) (Window, error) {
	var w Window
	switch v := v.(type) {
	case string:
		w.Name = v
	case map[string]any:
		var errs []error
		for _, name := range slices.Sorted(maps.Keys(v)) {
			var dst *string
			switch name {
			case "tz":
				dst = &w.Spec.TZ
			case "days":
				dst = &w.Spec.Days
			case "from":
				dst = &w.Spec.From
			case "to":
				dst = &w.Spec.To
			default:
				errs = append(errs, &jsonvalue.FieldError{Path: "window." + name, Reason: "unknown field (a window has " + strings.Join(windowFields, ", ") + ")"})
				continue
			}
			if s, ok := v[name].(string); ok {
				*dst = s
			} else {
				errs = append(errs, &jsonvalue.FieldError{Path: "window." + name, Reason: "must be a string"})
			}
		}
		if len(errs) > 0 {
			return Window{}, errors.Join(errs...)
		}
	default:
		return Window{}, &jsonvalue.FieldError{Path: "window", Reason: `must be the name of a window of SEND_WINDOWS or an object {"tz", "days", "from", "to"}`}
	}
	return w, nil
}

// Check checks a window given by name or spelled out, without
// SEND_WINDOWS: a name's syntax, a spec's every field.
func (w Window) Check() error {
	if w.Name != "" {
		if !IsName(w.Name) {
			return &jsonvalue.FieldError{Path: "window", Reason: fmt.Sprintf("not a window name (letters, digits, _ . -; at most 64): %q", w.Name)}
		}
		return nil
	}
	if w.IsZero() {
		return nil
	}
	_, err := parseSpec(w.Spec)
	return err
}

// parseSpec parses a spec, naming the field of its error below "window".
func parseSpec(s window.Spec) (window.Window, error) {
	win, err := window.Parse(s)
	var fe *window.FieldError
	if errors.As(err, &fe) {
		return win, &jsonvalue.FieldError{Path: "window." + fe.Field, Reason: fe.Err.Error()}
	}
	return win, err
}

// Windows resolves the window a send goes in: its own, or else its
// account's; a name by SEND_WINDOWS, tz "auto" by its recipients' numbers.
type Windows struct {
	// Named are the windows of SEND_WINDOWS. Nil: names are not known
	// here, and are left to the worker.
	Named map[string]window.Spec
	// Account gives an account's window (zero when none), for the sends
	// of its operations that have recipients; nil when no account has one.
	Account func(provider, account string) Window
}

// Of returns the window a send of op with payload p goes in, made for
// its recipients, and false when it goes in none. ok is false too when
// the window is a name this Windows does not know and Named is nil.
func (ws Windows) Of(op *providers.Operation, p Payload) (win window.Window, ok bool, err error) {
	w, accounts := p.Window, false
	if w.IsZero() && op.Recipients != nil && ws.Account != nil {
		w, accounts = ws.Account(op.Provider(), p.Account), true
	}
	spec := w.Spec
	switch {
	case w.IsZero():
		return window.Window{}, false, nil
	case w.Name != "" && ws.Named == nil:
		return window.Window{}, false, nil
	case w.Name != "":
		var known bool
		if spec, known = ws.Named[w.Name]; !known {
			whose := "window"
			if accounts {
				whose = fmt.Sprintf("account %q's window", p.Account)
			}
			return window.Window{}, false, &jsonvalue.FieldError{Path: "window", Reason: fmt.Sprintf("%s %q: SEND_WINDOWS has no window of that name (it has %s)", whose, w.Name, namesOf(ws.Named))}
		}
	}
	if win, err = parseSpec(spec); err != nil {
		return window.Window{}, false, err
	}
	if win.Auto() {
		var to []string
		if op.Recipients != nil {
			to = op.Recipients(p.Body)
		}
		if win, err = win.ForPhones(to...); err != nil {
			return window.Window{}, false, &jsonvalue.FieldError{Path: "window.tz", Reason: err.Error()}
		}
	}
	return win, true, nil
}

// namesOf lists the names of SEND_WINDOWS, for an error.
func namesOf(named map[string]window.Spec) string {
	if len(named) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(named)), ", ")
}

package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/punctualhq/punctual/tasks"
	"github.com/punctualhq/punctual/window"
)

// ParseSendWindows reads SEND_WINDOWS: entries name=TZ [DAYS] FROM-TO
// separated by semicolons, e.g.
// "tcpa=auto 08:00-21:00; office=Europe/Berlin mon-fri 09:00-17:00". TZ is
// an IANA zone or auto (the recipient's number's zones); DAYS as in an
// envelope's window (mon-fri, sat,sun), every day when left out. Empty
// gives nil: no named windows.
func ParseSendWindows(s string) (map[string]window.Spec, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	named := map[string]window.Spec{}
	var errs []error
	for i, entry := range strings.Split(s, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		name, def, _ := strings.Cut(entry, "=")
		name = strings.TrimSpace(name)
		spec, err := parseWindowDef(def)
		switch {
		case !tasks.IsName(name):
			err = fmt.Errorf("entry %d %q: want name=TZ [DAYS] FROM-TO with a name of letters, digits, _ . -", i+1, entry)
		case named[name] != window.Spec{}:
			err = fmt.Errorf("entry %d %q: window given twice", i+1, name)
		case err != nil:
			err = fmt.Errorf("entry %d %q: %w", i+1, name, err)
		default:
			named[name] = spec
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return named, nil
}

// parseWindowDef reads TZ [DAYS] FROM-TO and checks it.
func parseWindowDef(def string) (window.Spec, error) {
	fields := strings.Fields(def)
	if len(fields) < 2 || len(fields) > 3 {
		return window.Spec{}, errors.New(`want TZ [DAYS] FROM-TO, e.g. "America/New_York mon-sat 08:00-21:00"`)
	}
	spec := window.Spec{TZ: fields[0]}
	if len(fields) == 3 {
		spec.Days = fields[1]
	}
	var found bool
	if spec.From, spec.To, found = strings.Cut(fields[len(fields)-1], "-"); !found {
		return window.Spec{}, fmt.Errorf("hours %q: want FROM-TO, e.g. 08:00-21:00", fields[len(fields)-1])
	}
	_, err := window.Parse(spec)
	return spec, err
}

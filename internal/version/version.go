// Package version tells which build of punctual a binary is, from the
// module's build info, for each binary's --version.
package version

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// Commit is the commit a build was made from, set with -ldflags -X where
// the build info has none: an image built without the checkout's .git
// (the Dockerfile's COMMIT build argument).
var Commit string

// Line is the line a binary's --version prints: its name, the module's
// version, and for a build from a checkout the commit it was built from
// (marked +dirty when the tree had changes), with the Go version.
func Line(binary string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return binary + " (no build info)"
	}
	return binary + " " + describe(info)
}

// describe is the version of the build info, without the binary's name.
func describe(info *debug.BuildInfo) string {
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		rev = Commit
	}
	parts := []string{info.GoVersion}
	if rev != "" {
		parts = append([]string{"commit " + rev[:min(len(rev), 12)] + dirty}, parts...)
	}
	return fmt.Sprintf("%s (%s)", info.Main.Version, strings.Join(parts, ", "))
}

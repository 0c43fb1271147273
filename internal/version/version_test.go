package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestDescribeNamesTheVersionTheCommitAndGo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		info debug.BuildInfo
		want string
	}{
		{"a tagged module", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.2.0"}}, "v0.2.0 (go1.26.8)"},
		{"a checkout with changes", debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "1af2311c0ffee1234567890"}, {Key: "vcs.modified", Value: "true"},
		}}, "(devel) (commit 1af2311c0ffe+dirty, go1.26.8)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describe(&tc.info); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLineStartsWithTheBinarysName(t *testing.T) {
	t.Parallel()
	if got := Line("worker"); !strings.HasPrefix(got, "worker ") || len(got) <= len("worker ") {
		t.Errorf("got %q, want the name and a version", got)
	}
}

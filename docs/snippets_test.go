// Package docs holds the tests of the Markdown documentation: every Go
// snippet in README.md and docs/*.md compiles against this checkout, and
// every relative link points to a file that exists.
package docs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A ```go block is built in one of two forms:
//
//   - a block whose first line starts with "package" is a whole file, built
//     as it is; it must be package main, as go build -o builds only those;
//   - any other block is the body of func(ctx context.Context) error, in a
//     main package that imports context, fmt, os, time and the packages producer,
//     providers/mateo, providers/leadconnector and window (more with
//     leading lines such as `// import "net/http"`). A body need not end
//     with a return: `return nil` is added.
//
// Compiler errors name the Markdown file and line, through //line
// directives.
var defaultImports = []string{
	"context", "fmt", "os", "time",
	"github.com/punctualhq/punctual/producer",
	"github.com/punctualhq/punctual/providers/leadconnector",
	"github.com/punctualhq/punctual/providers/mateo",
	"github.com/punctualhq/punctual/window",
}

// uses keeps each default import used, so that a body need not use them all.
const uses = `var (
	_ = context.Background
	_ = fmt.Sprint
	_ = os.Stdin
	_ = time.Now
	_ = producer.Open
	_ = leadconnector.Name
	_ = mateo.Handle
	_ = window.Spec{}
)
`

// snippet is a ```go block of a Markdown file.
type snippet struct {
	file string // relative to the repository's root
	line int    // of the block's first line of code
	code string
}

// snippets returns the ```go blocks of a Markdown text.
func snippets(file, text string) []snippet {
	var out []snippet
	var cur *snippet
	var body []string
	for i, l := range strings.Split(text, "\n") {
		switch {
		case cur == nil && strings.TrimSpace(l) == "```go":
			cur, body = &snippet{file: file, line: i + 2}, nil
		case cur != nil && strings.TrimSpace(l) == "```":
			cur.code = strings.Join(body, "\n")
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			body = append(body, l)
		}
	}
	return out
}

var importLine = regexp.MustCompile(`^// import ("[^"]+")$`)

// source returns the Go file that builds s.
func (s snippet) source() string {
	if strings.HasPrefix(strings.TrimSpace(s.code), "package ") {
		return fmt.Sprintf("//line %s:%d\n%s\n", s.file, s.line, s.code)
	}
	imports := slices.Clone(defaultImports)
	for i := range imports {
		imports[i] = `"` + imports[i] + `"`
	}
	for l := range strings.SplitSeq(s.code, "\n") {
		m := importLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			break
		}
		if !slices.Contains(imports, m[1]) {
			imports = append(imports, m[1])
		}
	}
	return fmt.Sprintf("package main\n\nimport (\n\t%s\n)\n\n%s\nfunc main() {}\n\nfunc snippet(ctx context.Context) error {\n//line %s:%d\n%s\n\treturn nil\n}\n",
		strings.Join(imports, "\n\t"), uses, s.file, s.line, s.code)
}

// build compiles each snippet as a package of its own inside this module
// (under testdata, which ./... leaves out), and returns the compiler's
// output when any fails.
func build(t *testing.T, snips []snippet) (string, error) {
	t.Helper()
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("testdata", "snippets-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for i, s := range snips {
		pkg := filepath.Join(dir, fmt.Sprintf("s%03d", i))
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		src := s.source()
		if code := strings.TrimSpace(s.code); strings.HasPrefix(code, "package ") && !strings.HasPrefix(code, "package main") {
			return fmt.Sprintf("%s:%d: a whole-file snippet must be package main", s.file, s.line), errors.New("not package main")
		}
		if err := os.WriteFile(filepath.Join(pkg, "snippet.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Every snippet is a main package (go build -o skips others); -o to a
	// directory keeps their binaries out of the tree.
	cmd := exec.Command("go", "build", "-o", t.TempDir()+string(filepath.Separator), "./"+filepath.ToSlash(dir)+"/...")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// markdownFiles are the pages the tests check, relative to the root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	for i := range files {
		files[i] = "docs/" + files[i]
	}
	return append([]string{"README.md"}, files...)
}

func TestEverySnippetCompiles(t *testing.T) {
	var all []snippet
	for _, f := range markdownFiles(t) {
		text, err := os.ReadFile(filepath.Join("..", f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, snippets(f, string(text))...)
	}
	if len(all) == 0 {
		t.Fatal("no ```go block found: the extraction is broken")
	}
	if out, err := build(t, all); err != nil {
		t.Errorf("a Go snippet does not compile (%v):\n%s", err, out)
	}
}

// TestTheBuildCatchesABrokenSnippet shows the check fails on a snippet that
// does not compile, and passes the forms the convention allows.
func TestTheBuildCatchesABrokenSnippet(t *testing.T) {
	for _, tc := range []struct {
		name, markdown string
		wantErr        string
	}{
		{"a body", "```go\np, err := producer.Open(\"redis://127.0.0.1:6379/0\")\nif err != nil {\n\treturn err\n}\nreturn p.Close()\n```\n", ""},
		{"a whole file", "```go\npackage main\n\nfunc main() {}\n```\n", ""},
		{"an added import", "```go\n// import \"net/http\"\n_ = http.MethodGet\n```\n", ""},
		{"a variable named only in a comment", "```go\nvar p *producer.Producer\nvar res producer.Enqueued\nvar at time.Time\nvar err error\nerr = p.Cancel(ctx, res.ID) // or p.Reschedule(ctx, res.ID, at)\nreturn err\n```\n", "case.md:4: declared and not used: at"},
		{"a whole file of another package", "```go\npackage producer\n```\n", "case.md:2: a whole-file snippet must be package main"},
		{"an unused variable", "text\n\n```go\nx := 1\n```\n", "case.md:4: declared and not used: x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snips := snippets("case.md", tc.markdown)
			if len(snips) != 1 {
				t.Fatalf("found %d snippets, want 1", len(snips))
			}
			out, err := build(t, snips)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("does not compile: %v\n%s", err, out)
			case tc.wantErr != "" && err == nil:
				t.Errorf("compiled, want an error at %s", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(out, tc.wantErr):
				t.Errorf("error does not name %s:\n%s", tc.wantErr, out)
			}
		})
	}
}

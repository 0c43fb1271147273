package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	fence      = regexp.MustCompile("(?ms)^\\s*```.*?^\\s*```")
	inlineCode = regexp.MustCompile("`[^`\n]*`")
	link       = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading    = regexp.MustCompile(`(?m)^#{1,6} +(.+)$`)
	notInSlug  = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// anchors returns the anchors GitHub gives a page's headings.
func anchors(text string) map[string]bool {
	a := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(text, ""), -1) {
		slug := notInSlug.ReplaceAllString(strings.ToLower(strings.TrimSpace(m[1])), "")
		a[strings.ReplaceAll(slug, " ", "-")] = true
	}
	return a
}

// brokenLinks returns the relative links of page (a path from root) whose
// file, or heading within a Markdown file, does not exist.
func brokenLinks(root, page string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(root, page))
	if err != nil {
		return nil, err
	}
	text := inlineCode.ReplaceAllString(fence.ReplaceAllString(string(raw), ""), "")
	var broken []string
	for _, m := range link.FindAllStringSubmatch(text, -1) {
		target := m[1]
		if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
			continue
		}
		path, anchor, _ := strings.Cut(target, "#")
		file := filepath.Join(root, filepath.Dir(page), path)
		if path == "" {
			file = filepath.Join(root, page)
		}
		rel, _ := filepath.Rel(root, file)
		if strings.HasPrefix(rel, "..") {
			broken = append(broken, target+" (outside the repository)")
			continue
		}
		fi, err := os.Stat(file)
		switch {
		case os.IsNotExist(err):
			broken = append(broken, target)
			continue
		case err != nil:
			return nil, err
		case anchor == "" || fi.IsDir() || !strings.HasSuffix(file, ".md"):
			continue
		}
		body, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		if !anchors(string(body))[anchor] {
			broken = append(broken, target+" (no such heading)")
		}
	}
	return broken, nil
}

func TestRelativeLinksResolve(t *testing.T) {
	for _, page := range markdownFiles(t) {
		broken, err := brokenLinks("..", page)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range broken {
			t.Errorf("%s: broken link %s", page, b)
		}
	}
}

// TestTheLinkCheckFindsBrokenLinks shows the check is not vacuous.
func TestTheLinkCheckFindsBrokenLinks(t *testing.T) {
	root := t.TempDir()
	page := "# Page\n\n## A heading: with `code`\n\n[ok](#a-heading-with-code) [ok](other.md) [gone](missing.md) " +
		"[bad anchor](other.md#nowhere) [web](https://example.com/x.md) `[code](ignored.md)`\n"
	for name, text := range map[string]string{"page.md": page, "other.md": "# Other\n"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	broken, err := brokenLinks(root, "page.md")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"missing.md", "other.md#nowhere (no such heading)"}
	if strings.Join(broken, "|") != strings.Join(want, "|") {
		t.Errorf("broken links %q, want %q", broken, want)
	}
}

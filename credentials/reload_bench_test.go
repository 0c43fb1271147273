package credentials_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// accountsFile is a file of n accounts: a third each static, OAuth
// locations and locations of one agency; version changes every token.
func accountsFile(n, version int) string {
	var b strings.Builder
	b.WriteString("accounts:\n  - {name: agency, provider: leadconnector, company_id: co1, refresh_token: r-agency}\n")
	for i := range n - 1 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "  - {name: m%d, provider: mateo, token: tok-%d-%d}\n", i, version, i)
		case 1:
			fmt.Fprintf(&b, "  - {name: l%d, provider: leadconnector, location_id: loc%d, refresh_token: r-%d-%d}\n", i, i, version, i)
		default:
			fmt.Fprintf(&b, "  - {name: a%d, provider: leadconnector, agency: agency, location_id: loc%d}\n", i, i)
		}
	}
	return b.String()
}

// BenchmarkReload5000 reloads a file of 5,000 accounts that changed.
func BenchmarkReload5000(b *testing.B) {
	f := setup(b, time.Hour)
	files := [2]string{accountsFile(5000, 0), accountsFile(5000, 1)}
	m := f.manager(b, f.write(b, files[0]))
	b.ResetTimer()
	for i := range b.N {
		f.write(b, files[(i+1)%2])
		if err := m.Reload(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFiveThousandAccountsLoadAndReload(t *testing.T) {
	t.Parallel()
	f := setup(t, time.Hour)
	m := f.manager(t, f.write(t, accountsFile(5000, 0)))
	f.write(t, accountsFile(5000, 1))
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(m.Names("mateo")) + len(m.Names("leadconnector")); n != 5000 {
		t.Errorf("%d accounts, want 5000", n)
	}
	if tok, err := m.Token(t.Context(), "mateo", "m3"); err != nil || tok != "tok-1-3" {
		t.Errorf("m3's token after the reload: %q, %v; want the new file's", tok, err)
	}
}

package credentials_test

import (
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/accountstest"
)

// BenchmarkReload5000 reloads a file of 5,000 accounts that changed.
func BenchmarkReload5000(b *testing.B) {
	f := setup(b, time.Hour)
	files := [2]string{accountstest.File(5000, 0), accountstest.File(5000, 1)}
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
	m := f.manager(t, f.write(t, accountstest.File(5000, 0)))
	f.write(t, accountstest.File(5000, 1))
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

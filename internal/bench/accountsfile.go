package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/punctualhq/punctual/credentials"
)

// accountsReloaded is the number of accounts of the accounts-reload row.
const accountsReloaded = 5000

// accountsYAML is an ACCOUNTS_FILE of n accounts, a third each static
// tokens, OAuth locations and locations of one agency; version changes
// every credential.
func accountsYAML(n, version int) []byte {
	var b strings.Builder
	b.WriteString("accounts:\n  - {name: agency, provider: leadconnector, company_id: co1, refresh_token: agency-r" + fmt.Sprint(version) + "}\n")
	for i := range n - 1 {
		switch i % 3 {
		case 0:
			fmt.Fprintf(&b, "  - {name: m%d, provider: mateo, token: t%d-%d}\n", i, version, i)
		case 1:
			fmt.Fprintf(&b, "  - {name: l%d, provider: leadconnector, location_id: loc%d, refresh_token: r%d-%d}\n", i, i, version, i)
		default:
			fmt.Fprintf(&b, "  - {name: a%d, provider: leadconnector, agency: agency, location_id: loc%d}\n", i, i)
		}
	}
	return []byte(b.String())
}

// rowAccountsReload loads an ACCOUNTS_FILE of 5,000 accounts into the
// worker's credentials manager, then has it reload the file changed, as a
// worker does when its secret is updated; the best of three of each.
func rowAccountsReload(ctx context.Context, e *env) (Result, error) {
	r, err := startRedis(e)
	if err != nil {
		return Result{}, err
	}
	defer r.stop()
	path := filepath.Join(e.tmp, "accounts.yaml")
	var load, reload time.Duration
	for i := range 3 {
		if err := os.WriteFile(path, accountsYAML(accountsReloaded, 0), 0o600); err != nil {
			return Result{}, err
		}
		start := time.Now()
		m, err := credentials.New(credentials.Config{
			File: path, ClientID: "bench-app", ClientSecret: "bench-app-secret", Keys: strings.Repeat("ab", 32),
			BaseURL: "http://127.0.0.1:1", Version: "2021-04-15", Redis: r.rdb, Logger: zap.NewNop(),
		})
		if err != nil {
			return Result{}, err
		}
		took := time.Since(start)
		if err := os.WriteFile(path, accountsYAML(accountsReloaded, i+1), 0o600); err != nil {
			return Result{}, err
		}
		start = time.Now()
		if err := m.Reload(ctx); err != nil {
			return Result{}, err
		}
		again := time.Since(start)
		if n := len(m.Names("mateo")) + len(m.Names("leadconnector")); n != accountsReloaded {
			return Result{}, fmt.Errorf("%d accounts loaded, want %d", n, accountsReloaded)
		}
		if i == 0 || took < load {
			load = took
		}
		if i == 0 || again < reload {
			reload = again
		}
	}
	return Result{
		Measured: fmt.Sprintf("load %s, reload %s", ms(load), ms(reload)),
		Value:    ms(max(load, reload)),
		Pass:     load <= 250*time.Millisecond && reload <= 250*time.Millisecond,
		Notes: []string{fmt.Sprintf("%d accounts in a YAML ACCOUNTS_FILE (a third static tokens, OAuth locations, an agency's locations), loaded by credentials.New and reloaded changed by Manager.Reload with a real redis-server, in the bench's process; best of three", accountsReloaded)},
		Numbers: map[string]float64{"load_ms": float64(load) / 1e6, "reload_ms": float64(reload) / 1e6},
	}, nil
}

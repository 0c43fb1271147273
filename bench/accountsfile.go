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
	"github.com/punctualhq/punctual/internal/accountstest"
	"github.com/punctualhq/punctual/providers/builtin"
)

// accountsReloaded is the number of accounts of the accounts-reload row.
const accountsReloaded = 5000

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
		if err := os.WriteFile(path, []byte(accountstest.File(accountsReloaded, 0)), 0o600); err != nil {
			return Result{}, err
		}
		start := time.Now()
		m, err := credentials.New(credentials.Config{
			File: path, Providers: builtin.Registry().Names(), ClientID: "bench-app", ClientSecret: "bench-app-secret", Keys: strings.Repeat("ab", 32),
			BaseURL: "http://127.0.0.1:1", Redis: r.rdb, Logger: zap.NewNop(),
		})
		if err != nil {
			return Result{}, err
		}
		took := time.Since(start)
		if err := os.WriteFile(path, []byte(accountstest.File(accountsReloaded, i+1)), 0o600); err != nil {
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
		Notes:    []string{fmt.Sprintf("%d accounts in a YAML ACCOUNTS_FILE (a third static tokens, OAuth locations, an agency's locations), loaded by credentials.New and reloaded changed by Manager.Reload with a real redis-server, in the bench's process; best of three", accountsReloaded)},
		Numbers:  map[string]float64{"load_ms": float64(load) / 1e6, "reload_ms": float64(reload) / 1e6},
	}, nil
}

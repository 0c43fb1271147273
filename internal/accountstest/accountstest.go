// Package accountstest writes ACCOUNTS_FILEs of many accounts, for the
// tests and the benchmark that load them.
package accountstest

import (
	"fmt"
	"strings"
)

// File is a YAML ACCOUNTS_FILE of n accounts: a third each Mateo static
// tokens (m0 has token tok-VERSION-0), LeadConnector OAuth locations and
// locations of one agency. version changes every credential.
func File(n, version int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "accounts:\n  - {name: agency, provider: leadconnector, company_id: co1, refresh_token: r-agency-%d}\n", version)
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

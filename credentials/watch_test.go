package credentials_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/punctualhq/punctual/internal/testwait"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/punctualhq/punctual/credentials"
)

// TestABrokenFileIsReportedOnceWhateverElseItsFolderHolds lays out what
// a worker writing its log beside ACCOUNTS_FILE does: each line of the log
// is a write in the folder, and a watch that reloads on every write of the
// folder logs a broken file's error again on each of its own lines, ten a
// second. Other files written in the folder must not reload it; a change
// of the file must. Not parallel: the SIGHUP of another test would reload
// the file and log its error once more.
func TestABrokenFileIsReportedOnceWhateverElseItsFolderHolds(t *testing.T) {
	f := setup(t, time.Hour)
	path := f.write(t, oauthFile("{name: a, provider: mateo, token: tok-a}"))
	logFile, err := os.Create(filepath.Join(f.dir, "worker.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logFile.Close() })
	observed, logs := observer.New(zapcore.DebugLevel)
	written := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), logFile, zapcore.DebugLevel)
	m, err := credentials.New(credentials.Config{Providers: providerNames,
		File: path, ClientID: clientID, ClientSecret: clientSecret, Keys: key,
		BaseURL: f.url, Redis: f.rdb, Logger: zap.New(zapcore.NewTee(observed, written)),
	})
	if err != nil {
		t.Fatal(err)
	}
	watched := make(chan struct{})
	ctx, stop := context.WithCancel(t.Context())
	go func() { defer close(watched); m.Watch(ctx) }()
	t.Cleanup(func() { stop(); <-watched })

	// The file is written again until the watch, started meanwhile, sees it.
	version, at := 0, time.Time{}
	testwait.For(t, 10*time.Second, "met", func() bool {
		if time.Since(at) > 300*time.Millisecond {
			version++
			f.write(t, oauthFile(fmt.Sprintf("{name: a, provider: mateo, token: tok-a%d}", version)))
			at = time.Now()
		}
		tok, err := m.Token(t.Context(), "mateo", "a")
		return err == nil && tok != "tok-a"
	})
	const refused = "accounts not reloaded: the accounts in force stay"
	f.write(t, "accounts:\n  - {name: a, provider: mateo, token: tok-b\n")
	testwait.For(t, 10*time.Second, "met", func() bool { return logs.FilterMessage(refused).Len() > 0 })

	// Another file of the folder is written, and the log too: a reload
	// would follow each write within the settling time. Ten times that
	// passes without a second error line.
	other := filepath.Join(f.dir, "notes.txt")
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(10 * 100 * time.Millisecond); time.Now().Before(deadline); <-tick.C {
		if err := os.WriteFile(other, []byte(time.Now().String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if n := logs.FilterMessage(refused).Len(); n > 1 {
			t.Fatalf("%d error lines for one broken file, want 1", n)
		}
	}

	// A change of the file itself still reloads it.
	f.write(t, oauthFile("{name: a, provider: mateo, token: tok-fixed}"))
	testwait.For(t, 10*time.Second, "met", func() bool {
		tok, err := m.Token(t.Context(), "mateo", "a")
		return err == nil && tok == "tok-fixed"
	})
	if n := logs.FilterMessage(refused).Len(); n != 1 {
		t.Errorf("%d error lines for one broken file, want 1", n)
	}
}

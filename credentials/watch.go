package credentials

import (
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// settle is how long the file must be quiet before it is read: an editor
// or a secret update writes it in several steps.
const settle = 100 * time.Millisecond

// Watch reloads the accounts when the file changes and on SIGHUP, until
// ctx ends. It watches the file's directory, as a Kubernetes secret is
// updated by swapping a symlink and editors rename a new file over the
// old, but reloads only on an event that names the file or after which
// the file resolves to another one: the directory may hold other files,
// the worker's log among them, and a reload on each of their writes
// would log a broken file's error again on every write of that very line.
// A reload that fails is logged and leaves the accounts in force; so does
// a directory that cannot be watched, and SIGHUP still reloads.
func (m *Manager) Watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var events <-chan fsnotify.Event
	var errs <-chan error
	file := filepath.Clean(m.cfg.File)
	target := resolve(file)
	if m.cfg.File != "" {
		w, err := fsnotify.NewWatcher()
		if err == nil {
			defer w.Close()
			err = w.Add(filepath.Dir(m.cfg.File))
		}
		if err != nil {
			m.log.Error("ACCOUNTS_FILE is not watched: reload it with SIGHUP", zap.Error(err))
		} else {
			events, errs = w.Events, w.Errors
		}
	}
	index := time.NewTicker(indexEvery)
	defer index.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if filepath.Clean(ev.Name) == file {
				timer.Reset(settle)
			} else if r := resolve(file); r != target {
				target = r
				timer.Reset(settle)
			}
		case err := <-errs:
			m.log.Warn("watching ACCOUNTS_FILE", zap.Error(err))
		case <-hup:
			m.reload(ctx, "SIGHUP")
		case <-timer.C:
			m.reload(ctx, "file changed")
		case <-index.C:
			if err := m.writeIndex(ctx, m.set.Load()); err != nil {
				m.log.Warn("could not list the accounts in Redis for `enqueue accounts`", zap.Error(err))
			}
		}
	}
}

// resolve returns the file a path names once its symlinks are followed:
// a Kubernetes secret's update changes it (..data points to a new
// version's directory) and leaves the path alone. It is "" while path
// names nothing, so that the file's return is a change.
func resolve(path string) string {
	r, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	return r
}

func (m *Manager) reload(ctx context.Context, why string) {
	if err := m.Reload(ctx); err != nil {
		m.log.Error("accounts not reloaded: the accounts in force stay", zap.String("cause", why), zap.Error(err))
	}
}

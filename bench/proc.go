package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// proc is a child process of the bench: the sandbox, our worker or the
// reference worker, each in its own process as they run for users.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr limitWriter
	done   chan struct{}
	err    error
}

// startProc starts bin with args and exactly the environment environ (the
// bench's own environment is not passed on: a RATE_LIMITS of the shell
// would change what is measured). When ready is non-nil, startProc waits,
// at most 15 s, for a line of the process's stderr from which ready picks
// a value, and returns it.
func startProc(name, bin string, args []string, environ map[string]string, ready func(line string) (string, bool)) (*proc, string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = envList(environ)
	// The children die with the bench, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, stderr: limitWriter{w: &strings.Builder{}, n: 8192}, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(pr)
		for s.Scan() {
			line := s.Text()
			p.stderr.Write([]byte(line + "\n"))
			if ready != nil {
				if v, ok := ready(line); ok {
					select {
					case found <- v:
					default:
					}
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	if ready == nil {
		return p, "", nil
	}
	select {
	case v := <-found:
		return p, v, nil
	case <-p.done:
		return nil, "", fmt.Errorf("%s exited at start: %v: %s", name, p.err, p.stderr.String())
	case <-time.After(15 * time.Second):
		_ = p.stop()
		return nil, "", fmt.Errorf("%s did not start within 15 s: %s", name, p.stderr.String())
	}
}

// envList turns environ into KEY=VALUE entries, sorted.
func envList(environ map[string]string) []string {
	list := make([]string, 0, len(environ))
	for k, v := range environ {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}

// exited returns an error once the process has stopped on its own.
func (p *proc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v: %s", p.name, p.err, p.stderr.String())
	default:
		return nil
	}
}

// stop sends SIGTERM and waits for the process, killing it after 15 s; it
// returns an error unless the process exited 0.
func (p *proc) stop() error {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			return fmt.Errorf("%s did not stop within 15 s of SIGTERM", p.name)
		}
	}
	if p.err != nil {
		return fmt.Errorf("%s: %v: %s", p.name, p.err, p.stderr.String())
	}
	return nil
}

// baseEnv is the environment every child gets besides its own settings.
func baseEnv() map[string]string {
	env := map[string]string{}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	return env
}

// waitReady waits until an asynq server, ours or the reference, has
// registered with Redis: from then on it takes tasks.
func waitReady(ctx context.Context, r *redisServer, p *proc) error {
	return waitFor(ctx, 15*time.Second, p.name+" to register with Redis", func() (bool, error) {
		if err := p.exited(); err != nil {
			return false, err
		}
		n, err := r.rdb.ZCard(ctx, "asynq:servers").Result()
		return n > 0, err
	})
}

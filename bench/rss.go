package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

// Peak RSS of a child process is its rusage Maxrss, but Go starts children
// with vfork (CLONE_VM), and Linux then counts the parent's peak RSS in the
// child's Maxrss: started from the bench, every child would report the
// bench's own peak. So the bench starts them through a copy of itself run
// as "bench -launch CMD ARGS...": a small fresh process whose child's
// Maxrss is the child's own (floored at the launcher's small peak). The
// launcher forwards SIGTERM and SIGINT, writes the child's Maxrss (KiB) to
// file descriptor 3 and exits with the child's status.

const launchFlag = "-launch"

// launch is the launcher: it runs args and reports the child's peak RSS.
func launch(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "bench -launch: no command")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bench -launch:", err)
		return 127
	}
	go func() {
		for s := range sig {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		out := os.NewFile(3, "maxrss")
		fmt.Fprintf(out, "%d\n", ru.Maxrss)
		out.Close()
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	case err != nil:
		return 1
	}
	return 0
}

// launched is a command started through the launcher.
type launched struct {
	*exec.Cmd
	maxrss *os.File
}

// launchCommand returns the command name args, to be started through the
// launcher; give it its Env, Stdout and Stderr, then Start and Wait it.
func launchCommand(name string, args ...string) (*launched, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{launchFlag, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return &launched{Cmd: cmd}, nil
}

// Start starts the launcher.
func (l *launched) Start() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	l.ExtraFiles = []*os.File{w}
	err = l.Cmd.Start()
	w.Close()
	if err != nil {
		r.Close()
		return err
	}
	l.maxrss = r
	return nil
}

// peakRSS returns the child's peak RSS in bytes, once Wait has returned.
func (l *launched) peakRSS() (int64, error) {
	defer l.maxrss.Close()
	data, err := io.ReadAll(l.maxrss)
	if err != nil {
		return 0, err
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("no peak RSS from the launcher (%q)", data)
	}
	return kib * 1024, nil // KiB on Linux
}

// rssFloor returns the peak RSS a launched process reports at least: that
// of `true`, which is the launcher's own.
func rssFloor() (int64, error) {
	path, err := exec.LookPath("true")
	if err != nil {
		return 0, err
	}
	l, err := launchCommand(path)
	if err != nil {
		return 0, err
	}
	if err := l.Start(); err != nil {
		return 0, err
	}
	if err := l.Wait(); err != nil {
		return 0, err
	}
	return l.peakRSS()
}

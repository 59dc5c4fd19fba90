// Package testenv starts real servers for tests: a PostgreSQL cluster and an
// S3 server (versitygw), on 127.0.0.1, on free ports, in temporary
// directories.
//
// Each server is started once per test binary, lazily, the first time a test
// asks for it; every call then gets something fresh of its own (a database,
// a bucket), so tests stay independent and fast. Test binaries that use this
// package must call Main from their TestMain, so that the servers are
// stopped and their directories removed when the tests end:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// A test binary that is killed before its cleanups run leaves no server
// behind (they get SIGKILL when it dies), and the next run removes its
// directories.
//
// A missing binary fails the test with the command that installs it: these
// tests never skip silently.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// installHint is what to run when a server binary is missing.
const installHint = "run scripts/install-test-deps.sh from the repository root"

var (
	mainCalled atomic.Bool

	stopMu sync.Mutex
	stops  []func() // servers to stop when the test binary ends, in start order
)

// Main runs the tests and then stops every server this package started and
// removes their directories. Call it from TestMain.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	stopAll()
	os.Exit(code)
}

func stopAll() {
	stopMu.Lock()
	defer stopMu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	stops = nil
}

func atExit(fn func()) {
	stopMu.Lock()
	defer stopMu.Unlock()
	stops = append(stops, fn)
}

// requireMain fails t unless the binary's TestMain calls Main: without it the
// servers would outlive the tests and their directories would pile up.
func requireMain(t testing.TB) {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatalf("testenv: this package's TestMain must call testenv.Main(m) so that test servers are stopped")
	}
}

// freePort returns a port on 127.0.0.1 that was free a moment ago. A server
// started on it may still lose a race with another process; the starters
// retry with a new port when that happens.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// server is a child process that dies with the test binary even when the
// binary is killed before its cleanups run (Pdeathsig).
type server struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func startServer(cmd *exec.Cmd) (*server, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// exited reports whether the process has already exited.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits a bounded time for the process to go, then kills it.
func (s *server) stop(sig os.Signal) {
	if s.exited() {
		return
	}
	s.cmd.Process.Signal(sig)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// waitFor calls ready until it succeeds, the server exits, or the deadline
// passes. It polls: there is no event to wait on for "a port answers".
func waitFor(s *server, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if s.exited() {
			return fmt.Errorf("server exited (%v) before it was ready: %w", s.err, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("server not ready after %v: %w", timeout, err)
		}
		select {
		case <-s.done:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tempDir makes the directory of one server. Its name carries this
// process's id, so that a later run can remove what a killed run left (the
// servers themselves die with the test binary, by Pdeathsig).
func tempDir(kind string) (string, error) {
	removeStale()
	return os.MkdirTemp("", fmt.Sprintf("silo-testenv-%d-%s-", os.Getpid(), kind))
}

// ProcessDir makes a directory that lives as long as this test binary:
// Main removes it when the tests end, and a later run removes it if the
// binary died first (a panic in any goroutine runs no cleanup). t must come
// from a binary whose TestMain calls Main.
func ProcessDir(t testing.TB, kind string) (string, error) {
	requireMain(t)
	d, err := tempDir(kind)
	if err != nil {
		return "", err
	}
	atExit(func() { os.RemoveAll(d) })
	return d, nil
}

// Dir is a directory for one test, removed when it ends, or by a later run
// if the test binary dies before its cleanups run (t.TempDir's would stay).
func Dir(t testing.TB, kind string) string {
	t.Helper()
	d, err := tempDir(kind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(d); err != nil {
			t.Errorf("removing %s: %v", d, err)
		}
	})
	return d
}

var staleOnce sync.Once

// removeStale removes the directories of test binaries that are gone.
func removeStale() {
	staleOnce.Do(func() {
		dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "silo-testenv-*"))
		for _, d := range dirs {
			f := strings.SplitN(filepath.Base(d), "-", 4)
			if len(f) < 4 {
				continue
			}
			pid, err := strconv.Atoi(f[2])
			if err != nil || pid == os.Getpid() {
				continue
			}
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				os.RemoveAll(d)
			}
		}
	})
}

var seq atomic.Int64

// uniqueName returns a name unique within this test binary, usable as a
// database or bucket name: lower-case letters, digits and dashes/underscores.
func uniqueName(prefix, sep string) string {
	return prefix + sep + strconv.FormatInt(seq.Add(1), 10) + sep + strconv.FormatInt(int64(os.Getpid()), 36)
}

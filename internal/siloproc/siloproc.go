// Package siloproc builds the silo binary and runs it as a real process for
// tests that need one: several nodes, kill -9, restarts.
package siloproc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/silo once per test binary and returns its path. The
// binary (some 40 MB) lives in a directory that testenv.Main removes when
// the tests end, so the test binary's TestMain must call testenv.Main.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := testenv.ProcessDir(t, "bin")
		if err != nil {
			buildErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		binPath = filepath.Join(dir, "silo")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/silo")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/silo: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Proc is a running silo serve.
type Proc struct {
	URL  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

var listening = regexp.MustCompile(`msg="silo listening" addr=(\S+)`)

// Serve starts `silo serve --addr 127.0.0.1:0 args...` with env added to
// the environment, waits until it listens and stops it (SIGKILL) when the
// test ends.
func Serve(t testing.TB, env []string, args ...string) *Proc {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	logs := &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{cmd: cmd, logs: logs, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			logs.WriteLine(line)
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(p.Kill)
	select {
	case a := <-addr:
		p.URL = "http://" + a
	case <-p.done:
		t.Fatalf("silo serve exited before listening:\n%s", logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("silo serve did not listen within 30s:\n%s", logs.String())
	}
	return p
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits for a clean exit; it returns the exit error.
func (p *Proc) Stop() error {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.Kill()
		return fmt.Errorf("silo did not stop within 60s")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("silo exited with status %d", code)
	}
	return nil
}

// Logs returns what the process wrote so far.
func (p *Proc) Logs() string { return p.logs.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) WriteLine(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.WriteString(line)
	s.b.WriteByte('\n')
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

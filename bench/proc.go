package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildSilo builds ./cmd/silo into dir, as a user would, so that the
// server measured is the real binary and not a test harness.
func buildSilo(root, dir string) (string, error) {
	bin := filepath.Join(dir, "silo")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/silo")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/silo: %v\n%s", err, out)
	}
	return bin, nil
}

// proc is a server process the benchmark started: silo, the bare baseline
// or MinIO.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string
	log  *os.File
	done chan struct{}
}

// startProc runs bin with args and env added, and waits until a line of
// its output matches ready (whose first group is the listen address). The
// output goes straight to a log file, not through a pipe this process
// reads: silo logs a line per request, and reading them here would cost
// CPU on the cores being measured.
func startProc(name, bin string, args, env []string, logDir string, ready *regexp.Regexp) (*proc, error) {
	logf, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &proc{name: name, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(logf.Name())
		if m := ready.FindSubmatch(b); m != nil {
			p.addr = string(m[1])
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited before listening:\n%s", name, tail(logf.Name()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not listen within 60s:\n%s", name, tail(logf.Name()))
		}
	}
}

func (p *proc) url() string { return "http://" + p.addr }

// stop sends SIGTERM, waits a while for a clean exit, then kills.
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
	p.log.Close()
}

// peakRSS is the process's peak resident set size (VmHWM) in bytes.
func (p *proc) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", p.cmd.Process.Pid)
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go runs on (sysconf(_SC_CLK_TCK) without cgo).
const clockTicks = 100

// cpuTime is the CPU time (user + system) the process has used so far, all
// its threads, to the 10 ms of /proc/PID/stat: a load run of a few seconds
// uses seconds of it.
func (p *proc) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name (in parentheses, which may hold
	// spaces) start with the third, state; utime and stime are the 14th and 15th.
	i := bytes.LastIndexByte(b, ')')
	var f []string
	if i >= 0 {
		f = strings.Fields(string(b[i+1:]))
	}
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", p.cmd.Process.Pid, b)
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", p.cmd.Process.Pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

var siloListening = regexp.MustCompile(`msg="silo listening" addr=(\S+)`)

// siloServer starts `silo serve` on a port of its own in dataDir with the
// rate limit off and a known admin key.
func (b *bench) siloServer(name, dataDir string, extra ...string) (*proc, error) {
	return b.siloServerEnv(name, dataDir, extra, nil)
}

// siloServerEnv is siloServer with more environment (S3 credentials).
func (b *bench) siloServerEnv(name, dataDir string, extra, extraEnv []string) (*proc, error) {
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dataDir,
		"--default-quota", "1000TB", "--max-dataset-size", "5GiB"}, extra...)
	// The per-key fairness cap (32 requests in flight) is lifted as the
	// rate limit is: workload 8 sends 64 creates at once with one key.
	env := append([]string{"SILO_RATE_LIMIT=0", "SILO_MAX_INFLIGHT_PER_KEY=128", "SILO_BOOTSTRAP_KEY=" + adminKey, "SILO_LOG_FORMAT=text"}, extraEnv...)
	return startProc(name, b.siloBin, args, env, b.tmp, siloListening)
}

// tail is the end of a log file, for errors.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

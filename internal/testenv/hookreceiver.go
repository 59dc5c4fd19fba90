package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// HookReceiver is sdk-tests/webhooks/receiver.mjs running in Node: a
// webhook receiver that verifies every delivery with npm standardwebhooks
// and parses it with npm cloudevents, as a user's receiver would. Endpoint
// NAME is URL()+"/hook/NAME".
type HookReceiver struct {
	Port  int
	t     testing.TB
	mu    sync.Mutex
	cmd   *exec.Cmd
	hooks map[string]hookState // replayed to a restarted receiver
	past  []Delivery           // what earlier processes received
}

type hookState struct {
	Secret string `json:"secret"`
	Status int    `json:"status"`
}

// Delivery is one POST that reached the receiver.
type Delivery struct {
	Hook        string          `json:"hook"`
	WebhookID   string          `json:"webhook_id"`
	Verified    bool            `json:"verified"`
	Error       string          `json:"error"`
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Source      string          `json:"source"`
	Subject     string          `json:"subject"`
	Time        string          `json:"time"`
	SpecVersion string          `json:"specversion"`
	ContentType string          `json:"content_type"`
	Data        json.RawMessage `json:"data"`
	Status      int             `json:"status"`
	At          int64           `json:"at"` // ms since the epoch
}

// controlClient talks to the receiver's control routes without keeping
// connections: Node closes idle ones after 5 s, and a request sent on one
// just as it closes is reset.
var controlClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}

// hookReceiverDir is sdk-tests/webhooks of this module.
func hookReceiverDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "sdk-tests", "webhooks")
}

// StartHookReceiver starts the receiver on a free loopback port. Without
// node or its packages it fails under CI and skips elsewhere.
func StartHookReceiver(t testing.TB) *HookReceiver {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		skipOrFail(t, "node is not installed")
	}
	dir := hookReceiverDir()
	for _, pkg := range []string{"standardwebhooks", "cloudevents"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			skipOrFail(t, "sdk-tests/webhooks/node_modules is missing: run npm ci --prefix sdk-tests/webhooks")
		}
	}
	r := &HookReceiver{t: t, hooks: map[string]hookState{}}
	r.Start()
	t.Cleanup(r.Stop)
	return r
}

func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// Start starts the receiver (again, on the same port after Stop).
func (r *HookReceiver) Start() {
	r.t.Helper()
	cmd := exec.Command("node", "receiver.mjs")
	cmd.Dir = hookReceiverDir()
	cmd.Env = append(os.Environ(), fmt.Sprintf("PORT=%d", r.Port))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		r.t.Fatalf("webhook receiver did not start: %v", err)
	}
	fmt.Sscanf(strings.TrimSpace(line), "listening %d", &r.Port)
	r.mu.Lock()
	r.cmd = cmd
	hooks := r.hooks
	r.mu.Unlock()
	for name, h := range hooks {
		r.control(name, h)
	}
}

// Stop kills the receiver (it stays stopped until Start); what it
// received stays in Received.
func (r *HookReceiver) Stop() {
	if r.running() {
		got := r.current()
		r.mu.Lock()
		r.past = append(r.past, got...)
		r.mu.Unlock()
	}
	r.mu.Lock()
	cmd := r.cmd
	r.cmd = nil
	r.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		cmd.Wait()
	}
}

// URL is the receiver's base URL.
func (r *HookReceiver) URL() string { return fmt.Sprintf("http://127.0.0.1:%d", r.Port) }

// HookURL is the URL of endpoint name.
func (r *HookReceiver) HookURL(name string) string { return r.URL() + "/hook/" + name }

// Set gives endpoint name its secret and the status it answers with.
func (r *HookReceiver) Set(name, secret string, status int) {
	r.mu.Lock()
	r.hooks[name] = hookState{Secret: secret, Status: status}
	r.mu.Unlock()
	r.control(name, hookState{Secret: secret, Status: status})
}

func (r *HookReceiver) control(name string, h hookState) {
	b, _ := json.Marshal(map[string]any{"name": name, "secret": h.Secret, "status": h.Status})
	resp, err := controlClient.Post(r.URL()+"/_control", "application/json", bytes.NewReader(b))
	if err != nil {
		r.t.Fatalf("webhook receiver: %v", err)
	}
	resp.Body.Close()
}

func (r *HookReceiver) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd != nil
}

// Received lists every POST the receiver got, across restarts.
func (r *HookReceiver) Received() []Delivery {
	r.t.Helper()
	r.mu.Lock()
	out := append([]Delivery(nil), r.past...)
	r.mu.Unlock()
	if r.running() {
		out = append(out, r.current()...)
	}
	return out
}

// current is what the running process received.
func (r *HookReceiver) current() []Delivery {
	r.t.Helper()
	resp, err := controlClient.Get(r.URL() + "/_events")
	if err != nil {
		r.t.Fatalf("webhook receiver: %v", err)
	}
	defer resp.Body.Close()
	var out struct{ Received []Delivery }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		r.t.Fatalf("webhook receiver: %v", err)
	}
	return out.Received
}

// WaitFor polls Received until cond holds, for at most timeout.
func (r *HookReceiver) WaitFor(timeout time.Duration, cond func([]Delivery) bool) []Delivery {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := r.Received()
		if cond(got) {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("webhook receiver: condition not met within %s; received %d deliveries", timeout, len(got))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Secret is the secret Set gave endpoint name.
func (r *HookReceiver) Secret(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.hooks[name].Secret
}

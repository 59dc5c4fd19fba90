package webhook

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// The example of the Standard Webhooks specification (and of its
// reference libraries' tests).
func TestSignSpecExample(t *testing.T) {
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestRefused(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "10.1.2.3": "private (or unique-local)", "172.16.0.1": "private (or unique-local)",
		"192.168.0.1": "private (or unique-local)", "fd00::1": "private (or unique-local)", "169.254.169.254": "link-local",
		"fe80::1": "link-local", "0.0.0.0": "unspecified", "::": "unspecified", "100.64.0.1": "shared (carrier-grade NAT)",
		"::ffff:127.0.0.1": "loopback", "224.0.0.1": "link-local", "239.1.1.1": "multicast",
		"8.8.8.8": "", "2001:4860:4860::8888": "", "93.184.216.34": "",
	} {
		if got := refused(netip.MustParseAddr(addr)); got != want {
			t.Errorf("refused(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	g := &Guard{}
	for _, u := range []string{"http://127.0.0.1/", "http://[::1]:8080/x", "http://localhost/", "http://10.0.0.1/",
		"http://169.254.169.254/latest", "ftp://8.8.8.8/", "/relative", "http://0.0.0.0/"} {
		err := g.CheckURL(context.Background(), u)
		if silo.ErrorCode(err) != silo.EUNPROCESSABLE {
			t.Errorf("CheckURL(%s) = %v, want 422", u, err)
		}
	}
	if err := g.CheckURL(context.Background(), "https://8.8.8.8/hook"); err != nil {
		t.Errorf("a public address: %v", err)
	}
	if err := (&Guard{AllowPrivate: true}).CheckURL(context.Background(), "http://127.0.0.1:9/"); err != nil {
		t.Errorf("allowed private: %v", err)
	}
}

// At delivery the dialer refuses the address it would connect to, whatever
// the URL passed at creation (a name that now resolves to 127.0.0.1).
func TestClientRefusesPrivateAtDial(t *testing.T) {
	hit := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer srv.Close()
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		_, err := (&Guard{}).Client(time.Second).Get(u)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("GET %s through the guard: %v", u, err)
		}
	}
	if hit {
		t.Fatal("the guarded client reached a loopback server")
	}
}

type memStore struct {
	mu       sync.Mutex
	pending  []*silo.ClaimedDelivery
	outcomes []silo.Outcome
}

func (m *memStore) ClaimDeliveries(_ context.Context, _ string, _, _ time.Time, limit int, _ []string) ([]*silo.ClaimedDelivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := min(limit, len(m.pending))
	out := m.pending[:n]
	m.pending = m.pending[n:]
	return out, nil
}

func (m *memStore) FinishDeliveries(_ context.Context, fs []silo.Finished) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range fs {
		m.outcomes = append(m.outcomes, f.Outcome)
	}
	return len(fs), nil
}

// A redirect (here to a loopback address) is not followed: the attempt
// failed and is retried later.
func TestRedirectNotFollowed(t *testing.T) {
	followed := false
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { followed = true }))
	defer target.Close()
	redir := httptest.NewServer(http.RedirectHandler(target.URL, http.StatusFound))
	defer redir.Close()
	ev := &silo.Event{ID: "evt_1", Type: silo.EventUsageThreshold, Subject: "org_1", Time: time.Now(),
		Data: silo.EventData{Threshold: &silo.ThresholdEvent{OrgID: "org_1", ThresholdPercent: 80}}}
	st := &memStore{pending: []*silo.ClaimedDelivery{{Delivery: silo.Delivery{Attempts: 1, CreatedAt: time.Now()}, Event: ev,
		Webhook: &silo.Webhook{URL: redir.URL, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}}}
	d := &Dispatcher{Store: st, Guard: &Guard{AllowPrivate: true}, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st.mu.Lock()
		n := len(st.outcomes)
		st.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if len(st.outcomes) != 1 || followed {
		t.Fatalf("outcomes %+v, followed %v", st.outcomes, followed)
	}
	o := st.outcomes[0]
	if o.Status != silo.DeliveryPending || o.StatusCode != 302 || !strings.Contains(o.Error, "redirect") || o.Next.Sub(o.At) != 5*time.Second {
		t.Fatalf("outcome = %+v", o)
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}
	for i, w := range want {
		if got := Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := Backoff(30); got != time.Hour {
		t.Errorf("Backoff(30) = %s", got)
	}
}

func TestBodyIsCloudEvent(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := &silo.Event{ID: "evt_1", Type: silo.EventUsageThreshold, Subject: "org_1", Time: at,
		Data: silo.EventData{Threshold: &silo.ThresholdEvent{OrgID: "org_1", ThresholdPercent: 95, UsageBytes: 95, LimitBytes: 100}}}
	b, err := (&Dispatcher{Source: "https://silo.example"}).Body(ev)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	if got["specversion"] != "1.0" || got["id"] != "evt_1" || got["source"] != "https://silo.example" || got["type"] != "usage.threshold" ||
		got["subject"] != "org_1" || got["time"] != "2026-01-02T03:04:05Z" {
		t.Fatalf("body = %s", b)
	}
	data := got["data"].(map[string]any)
	if data["threshold_percent"] != 95.0 || data["project_id"] != nil {
		t.Fatalf("data = %v", data)
	}
}

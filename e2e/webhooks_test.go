package e2e

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/internal/testenv"
)

// Webhooks end to end: a real silo binary posts to a Node receiver that
// verifies every delivery with npm standardwebhooks and parses it with npm
// cloudevents (sdk-tests/webhooks/receiver.mjs).

// newHook creates an endpoint for receiver hook name with key (body adds
// fields: events, org_id, all_orgs) and tells the receiver its secret.
func newHook(t *testing.T, base, key string, rcv *testenv.HookReceiver, name string, body map[string]any) string {
	t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	body["url"] = rcv.HookURL(name)
	st, w := call(t, "POST", base+"/v1/webhooks", key, body)
	if st != 201 {
		t.Fatalf("create webhook: %d %v", st, w)
	}
	secret, _ := w["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || w["id"] == "" {
		t.Fatalf("create webhook answer: %v", w)
	}
	rcv.Set(name, secret, 200)
	return w["id"].(string)
}

// hookTally is what a receiver got for one hook: every event once (by
// webhook-id), how many attempts were duplicates of a delivered one.
type hookTally struct {
	events     map[string]testenv.Delivery // by id: the first 2xx delivery
	order      []string                    // event ids in the order first delivered
	duplicates int                         // 2xx deliveries of an id already delivered
	bad        []string                    // deliveries that failed verification or parsing
}

func count(ds []testenv.Delivery, hook string) hookTally {
	t := hookTally{events: map[string]testenv.Delivery{}}
	for _, d := range ds {
		if d.Hook != hook {
			continue
		}
		if !d.Verified || d.Error != "" || d.ID != d.WebhookID || d.SpecVersion != "1.0" ||
			d.ContentType != "application/cloudevents+json" {
			t.bad = append(t.bad, fmt.Sprintf("%+v", d))
			continue
		}
		if d.Status < 200 || d.Status > 299 {
			continue
		}
		if _, ok := t.events[d.ID]; ok {
			t.duplicates++
			continue
		}
		t.events[d.ID] = d
		t.order = append(t.order, d.ID)
	}
	return t
}

// kinds lists "type subject [reason|percent]" of the events, sorted.
func (t hookTally) kinds() []string {
	var out []string
	for _, d := range t.events {
		var data map[string]any
		json.Unmarshal(d.Data, &data)
		s := d.Type + " " + d.Subject
		if r, ok := data["reason"].(string); ok {
			s += " " + r
		}
		if p, ok := data["threshold_percent"].(float64); ok {
			s += fmt.Sprintf(" %.0f", p)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func hookEnv(extra ...string) []string {
	return append([]string{"SILO_BOOTSTRAP_KEY=" + adminKey, "SILO_RATE_LIMIT=0"}, extra...)
}

// TestWebhooksExactlyWhatHappened: creates accepted, refused over quota
// and refused as malformed; a validation, a failed validation, a delete, an
// expiry and an org purge; 80% crossed twice without falling back. The
// org's endpoint and an operator's endpoint get exactly the events of what
// committed, each verified by the reference libraries.
func TestWebhooksExactlyWhatHappened(t *testing.T) {
	rcv := testenv.StartHookReceiver(t)
	p := siloproc.Serve(t, hookEnv(), "--data", t.TempDir(), "--webhook-allow-private", "--retention", "15s")
	base := p.URL
	file := jsonlRows(1000)
	size := int64(len(file))
	orgID, key := newOrg(t, base, "hooks", 10*size)
	newHook(t, base, key, rcv, "org", nil)
	newHook(t, base, adminKey, rcv, "ops", map[string]any{"all_orgs": true, "events": []string{"dataset.deleted", "usage.threshold"}})

	var want, ops []string
	create := func(k, body string, wait bool) string {
		t.Helper()
		st, out := createDataset(t, base, k, "d", strings.NewReader(body), true)
		if st != 200 {
			t.Fatalf("create: %d %v", st, out)
		}
		id := out["id"].(string)
		if wait {
			waitStatus(t, base, k, id, func(s string) bool { return s == "validated" || s == "failed" })
		}
		return id
	}
	del := create(key, file, true)
	if st, _ := call(t, "DELETE", base+"/v1/datasets/"+del, key, nil); st != 200 {
		t.Fatalf("delete: %d", st)
	}
	want = append(want, "dataset.created "+del, "dataset.validated "+del, "dataset.deleted "+del+" deleted")
	ops = append(ops, "dataset.deleted "+del+" deleted")
	var expired []string
	for i := 0; i < 8; i++ { // to 80%: one usage.threshold
		id := create(key, file, true)
		expired = append(expired, id)
		want = append(want, "dataset.created "+id, "dataset.validated "+id)
	}
	want = append(want, "usage.threshold "+orgID+" 80")
	ops = append(ops, "usage.threshold "+orgID+" 80")
	bad := create(key, strings.Repeat("x", int(size)-1)+"\n", true) // to 90%: no new threshold; fails validation
	expired = append(expired, bad)
	want = append(want, "dataset.created "+bad, "dataset.failed "+bad)
	// Refused: over the quota, and malformed (not multipart): no event.
	if st, out := createDataset(t, base, key, "too-big", strings.NewReader(jsonlRows(int(2*size))), true); st != 400 {
		t.Fatalf("over quota: %d %v", st, out)
	}
	if st, out := call(t, "POST", base+"/v1/datasets?name=x&type=embed-input", key, map[string]any{"not": "multipart"}); st != 400 {
		t.Fatalf("malformed create: %d %v", st, out)
	}
	// An org purge: org_deleted, to the operator's endpoint only.
	gone, goneKey := newOrg(t, base, "gone", 0)
	gid := create(goneKey, file, false)
	if st, out := call(t, "DELETE", base+"/v1/admin/orgs/"+gone+"?purge=true", adminKey, nil); st != 200 {
		t.Fatalf("purge: %d %v", st, out)
	}
	ops = append(ops, "dataset.deleted "+gid+" org_deleted")
	// The org's datasets expire (--retention 15s).
	for _, id := range expired {
		want = append(want, "dataset.deleted "+id+" expired")
		ops = append(ops, "dataset.deleted "+id+" expired")
	}
	sort.Strings(want)
	sort.Strings(ops)
	ds := rcv.WaitFor(2*time.Minute, func(ds []testenv.Delivery) bool {
		return len(count(ds, "org").events) >= len(want) && len(count(ds, "ops").events) >= len(ops)
	})
	time.Sleep(time.Second) // anything more would show now
	ds = rcv.Received()
	orgT, opsT := count(ds, "org"), count(ds, "ops")
	if len(orgT.bad)+len(opsT.bad) > 0 {
		t.Fatalf("deliveries the libraries refused: %v %v", orgT.bad, opsT.bad)
	}
	if got := orgT.kinds(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("org endpoint got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := opsT.kinds(); strings.Join(got, "\n") != strings.Join(ops, "\n") {
		t.Fatalf("operator endpoint got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(ops, "\n"))
	}
	// The data is the Dataset object plus org_id; the source the server's URL.
	for _, d := range orgT.events {
		if d.Source != base {
			t.Fatalf("source %q, want %q", d.Source, base)
		}
		var data map[string]any
		json.Unmarshal(d.Data, &data)
		if d.Type == "usage.threshold" {
			if data["org_id"] != orgID || data["project_id"] != nil || data["limit_bytes"].(float64) != float64(10*size) {
				t.Fatalf("threshold data: %v", data)
			}
			continue
		}
		if data["id"] != d.Subject || data["org_id"] != orgID || data["dataset_type"] != "embed-input" || data["dataset_parts"] == nil {
			t.Fatalf("%s data: %v", d.Type, data)
		}
		if d.Type == "dataset.validated" && data["validation_status"] != "validated" {
			t.Fatalf("validated event's status: %v", data["validation_status"])
		}
	}
	t.Logf("org endpoint: %d events, %d duplicates; operator endpoint: %d events, %d duplicates",
		len(orgT.events), orgT.duplicates, len(opsT.events), opsT.duplicates)
}

// TestWebhookSSRF: without --webhook-allow-private, endpoints on loopback,
// private, link-local and unspecified addresses, and names that resolve
// to one, are refused with 422 naming the rule.
func TestWebhookSSRF(t *testing.T) {
	p := siloproc.Serve(t, hookEnv(), "--data", t.TempDir())
	for _, u := range []string{
		"http://127.0.0.1:9/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data",
		"http://[::1]:9/hook", "http://localhost:9/hook", "http://0.0.0.0/", "http://192.168.1.1/", "http://[fd00::1]/",
		"ftp://example.com/", "not a url",
	} {
		st, out := call(t, "POST", p.URL+"/v1/webhooks", adminKey, map[string]any{"url": u})
		msg, _ := out["message"].(string)
		if st != 422 || !(strings.Contains(msg, "address") || strings.Contains(msg, "http")) {
			t.Errorf("%s: %d %v, want 422 naming the rule", u, st, out)
		}
	}
}

// TestWebhooksAtLeastOnce: the receiver answering 500 for a while, the
// receiver down, and kill -9 of the node between the commits and their
// deliveries: every event arrives, duplicates carry the same webhook-id.
func TestWebhooksAtLeastOnce(t *testing.T) {
	rcv := testenv.StartHookReceiver(t)
	dir := t.TempDir()
	args := []string{"--data", dir, "--webhook-allow-private", "--retention", "0"}
	p := siloproc.Serve(t, hookEnv(), args...)
	_, key := newOrg(t, p.URL, "alo", 0)
	newHook(t, p.URL, key, rcv, "h", map[string]any{"events": []string{"dataset.created"}})
	file := jsonlRows(300)
	expected := 0
	createN := func(base string, n int) {
		for i := 0; i < n; i++ {
			if st, out := createDataset(t, base, key, "x", strings.NewReader(file), true); st != 200 {
				t.Fatalf("create: %d %v", st, out)
			}
			expected++
		}
	}
	report := func(phase string) {
		ds := rcv.WaitFor(2*time.Minute, func(ds []testenv.Delivery) bool { return len(count(ds, "h").events) >= expected })
		c := count(ds, "h")
		if len(c.bad) > 0 {
			t.Fatalf("%s: refused deliveries: %v", phase, c.bad)
		}
		t.Logf("%s: events expected %d, delivered %d, duplicated %d", phase, expected, len(c.events), c.duplicates)
		if len(c.events) != expected {
			t.Fatalf("%s: %d events delivered, want %d", phase, len(c.events), expected)
		}
	}
	// Answering 500 for a while.
	rcv.Set("h", hookSecret(t, rcv), 500)
	createN(p.URL, 5)
	rcv.WaitFor(time.Minute, func(ds []testenv.Delivery) bool { return len(ds) >= 5 })
	rcv.Set("h", hookSecret(t, rcv), 200)
	report("receiver answering 500")
	// Down: nothing listens on its port.
	rcv.Stop()
	createN(p.URL, 5)
	time.Sleep(3 * time.Second)
	rcv.Start()
	report("receiver down")
	// kill -9 with deliveries committed but not yet sent (the receiver
	// refuses them meanwhile), then a restart on the same directory.
	rcv.Set("h", hookSecret(t, rcv), 503)
	createN(p.URL, 5)
	p.Kill()
	rcv.Set("h", hookSecret(t, rcv), 200)
	p = siloproc.Serve(t, hookEnv(), args...)
	report("kill -9 between commit and delivery")
}

// hookSecret is the secret the receiver holds for hook h (set by newHook).
func hookSecret(t *testing.T, rcv *testenv.HookReceiver) string { return rcv.Secret("h") }

// TestWebhooksTwoNodes: 2 nodes on one PostgreSQL, creates spread over
// both under load, a PostgreSQL restart in the middle: every event is
// delivered, each dataset's created before its validated; duplicates are
// counted and reported.
func TestWebhooksTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL, S3 and two nodes")
	}
	rcv := testenv.StartHookReceiver(t)
	pg := testenv.OwnPostgres(t)
	s3 := testenv.S3(t)
	env := append(s3.Env(), hookEnv("SILO_MAX_INFLIGHT_PER_KEY=128", "SILO_LEASE_TTL=5s")...)
	start := func() *siloproc.Proc {
		return siloproc.Serve(t, env, "--db", pg.URL, "--blobs", s3.URL, "--data", t.TempDir(), "--webhook-allow-private", "--retention", "0")
	}
	nodes := []*siloproc.Proc{start(), start()}
	_, key := newOrg(t, nodes[0].URL, "two", 0)
	newHook(t, nodes[0].URL, key, rcv, "h", map[string]any{"events": []string{"dataset.created", "dataset.validated"}})
	file := jsonlRows(500)
	var mu sync.Mutex
	var ids []string
	load := func(n int) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, out := createDataset(t, nodes[i%2].URL, key, "x", strings.NewReader(file), true)
				if st != 200 {
					t.Errorf("create: %d %v", st, out)
					return
				}
				mu.Lock()
				ids = append(ids, out["id"].(string))
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	load(30)
	if err := pg.Restart("fast"); err != nil {
		t.Fatal(err)
	}
	load(30)
	for _, id := range ids {
		waitStatus(t, nodes[0].URL, key, id, func(s string) bool { return s == "validated" })
	}
	expected := 2 * len(ids)
	ds := rcv.WaitFor(2*time.Minute, func(ds []testenv.Delivery) bool { return len(count(ds, "h").events) >= expected })
	c := count(ds, "h")
	if len(c.bad) > 0 {
		t.Fatalf("refused deliveries: %v", c.bad)
	}
	if len(c.events) != expected {
		t.Fatalf("%d events delivered, want %d", len(c.events), expected)
	}
	// Order: each dataset's created arrived before its validated.
	pos := map[string]int{}
	for i, id := range c.order {
		d := c.events[id]
		pos[d.Type+" "+d.Subject] = i
	}
	for _, id := range ids {
		cr, ok1 := pos["dataset.created "+id]
		va, ok2 := pos["dataset.validated "+id]
		if !ok1 || !ok2 || cr > va {
			t.Fatalf("dataset %s: created at %d (%v), validated at %d (%v)", id, cr, ok1, va, ok2)
		}
	}
	t.Logf("2 nodes + PostgreSQL restart: events expected %d, delivered %d, duplicated %d", expected, len(c.events), c.duplicates)
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// hooksPerOrg is how many endpoints subscribe to everything in the
// "with webhooks" runs of workload 11.
const hooksPerOrg = 3

// webhooks is workload 11 (issue 26): creates/s of one organisation with
// hooksPerOrg endpoints subscribed to every event type against an
// organisation with none, embedded and on 2 nodes (PostgreSQL +
// versitygw), and the event latency (the event's time, set at its commit,
// to its arrival at the receiver) under that load. The receiver is a tiny
// Go server on loopback (so the nodes run with --webhook-allow-private)
// that answers 204 at once: what is measured is silo's side.
func (b *bench) webhooks() error {
	recv, err := startHookSink()
	if err != nil {
		return err
	}
	defer recv.close()
	file, err := b.dataFile("embed", b.sz.HookEach)
	if err != nil {
		return err
	}
	emb, err := b.siloServer("silo-embedded-hooks", filepath.Join(b.tmp, "embedded-hooks"), "--webhook-allow-private")
	if err != nil {
		return err
	}
	err = b.hookRuns("embedded (SQLite + disk)", "embedded", []*proc{emb}, recv, file)
	emb.stop()
	if err != nil {
		return err
	}
	nodes, _, err := b.cluster("hooknode", 2, "--webhook-allow-private")
	if err != nil {
		return err
	}
	defer stopAll(nodes)
	return b.hookRuns("2 nodes (PostgreSQL + versitygw)", "2 nodes", nodes, recv, file)
}

// hookRuns alternates runs with and without webhooks on nodes and adds the
// rows of one set-up.
func (b *bench) hookRuns(setup, short string, nodes []*proc, recv *hookSink, file string) error {
	admin := newClient(nodes[0].url(), adminKey)
	var with, without, cpuWith, cpuWithout []float64
	var lats []time.Duration
	var dups, disorder, retried int
	var why []string
	// One run of each kind unmeasured first: cold nodes (pools, the
	// object store's first writes) would go against whichever ran first.
	// A run lasts seconds and the machine is shared: more rounds than
	// other workloads (7 in a full run), as workload 8 takes.
	rounds := 2*b.sz.Rounds + 1
	if b.smoke {
		rounds = b.sz.Rounds // the harness only
	}
	for round := -1; round < rounds; round++ {
		for _, hooks := range inTurn(max(round, 0), true, false) {
			r, err := b.hookRun(admin, nodes, recv, file, fmt.Sprintf("hooks-%s-%d-%v", strings.ReplaceAll(short, " ", ""), round, hooks), hooks)
			if err != nil {
				return err
			}
			if round < 0 {
				continue
			}
			if hooks {
				with = append(with, r.rate)
				cpuWith = append(cpuWith, r.cpu)
				lats = append(lats, r.lats...)
				dups += r.dups
				disorder += r.disorder
				retried += r.retried
				if r.why != "" {
					why = append(why, r.why)
				}
			} else {
				without = append(without, r.rate)
				cpuWithout = append(cpuWithout, r.cpu)
			}
		}
	}
	if disorder > 0 {
		return fmt.Errorf("%s: %d deliveries of a dataset arrived before an earlier event of it", setup, disorder)
	}
	w, wo := median(with), median(without)
	slices.Sort(lats)
	p50, p99 := lats[len(lats)/2], lats[len(lats)*99/100]
	wl := "11 webhooks"
	b.ratioRow(wl, fmt.Sprintf("%s: creates/s of %s files, %d connections, %d webhooks subscribed to everything / none", setup, fmtMiB(b.sz.HookEach), b.sz.Conc, hooksPerOrg),
		fmt.Sprintf("%.1f creates/s", w), fmt.Sprintf("%.1f creates/s without webhooks", wo), w/wo, ">=", 0.9)
	cw, cwo := median(cpuWith), median(cpuWithout)
	b.ratioRow(wl, fmt.Sprintf("%s: server CPU per create, all nodes, until every delivery is made (without/with)", setup),
		fmt.Sprintf("%.2f ms", cw), fmt.Sprintf("%.2f ms without webhooks", cwo), cwo/cw, "", 0)
	b.ratioRow(wl, fmt.Sprintf("%s: event latency, commit → receiver, p50 / p99 (%d deliveries under that load)", setup, len(lats)),
		fmtDur(p50)+" / "+fmtDur(p99), "—", 0, "", 0)
	b.note("Workload 11, %s: creates/s with/without webhooks per round: %s (with: %s; without: %s); CPU per create without/with per round: %s; duplicates received: %d; deliveries that took more than one attempt: %d %q.",
		short, roundRatios(with, without), fmtList("%.1f", with), fmtList("%.1f", without), roundRatios(cpuWithout, cpuWith), dups, retried, why)
	return nil
}

// hookRunResult is one run of workload 11.
type hookRunResult struct {
	rate           float64         // creates per second
	cpu            float64         // server CPU (all nodes) per create until the run's work is done, ms
	lats           []time.Duration // first arrival of each delivery, from its event's time
	dups, disorder int
	retried        int    // deliveries (of the latest listed) that took more than one attempt
	why            string // the last error of one of them
}

// hookRun makes a new org (with hooksPerOrg endpoints if hooks), sends
// creates of file for the load duration on Conc connections spread over
// the nodes, then waits until every dataset is validated and, with hooks,
// every event has reached every endpoint, so that the next run starts on
// idle nodes.
func (b *bench) hookRun(admin *client, nodes []*proc, recv *hookSink, file, name string, hooks bool) (hookRunResult, error) {
	org, err := admin.newOrgKey(name, 1<<50)
	if err != nil {
		return hookRunResult{}, err
	}
	var eps, hookIDs []string
	if hooks {
		for i := range hooksPerOrg {
			ep := fmt.Sprintf("%s-%d", name, i)
			body := fmt.Sprintf(`{"url":%q,"events":[]}`, recv.url+"/"+ep)
			var h struct{ ID string }
			if err := org.do("POST", "/v1/webhooks", bytes.NewBufferString(body), &h); err != nil {
				return hookRunResult{}, err
			}
			eps, hookIDs = append(eps, ep), append(hookIDs, h.ID)
		}
	}
	clients := make([]*client, len(nodes))
	for i, p := range nodes {
		clients[i] = newClient(p.url(), org.key)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return hookRunResult{}, err
	}
	cpu0, err := cpuOfAll(nodes)
	if err != nil {
		return hookRunResult{}, err
	}
	var mu sync.Mutex
	var ids []string
	var next int
	res, err := measure(nil, b.sz.Conc, b.sz.LoadDur, func(context.Context) error {
		mu.Lock()
		c := clients[next%len(clients)]
		next++
		mu.Unlock()
		status, id, err := c.createBytes(data)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("create: status %d", status)
		}
		if err != nil {
			return err
		}
		mu.Lock()
		ids = append(ids, id)
		mu.Unlock()
		return nil
	})
	if err != nil {
		return hookRunResult{}, err
	}
	for _, id := range ids {
		if _, err := clients[0].waitFinal(id, 10*time.Minute); err != nil {
			return hookRunResult{}, err
		}
	}
	out := hookRunResult{rate: res.RPS}
	if hooks {
		// Every dataset: created and validated, to every endpoint.
		want := 2 * len(ids)
		for _, ep := range eps {
			got, err := recv.wait(ep, want, 10*time.Minute)
			if err != nil {
				return hookRunResult{}, fmt.Errorf("%s: %w", name, err)
			}
			out.lats = append(out.lats, got.lats...)
			out.dups += got.dups
			out.disorder += got.disorder
		}
		// Attempts beyond the first, and why: the latency's tail.
		for _, id := range hookIDs {
			var ds struct {
				Deliveries []struct {
					Attempts  int     `json:"attempts"`
					LastError *string `json:"last_error"`
				}
			}
			if err := org.do("GET", "/v1/webhooks/"+id+"/deliveries?limit=1000", nil, &ds); err != nil {
				return hookRunResult{}, err
			}
			for _, d := range ds.Deliveries {
				if d.Attempts > 1 {
					out.retried++
					if d.LastError != nil && out.why == "" {
						out.why = *d.LastError
					}
				}
			}
		}
	}
	cpu1, err := cpuOfAll(nodes)
	if err != nil {
		return hookRunResult{}, err
	}
	out.cpu = float64(cpu1-cpu0) / float64(time.Millisecond) / float64(len(ids))
	log.Printf("run %s: %.1f creates/s (%d), %.2f ms CPU per create", name, res.RPS, len(ids), out.cpu)
	return out, nil
}

// cpuOfAll is the CPU time the nodes have used so far.
func cpuOfAll(nodes []*proc) (time.Duration, error) {
	var sum time.Duration
	for _, p := range nodes {
		t, err := p.cpuTime()
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// createBytes is create of a file already in memory.
func (c *client) createBytes(data []byte) (int, string, error) {
	const boundary = "silo-bench-hooks-5e6f7a"
	var body bytes.Buffer
	fmt.Fprintf(&body, "--%s\r\nContent-Disposition: form-data; name=\"data\"; filename=\"hooks.csv\"\r\n\r\n", boundary)
	body.Write(data)
	fmt.Fprintf(&body, "\r\n--%s--\r\n", boundary)
	req, err := http.NewRequest("POST", c.base+"/v1/datasets?name=hooks&type=embed-input", &body)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp.StatusCode, "", err
	}
	var created struct{ ID string }
	if err := json.Unmarshal(out, &created); err != nil || created.ID == "" {
		return 0, "", fmt.Errorf("create: 200 without an id: %s", bytes.TrimSpace(out))
	}
	return resp.StatusCode, created.ID, nil
}

// hookSink is the receiver of workload 11: it answers every POST with 204
// and keeps, per endpoint (the path), each event's first arrival.
type hookSink struct {
	url string
	srv *http.Server
	mu  sync.Mutex
	eps map[string]*sinkEndpoint
}

type sinkEndpoint struct {
	seen     map[string]bool // event ids
	created  map[string]bool // subjects whose dataset.created arrived
	lats     []time.Duration
	dups     int
	disorder int
}

func startHookSink() (*hookSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &hookSink{url: "http://" + ln.Addr().String(), eps: map[string]*sinkEndpoint{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve)}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *hookSink) serve(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	var ev struct {
		ID, Type, Subject string
		Time              time.Time
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	if err != nil || ev.ID != r.Header.Get("webhook-id") {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	ep := s.eps[r.URL.Path[1:]]
	if ep == nil {
		ep = &sinkEndpoint{seen: map[string]bool{}, created: map[string]bool{}}
		s.eps[r.URL.Path[1:]] = ep
	}
	switch {
	case ep.seen[ev.ID]:
		ep.dups++
	default:
		ep.seen[ev.ID] = true
		ep.lats = append(ep.lats, at.Sub(ev.Time))
		if ev.Type == "dataset.created" {
			ep.created[ev.Subject] = true
		} else if strings.HasPrefix(ev.Type, "dataset.") && !ep.created[ev.Subject] {
			ep.disorder++
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// wait returns what endpoint ep received once it has n distinct events.
func (s *hookSink) wait(ep string, n int, timeout time.Duration) (sinkEndpoint, error) {
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		e := s.eps[ep]
		var got sinkEndpoint
		if e != nil {
			got = sinkEndpoint{lats: slices.Clone(e.lats), dups: e.dups, disorder: e.disorder}
		}
		s.mu.Unlock()
		if len(got.lats) >= n {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("endpoint %s: %d of %d events within %v", ep, len(got.lats), n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *hookSink) close() { s.srv.Close() }

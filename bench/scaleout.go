package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/silo-datasets/silo/internal/testenv"
)

// scaleOut is workload 8: two silo nodes on one PostgreSQL and one S3
// server (versitygw), ScaleCreates concurrent creates of ScaleEach bytes in
// one organisation, spread over both nodes. With a quota that admits about
// half of them against a huge quota: the org's row is what every create
// reserves against, so this shows whether that hot row is the bottleneck.
// Also the same creates on the embedded store, and the usage p50 on
// PostgreSQL against a bare SELECT 1 round trip.
func (b *bench) scaleOut() error {
	ctx := context.Background()
	nodes, dbURL, err := b.cluster("node", 2)
	if err != nil {
		return err
	}
	defer stopAll(nodes)
	file, err := b.dataFile("embed", b.sz.ScaleEach)
	if err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	n := b.sz.ScaleCreates
	half := int64(n/2) * st.Size()
	// One burst unmeasured first, so that neither kind meets cold nodes
	// (connection pools, the object store's first writes); then the two
	// kinds alternate which goes first.
	if _, err := b.createBurst(nodes, "so-warm", 1<<50, file, n); err != nil {
		return err
	}
	// A burst lasts a second or two and its time is the slowest of its
	// creates', so the two kinds take more rounds than other workloads
	// (7 in a full run) for their medians to settle.
	var tight, huge []createRun
	for round := range 2*b.sz.Rounds + 1 {
		for _, quota := range inTurn[int64](round, half, 1<<50) {
			r, err := b.createBurst(nodes, fmt.Sprintf("so-%d-%d", round, quota), quota, file, n)
			if err != nil {
				return err
			}
			if quota == half {
				tight = append(tight, r)
			} else {
				huge = append(huge, r)
			}
		}
	}
	emb, err := b.siloServer("silo-embedded-burst", filepath.Join(b.tmp, "embedded-burst"))
	if err != nil {
		return err
	}
	defer emb.stop()
	var embedded []createRun
	for round := range b.sz.Rounds {
		r, err := b.createBurst([]*proc{emb}, fmt.Sprintf("emb-%d", round), 1<<50, file, n)
		if err != nil {
			return err
		}
		embedded = append(embedded, r)
	}
	t, h, e := medianRun(tight), medianRun(huge), medianRun(embedded)
	w := "8 scale-out"
	b.ratioRow(w, fmt.Sprintf("%d concurrent %s creates in one org on 2 nodes (PostgreSQL + versitygw), quota admits half: answers/s", n, fmtMiB(st.Size())),
		fmt.Sprintf("%.1f creates/s (%d accepted)", t.rate, t.accepted), fmt.Sprintf("%.1f creates/s with a huge quota", h.rate), t.rate/h.rate, ">=", 0.8)
	b.ratioRow(w, "scale-out (2 nodes) vs embedded (1 node, SQLite + disk), huge quota, creates/s",
		fmt.Sprintf("%.1f creates/s", h.rate), fmt.Sprintf("%.1f creates/s embedded", e.rate), h.rate/e.rate, "", 0)
	b.note("Workload 8: ratios per round (tight/huge): %s; PostgreSQL is a throwaway cluster without fsync (as in the tests), versitygw on local disk, all on this machine's 2 cores.",
		roundRatios(rates(tight), rates(huge)))

	// PostgreSQL p50: authenticated usage through a node (one query: key +
	// org) against SELECT 1 from here, same connections and duration; on
	// one connection (a round trip's own latency: HTTP, the node, the
	// query) and on Conc (with the queueing of 2 cores shared by the load,
	// 2 nodes, PostgreSQL and versitygw).
	for _, conc := range []int{1, b.sz.Conc} {
		var ur, sr []loadResult
		for round := range b.sz.Rounds {
			for _, usage := range inTurn(round, true, false) {
				var r loadResult
				var err error
				if usage {
					r, err = load(nil, nodes[0].url()+"/v1/datasets/usage", adminKey, conc, b.sz.LoadDur)
					ur = append(ur, r)
				} else {
					r, err = selectOne(ctx, dbURL, conc, b.sz.LoadDur)
					sr = append(sr, r)
				}
				if err != nil {
					return err
				}
			}
		}
		um, sm := medianLoad(ur), medianLoad(sr)
		b.ratioRow(w, fmt.Sprintf("usage p50 on PostgreSQL through a node, %d connection(s) (SELECT 1 / silo)", conc), fmtDur(um.P50),
			fmtDur(sm.P50)+" bare SELECT 1", float64(sm.P50)/float64(um.P50), "", 0)
	}
	return nil
}

// createRun is one burst of concurrent creates.
type createRun struct {
	rate     float64 // answers (200 or over-quota 400) per second
	accepted int
}

// cluster starts n silo nodes (named prefix1, prefix2...) on a fresh
// PostgreSQL database and S3 bucket of this process's servers; it returns
// them and the database's URL. extra are more flags for every node.
func (b *bench) cluster(prefix string, n int, extra ...string) ([]*proc, string, error) {
	ctx := context.Background()
	dbURL, err := testenv.StartPostgres(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("PostgreSQL: %w", err)
	}
	s3, err := testenv.StartS3(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("versitygw: %w", err)
	}
	var nodes []*proc
	for i := range n {
		p, err := b.siloServerEnv(fmt.Sprintf("silo-%s%d", prefix, i+1), filepath.Join(b.tmp, fmt.Sprintf("%s%d", prefix, i+1)),
			append([]string{"--db", dbURL, "--blobs", s3.URL}, extra...), s3.Env())
		if err != nil {
			stopAll(nodes)
			return nil, "", err
		}
		nodes = append(nodes, p)
	}
	return nodes, dbURL, nil
}

func stopAll(ps []*proc) {
	for _, p := range ps {
		p.stop()
	}
}

func medianRun(rs []createRun) createRun {
	var acc []int64
	for _, r := range rs {
		acc = append(acc, int64(r.accepted))
	}
	return createRun{rate: median(rates(rs)), accepted: int(median(acc))}
}

// roundRatios is a[i]/b[i] for each round, for the notes.
func roundRatios(a, b []float64) string {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = a[i] / b[i]
	}
	return fmtList("%.2f", r)
}

func rates(rs []createRun) []float64 {
	var r []float64
	for _, x := range rs {
		r = append(r, x.rate)
	}
	return r
}

// createBurst makes a new org with the quota and sends n creates of file
// at once, alternating between the nodes; every answer must be 200 or the
// over-quota 400, and the usage must then be exactly the accepted bytes.
func (b *bench) createBurst(nodes []*proc, name string, quota int64, file string, n int) (createRun, error) {
	admin := newClient(nodes[0].url(), adminKey)
	org, err := admin.newOrgKey(name, quota)
	if err != nil {
		return createRun{}, err
	}
	return b.burst(nodes, name, org, quota, file, n)
}

// burst is createBurst with org's key, which may be a project's (then
// quota is the project's, and the org holds nothing else).
func (b *bench) burst(nodes []*proc, name string, org *client, quota int64, file string, n int) (createRun, error) {
	clients := make([]*client, len(nodes))
	for i, p := range nodes {
		clients[i] = newClient(p.url(), org.key)
	}
	var mu sync.Mutex
	accepted, refused := 0, 0
	var ids []string
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, id, err := clients[i%len(clients)].create(file)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil && firstErr == nil:
				firstErr = err
			case status == http.StatusOK:
				accepted++
				ids = append(ids, id)
			case status == http.StatusBadRequest:
				refused++
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr != nil {
		return createRun{}, firstErr
	}
	st, err := os.Stat(file)
	if err != nil {
		return createRun{}, err
	}
	used, err := org.usage()
	if err != nil {
		return createRun{}, err
	}
	if used != int64(accepted)*st.Size() || used > quota || accepted+refused != n {
		return createRun{}, fmt.Errorf("burst %s: %d accepted, %d refused of %d, usage %d (quota %d)", name, accepted, refused, n, used, quota)
	}
	// The accepted datasets' validations run on the nodes after their 200s;
	// the next burst starts once they are over, or it would race the
	// backlog of this one (64 after a huge quota, 32 after a tight one).
	for _, id := range ids {
		if _, err := clients[0].waitFinal(id, 10*time.Minute); err != nil {
			return createRun{}, err
		}
	}
	log.Printf("burst %s: %d accepted, %d refused in %v", name, accepted, refused, took.Round(time.Millisecond))
	return createRun{rate: float64(n) / took.Seconds(), accepted: accepted}, nil
}

// create sends one create of file with a Content-Length and returns the
// status and, on a 200, the dataset's id; 200 and 400 are answers,
// anything else an error.
func (c *client) create(path string) (int, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, "", err
	}
	const boundary = "silo-bench-burst-1c2d3e"
	var body bytes.Buffer
	fmt.Fprintf(&body, "--%s\r\nContent-Disposition: form-data; name=\"data\"; filename=\"burst.csv\"\r\n\r\n", boundary)
	body.Write(data)
	fmt.Fprintf(&body, "\r\n--%s--\r\n", boundary)
	req, err := http.NewRequest("POST", c.base+"/v1/datasets?name=burst&type=embed-input", bytes.NewReader(body.Bytes()))
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
	if err != nil {
		return 0, "", fmt.Errorf("create: reading the answer: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		var created struct{ ID string }
		if err := json.Unmarshal(out, &created); err != nil || created.ID == "" {
			return 0, "", fmt.Errorf("create: 200 without an id: %s", bytes.TrimSpace(out))
		}
		return resp.StatusCode, created.ID, nil
	case http.StatusBadRequest:
		if !bytes.Contains(out, []byte("exceeded capacity")) {
			return 0, "", fmt.Errorf("create: 400 that is not over quota: %s", bytes.TrimSpace(out))
		}
		return resp.StatusCode, "", nil
	}
	return 0, "", fmt.Errorf("create: %d %s", resp.StatusCode, bytes.TrimSpace(out))
}

// selectOne is load's twin for PostgreSQL: conc connections run SELECT 1
// back to back for dur.
func selectOne(ctx context.Context, dbURL string, conc int, dur time.Duration) (loadResult, error) {
	pool, err := pgxpool.New(ctx, dbURL+"&pool_max_conns="+fmt.Sprint(conc))
	if err != nil {
		return loadResult{}, err
	}
	defer pool.Close()
	return measure(nil, conc, dur, func(ctx context.Context) error {
		var one int
		return pool.QueryRow(ctx, "SELECT 1").Scan(&one)
	})
}

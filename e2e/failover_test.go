package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/testenv"
)

// The database changes hands under load, as in production with a primary
// and a synchronous standby (CONTRACT.md, "High availability of the
// metadata store"): two nodes on libpq's multi-host URL, creates with
// Idempotency-Keys, deletes, lists and usage reads. Each test checks: no
// 500; every acknowledged create and delete holds on the promoted server;
// every create answered 504 settles when retried with its key; both nodes
// answer a create 2xx within 10 s of the promotion, without a restart; no
// node keeps a connection to the old primary or to the standby while it
// is in recovery; nothing reserved once settled; fsck exits 0. Each logs a
// FAILOVER line with the codes clients saw, the time from the promotion to
// each node's first 2xx, and the operations checked.

// TestFailoverPrimaryKilled: kill -9 of the primary (the postmaster and
// every backend: the host died), then pg_ctl promote of the standby.
func TestFailoverPrimaryKilled(t *testing.T) {
	runFailover(t, "primary killed, standby promoted", func(t *testing.T, primary, _ *testenv.PGServer) {
		if err := primary.Kill(); err != nil {
			t.Fatal(err)
		}
	}, false)
}

// TestFailoverCommitsInFlight: the standby stops answering for a moment,
// so that the primary's commits wait for its acknowledgement, and the
// primary is killed then. A create or delete whose final commit was
// waiting may or may not be on the standby, and the nodes cannot ask the
// dead primary: it answers 504, and settles on the promoted standby when
// retried with its key (or repeated, for a delete). Requests waiting on an
// earlier step answer 503 and changed nothing a client can see.
func TestFailoverCommitsInFlight(t *testing.T) {
	runFailover(t, "primary killed with commits waiting for the standby", func(t *testing.T, primary, standby *testenv.PGServer) {
		if err := standby.Freeze(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // commits pile up waiting for the standby; no condition to wait for
		err := primary.Kill()
		if terr := standby.Thaw(); terr != nil {
			t.Fatal(terr)
		}
		if err != nil {
			t.Fatal(err)
		}
	}, false)
}

// TestSwitchoverReadOnlyPrimary: the primary stays up but turns read-only
// (default_transaction_read_only, reloaded), as Patroni or pg_auto_failover
// demote it or an operator does for maintenance; then the standby is
// promoted. The nodes must leave the old primary on their own.
func TestSwitchoverReadOnlyPrimary(t *testing.T) {
	runFailover(t, "primary read-only, standby promoted", func(t *testing.T, primary, _ *testenv.PGServer) {
		if err := primary.SetReadOnly(t.Context()); err != nil {
			t.Fatal(err)
		}
	}, true)
}

// decisionTime stands for the time an HA manager takes between losing the
// primary and promoting the standby: the outage the clients see.
const decisionTime = 2 * time.Second

func runFailover(t *testing.T, name string, demote func(t *testing.T, primary, standby *testenv.PGServer), primaryStaysUp bool) {
	primary := testenv.OwnPostgres(t)
	standby := primary.Standby(t)
	c := newFaultClusterOn(t, primary, testenv.MultiHostURL(primary, standby))
	l := startLoadWith(t, c, 4, true)
	time.Sleep(2 * time.Second) // the load before the fault; no condition to wait for
	demote(t, primary, standby)
	time.Sleep(decisionTime)
	noConnections(t, "the standby in recovery", standby)
	outage(t, c)
	if err := standby.Promote(); err != nil {
		t.Fatal(err)
	}
	promoted := time.Now()
	firsts := firstWrites(t, c, l, promoted)
	time.Sleep(3 * time.Second) // the load after it
	l.end()
	if primaryStaysUp {
		noConnections(t, "the read-only old primary", primary)
	}
	settled := settleCreates(t, c, l)
	settleDeletes(t, c, l)
	settleAndCheck(t, c, l)
	noDuplicates(t, c)
	t.Logf("FAILOVER %s: codes:%s; first 2xx after the promotion: node 0 %v, node 1 %v; %d acknowledged creates and %d acknowledged deletes hold; %d creates answered 504 settled on retry with their key; %d creates refused stored nothing",
		name, l.codesString(), firsts[0].Round(10*time.Millisecond), firsts[1].Round(10*time.Millisecond),
		len(l.acked), len(l.deleted), settled, len(l.refused))
}

// firstWrites has each node create a dataset (with a key) until one is
// answered 2xx, from the promotion on, and returns how long each took.
// Both must within 10 s.
func firstWrites(t *testing.T, c *faultCluster, l *faultLoad, promoted time.Time) []time.Duration {
	t.Helper()
	firsts := make([]time.Duration, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() {
			for j := 0; ; j++ {
				if st := l.create(n.URL, fmt.Sprintf("probe%d-%d", i, j)); st >= 200 && st <= 299 {
					firsts[i] = time.Since(promoted)
					return
				}
				if time.Since(promoted) > 30*time.Second {
					firsts[i] = time.Since(promoted)
					return
				}
				time.Sleep(20 * time.Millisecond) // a client's retry pace
			}
		})
	}
	wg.Wait()
	for i, d := range firsts {
		if d > 10*time.Second {
			t.Errorf("node %d answered its first 2xx %v after the promotion, want within 10s", i, d)
		}
	}
	return firsts
}

// settleCreates retries every create answered 504 with its key until it
// is answered 200 (its first attempt committed and is replayed, or it had
// not and runs now); it returns how many settled.
func settleCreates(t *testing.T, c *faultCluster, l *faultLoad) int {
	t.Helper()
	settled := 0
	for name, base := range l.doubtNew {
		hdr := http.Header{"Idempotency-Key": {"idem-" + name}}
		deadline := time.Now().Add(2*faultLeaseTTL + 20*time.Second)
		for {
			st, out := createDatasetWith(base, c.key, name, strings.NewReader(jsonlRows(2000)), hdr)
			if st == 200 {
				l.acked[out["id"].(string)] = name
				settled++
				break
			}
			// 409: the first attempt's claim has not lapsed yet; 503/504:
			// still settling.
			if (st != 409 && st != 503 && st != 504) || time.Now().After(deadline) {
				t.Errorf("create %s answered 504 and then %d %v when retried with its key", name, st, out)
				break
			}
			time.Sleep(100 * time.Millisecond) // Retry-After's pace
		}
	}
	l.doubtNew = map[string]string{}
	return settled
}

// settleDeletes repeats every delete answered 504: then it holds.
func settleDeletes(t *testing.T, c *faultCluster, l *faultLoad) {
	t.Helper()
	for id := range l.doubtDel {
		st, out := call(t, "DELETE", c.nodes[0].URL+"/v1/datasets/"+id, c.key, nil)
		if st != 200 && st != 404 {
			t.Errorf("repeated delete of %s: %d %v", id, st, out)
			continue
		}
		l.deleted[id] = true
	}
}

// outage checks what a client gets from each node while no server takes
// writes: 503 with Retry-After, even for a read (a node that read from the
// read-only old primary would answer 200 with what may be stale by now).
func outage(t *testing.T, c *faultCluster) {
	t.Helper()
	for i, n := range c.nodes {
		req, err := http.NewRequest("GET", n.URL+"/v1/datasets/usage", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+c.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("node %d during the outage: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("node %d during the outage: %d, Retry-After %q; want 503 with Retry-After", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}

// noDuplicates checks that no create (a name) was stored twice, retried or
// not.
func noDuplicates(t *testing.T, c *faultCluster) {
	t.Helper()
	seen := map[string]bool{}
	for _, d := range listAll(t, c.nodes[0].URL, c.key) {
		name := d["name"].(string)
		if seen[name] {
			t.Errorf("create %s stored twice", name)
		}
		seen[name] = true
	}
}

// noConnections waits (briefly: the nodes never open one there) until pg
// holds no client connection of the nodes.
func noConnections(t *testing.T, what string, pg *testenv.PGServer) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		n, err := pg.ClientConns(t.Context())
		if err == nil && n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s holds %d connections of the nodes (%v)", what, n, err)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

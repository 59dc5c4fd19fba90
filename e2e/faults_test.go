package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/internal/testenv"
)

// The infrastructure fails under a bounded load against two nodes:
// PostgreSQL restarts or freezes, the object store goes away. Each test
// checks what the contract promises: no 500; nothing acknowledged lost; no
// create answered non-2xx (other than 504) stored anything; usage exact
// on every node; nothing reserved and no dataset stuck or failed once the
// dependency is back, without restarting a node; fsck exits 0. Each logs
// a FAULT line with the figures (codes seen, time to recover, reserved
// bytes after recovery, datasets failed or stuck).

// faultCluster is two nodes on a PostgreSQL and a versitygw of the test's own.
type faultCluster struct {
	pg    *testenv.PGServer
	db    string // the nodes' --db: pg's URL, or a multi-host URL
	s3    *testenv.S3Proc
	env   []string
	nodes []*siloproc.Proc
	key   string
}

const faultLeaseTTL = 5 * time.Second

func newFaultCluster(t *testing.T) *faultCluster {
	pg := testenv.OwnPostgres(t)
	return newFaultClusterOn(t, pg, pg.URL)
}

// newFaultClusterOn starts the two nodes with --db db, where pg is the
// server db leads to first.
func newFaultClusterOn(t *testing.T, pg *testenv.PGServer, db string) *faultCluster {
	s3 := testenv.OwnS3(t)
	c := &faultCluster{pg: pg, db: db, s3: s3, env: append(s3.Env(), "SILO_BOOTSTRAP_KEY="+adminKey, "SILO_RATE_LIMIT=0",
		"SILO_LEASE_TTL="+faultLeaseTTL.String(), "SILO_REQUEST_TIMEOUT=5s")}
	c.nodes = make([]*siloproc.Proc, 2)
	var wg sync.WaitGroup
	for i := range c.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.nodes[i] = siloproc.Serve(t, c.env, "--db", db, "--blobs", s3.URL, "--data", t.TempDir())
		}()
	}
	wg.Wait()
	_, c.key = newOrg(t, c.nodes[0].URL, "faults", 0)
	return c
}

func (c *faultCluster) fsck(t *testing.T) (string, error) {
	t.Helper()
	cmd := exec.Command(siloproc.Binary(t), "fsck", "--db", c.db, "--blobs", c.s3.URL, "--data", t.TempDir())
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// faultLoad is a bounded load of creates, deletes, lists and usage reads,
// with the books of what clients were told.
type faultLoad struct {
	c    *faultCluster
	stop chan struct{}
	wg   sync.WaitGroup

	mu        sync.Mutex
	idem      bool                   // creates carry an Idempotency-Key ("idem-" + name)
	codes     map[string]map[int]int // op -> status -> count
	acked     map[string]string      // id -> name: creates answered 200, not deleted since
	deleted   map[string]bool        // deletes answered 200
	doubtDel  map[string]bool        // deletes answered 504
	doubtNew  map[string]string      // name -> node: creates with a key answered 504
	refused   map[string]bool        // names of creates answered non-2xx other than 504
	lastError time.Time              // of the last answer that was not 2xx
	firstErr  time.Time
	errors    int
}

func startLoad(t *testing.T, c *faultCluster, workers int) *faultLoad {
	return startLoadWith(t, c, workers, false)
}

// startLoadWith is startLoad whose creates carry Idempotency-Keys if idem.
func startLoadWith(t *testing.T, c *faultCluster, workers int, idem bool) *faultLoad {
	l := &faultLoad{c: c, idem: idem, stop: make(chan struct{}), codes: map[string]map[int]int{}, acked: map[string]string{},
		deleted: map[string]bool{}, doubtDel: map[string]bool{}, doubtNew: map[string]string{}, refused: map[string]bool{}}
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.mu.Lock()
				before := l.errors
				l.mu.Unlock()
				base := c.nodes[(w+i)%len(c.nodes)].URL
				switch i % 4 {
				case 0, 1:
					l.create(base, fmt.Sprintf("f%d-%d", w, i))
				case 2:
					l.deleteOne(base, rng)
				case 3:
					l.read(base, "list", "/v1/datasets?limit=20")
					l.read(base, "usage", "/v1/datasets/usage")
				}
				l.mu.Lock()
				failed := l.errors > before
				l.mu.Unlock()
				if failed {
					// A client that backs off after an error (503 says
					// Retry-After) rather than one in a hot loop.
					time.Sleep(200 * time.Millisecond)
				}
			}
		}()
	}
	return l
}

func (l *faultLoad) record(op string, st int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.codes[op] == nil {
		l.codes[op] = map[int]int{}
	}
	l.codes[op][st]++
	if st < 200 || st > 299 {
		l.errors++
		if l.firstErr.IsZero() {
			l.firstErr = time.Now()
		}
		l.lastError = time.Now()
	}
}

func (l *faultLoad) do(req *http.Request) (int, map[string]any) {
	req.Header.Set("Authorization", "Bearer "+l.c.key)
	return send(req)
}

func (l *faultLoad) create(base, name string) int {
	var hdr http.Header
	if l.idem {
		hdr = http.Header{"Idempotency-Key": {"idem-" + name}}
	}
	st, out := createDatasetWith(base, l.c.key, name, strings.NewReader(jsonlRows(2000)), hdr)
	l.record("create", st)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case st == 200:
		l.acked[out["id"].(string)] = name
		delete(l.doubtNew, name)
	case st == 504 && l.idem:
		l.doubtNew[name] = base
	case st != 504:
		l.refused[name] = true
	}
	return st
}

func (l *faultLoad) deleteOne(base string, rng *rand.Rand) {
	l.mu.Lock()
	var ids []string
	for id := range l.acked {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	if len(ids) < 5 {
		return
	}
	sort.Strings(ids)
	id := ids[rng.IntN(len(ids))]
	req, _ := http.NewRequest("DELETE", base+"/v1/datasets/"+id, nil)
	st, _ := l.do(req)
	l.record("delete", st)
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case 200, 404: // 404: another worker's delete of the same id got there first
		if _, ok := l.acked[id]; ok || st == 200 {
			delete(l.acked, id)
			l.deleted[id] = true
		}
	case 504:
		delete(l.acked, id)
		l.doubtDel[id] = true
	}
}

func (l *faultLoad) read(base, op, path string) {
	req, _ := http.NewRequest("GET", base+path, nil)
	st, _ := l.do(req)
	l.record(op, st)
}

func (l *faultLoad) end() {
	close(l.stop)
	l.wg.Wait()
}

func (l *faultLoad) codesString() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ops []string
	for op := range l.codes {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	var b strings.Builder
	for _, op := range ops {
		var sts []int
		for st := range l.codes[op] {
			sts = append(sts, st)
		}
		sort.Ints(sts)
		fmt.Fprintf(&b, " %s{", op)
		for i, st := range sts {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(&b, "%d:%d", st, l.codes[op][st])
		}
		b.WriteString("}")
	}
	return b.String()
}

// runFault runs the load, applies fault (which returns when the dependency
// is back), lets the load run on, then checks and logs the figures.
func runFault(t *testing.T, name string, fault func(t *testing.T, c *faultCluster)) {
	c := newFaultCluster(t)
	l := startLoad(t, c, 4)
	time.Sleep(2 * time.Second) // the load before the fault; no condition to wait for
	start := time.Now()
	fault(t, c)
	back := time.Now()
	time.Sleep(3 * time.Second) // and after it
	l.end()
	reservedAtEnd := reserved(t, c.nodes[0].URL, c.key)
	settledIn, failed, stuck := settleAndCheck(t, c, l)
	recovered := time.Duration(0)
	if l.lastError.After(back) {
		recovered = l.lastError.Sub(back)
	}
	t.Logf("FAULT %s: fault lasted %v; codes:%s; errors until %v after the dependency was back; reserved %d B when the load stopped, 0 B %v later; datasets failed %d, stuck %d; %d acknowledged, %d deleted, %d refused",
		name, back.Sub(start).Round(100*time.Millisecond), l.codesString(), recovered.Round(100*time.Millisecond),
		reservedAtEnd, settledIn.Round(100*time.Millisecond), failed, stuck, len(l.acked), len(l.deleted), len(l.refused))
}

// settleAndCheck waits (within the lease and the retry backoff) until
// nothing is reserved and no dataset is queued or processing on any node,
// then checks the books and fsck.
func settleAndCheck(t *testing.T, c *faultCluster, l *faultLoad) (time.Duration, int, int) {
	t.Helper()
	start := time.Now()
	limit := 2*faultLeaseTTL + 40*time.Second
	var stuck int
	for {
		stuck = 0
		busy := int64(0)
		for _, n := range c.nodes {
			busy += reserved(t, n.URL, c.key)
			for _, d := range listAll(t, n.URL, c.key) {
				if s := d["validation_status"]; s == "queued" || s == "processing" {
					stuck++
				}
			}
		}
		if busy == 0 && stuck == 0 {
			break
		}
		if time.Since(start) > limit {
			t.Errorf("not settled %v after the load: %d bytes reserved, %d datasets queued or processing", limit, busy, stuck)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	settled := time.Since(start)
	for op, byCode := range l.codes {
		if byCode[500] > 0 || byCode[0] > 0 {
			t.Errorf("%s: %d answers 500 and %d requests that got no answer", op, byCode[500], byCode[0])
			for _, n := range c.nodes {
				for _, line := range strings.Split(n.Logs(), "\n") {
					if strings.Contains(line, "internal error") {
						t.Log(line)
					}
				}
			}
		}
	}
	failed := 0
	var usages []int64
	for _, n := range c.nodes {
		byID := map[string]map[string]any{}
		byName := map[string]bool{}
		var sum int64
		for _, d := range listAll(t, n.URL, c.key) {
			byID[d["id"].(string)] = d
			byName[d["name"].(string)] = true
			sum += int64(d["size_bytes"].(float64))
		}
		for id := range l.acked {
			d := byID[id]
			switch {
			case d == nil:
				t.Errorf("acknowledged dataset %s lost", id)
			case d["validation_status"] == "failed":
				failed++
				t.Errorf("dataset %s failed although its file is fine: %v", id, d["validation_error"])
			}
		}
		for id := range l.deleted {
			if byID[id] != nil {
				t.Errorf("dataset %s is there after its delete was acknowledged", id)
			}
		}
		for name := range l.refused {
			if byName[name] {
				t.Errorf("create %s was refused but stored", name)
			}
		}
		u := usage(t, n.URL, c.key)
		if u != sum {
			t.Errorf("usage on %s is %d, the datasets sum to %d", n.URL, u, sum)
		}
		usages = append(usages, u)
	}
	if usages[0] != usages[1] {
		t.Errorf("the nodes disagree on usage: %v", usages)
	}
	// The sweep deletes what the fault left as garbage within its interval.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := c.fsck(t)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("fsck after the fault: %v\n%s", err, out)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	return settled, failed, stuck
}

// TestPostgresRestartFast: pg_ctl restart -m fast under load.
func TestPostgresRestartFast(t *testing.T) {
	runFault(t, "postgres restart -m fast", func(t *testing.T, c *faultCluster) {
		if err := c.pg.Restart("fast"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPostgresRestartImmediate: pg_ctl restart -m immediate (a crash and
// recovery) under load.
func TestPostgresRestartImmediate(t *testing.T) {
	runFault(t, "postgres restart -m immediate", func(t *testing.T, c *faultCluster) {
		if err := c.pg.Restart("immediate"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPostgresFreeze: PostgreSQL stops answering for 10 s (SIGSTOP to the
// postmaster and its children), then goes on.
func TestPostgresFreeze(t *testing.T) {
	runFault(t, "postgres frozen 10s", func(t *testing.T, c *faultCluster) {
		if err := c.pg.Freeze(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second) // the length of the outage is the point
		if err := c.pg.Thaw(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestObjectStoreDown: versitygw is killed and started again 10 s later on
// the same port and directory.
func TestObjectStoreDown(t *testing.T) {
	runFault(t, "versitygw down 10s", func(t *testing.T, c *faultCluster) {
		c.s3.Stop()
		time.Sleep(10 * time.Second) // the length of the outage is the point
		if err := c.s3.Start(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestStopDuringValidation: SIGTERM while validations run; fsck right
// after the stop exits 0 (the jobs were handed back, their partial blobs
// deleted, reservations released), and a new node validates them.
func TestStopDuringValidation(t *testing.T) {
	c := newFaultCluster(t)
	c.nodes[1].Kill() // only node 0 validates (it held nothing yet)
	base := c.nodes[0].URL
	// Large enough that validation is still running when the stop comes.
	var ids []string
	for i := range 2 {
		st, out := createDataset(t, base, c.key, fmt.Sprintf("big-%d", i), strings.NewReader(chatRows(20<<20)), true)
		if st != 200 {
			t.Fatalf("create: %d %v", st, out)
		}
		ids = append(ids, out["id"].(string))
	}
	// The last one has left the queue: it is being validated (the first may
	// be done already, validation is fast).
	waitFor(t, func() bool { return status(t, base, c.key, ids[len(ids)-1]) != "queued" })
	// A fresh client: idle keep-alive connections would hold the drain.
	http.DefaultClient.CloseIdleConnections()
	if err := c.nodes[0].Stop(); err != nil {
		t.Fatal(err)
	}
	out, err := c.fsck(t)
	if err != nil {
		t.Fatalf("fsck right after SIGTERM during validation: %v\n%s\nnode log:\n%s", err, out, c.nodes[0].Logs())
	}
	stopped := 0
	for _, line := range strings.Split(c.nodes[0].Logs(), "\n") {
		if strings.Contains(line, "dataset validated") {
			stopped++
		}
	}
	if stopped == len(ids) {
		t.Log("every validation finished before the stop; the hand-back was not exercised")
	}
	p := siloproc.Serve(t, c.env, "--db", c.pg.URL, "--blobs", c.s3.URL, "--data", t.TempDir())
	for _, id := range ids {
		waitStatus(t, p.URL, c.key, id, func(s string) bool { return s == "validated" || s == "failed" })
		if s := status(t, p.URL, c.key, id); s != "validated" {
			t.Errorf("dataset %s %s after the stop", id, s)
		}
	}
	t.Logf("FAULT SIGTERM during validation: %d of %d validations were handed back; fsck right after: exit 0", len(ids)-stopped, len(ids))
}

// Package e2e tests silo as users run it: real processes, real PostgreSQL,
// a real S3 server, kill -9.
package e2e

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/postgres"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const adminKey = "silo_e2e_admin_key_0123456789abcdef"

// cluster is one PostgreSQL database and one S3 bucket that nodes share.
type cluster struct {
	db  string
	s3  testenv.S3Server
	env []string
}

// newCluster makes the shared stores. lease is the nodes' --lease-ttl:
// short where a test waits for a dead node's leases to run out, long where
// live nodes must keep theirs on a machine loaded by other tests.
func newCluster(t *testing.T, lease string) *cluster {
	s3 := testenv.S3(t)
	return &cluster{db: testenv.Postgres(t), s3: s3, env: append(s3.Env(),
		"SILO_BOOTSTRAP_KEY="+adminKey, "SILO_RATE_LIMIT=0", "SILO_LEASE_TTL="+lease,
		// Races of many creates from one key: its in-flight cap is not the point.
		"SILO_MAX_INFLIGHT_PER_KEY=128")}
}

func (c *cluster) node(t *testing.T) *siloproc.Proc {
	return siloproc.Serve(t, c.env, "--db", c.db, "--blobs", c.s3.URL, "--data", t.TempDir())
}

// nodes starts n nodes together on the empty database: they migrate and
// bootstrap exactly once between them.
func (c *cluster) nodes(t *testing.T, n int) []*siloproc.Proc {
	out := make([]*siloproc.Proc, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = c.node(t) }()
	}
	wg.Wait()
	return out
}

func (c *cluster) store(t *testing.T) *postgres.Store {
	s, err := postgres.Open(context.Background(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestMultiNodeRace: 3 nodes, one org with a small quota, 96 concurrent
// creates spread over the nodes totalling about 2× the quota. Every create
// is acknowledged or refused with 400; usage read from every node is the
// same, equals the acknowledged bytes and is within the quota; the bucket
// holds exactly the live datasets' blobs and no multipart upload.
func TestMultiNodeRace(t *testing.T) {
	c := newCluster(t, "30s")
	nodes := c.nodes(t, 3)
	keys, err := c.store(t).Keys(t.Context(), "")
	if err != nil || len(keys) != 1 {
		t.Fatalf("3 nodes starting together made %d bootstrap keys (%v), want 1", len(keys), err)
	}
	const n, size = 96, 20_000
	quota := int64(n / 2 * size)
	orgID, key := newOrg(t, nodes[0].URL, "race", quota)
	data := jsonlRows(size)
	var mu sync.Mutex
	var ok, refused int
	var acked int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, out := createDataset(t, nodes[i%3].URL, key, "race", strings.NewReader(data), i%2 == 0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case st == 200:
				ok++
				acked += size
			case st == 400 && strings.HasPrefix(fmt.Sprint(out["message"]), "You have exceeded capacity"):
				refused++
			default:
				t.Errorf("create: %d %v", st, out)
			}
		}()
	}
	wg.Wait()
	for i, nd := range nodes {
		u := usage(t, nd.URL, key)
		if u != acked {
			t.Errorf("node %d reads usage %d, want %d", i, u, acked)
		}
	}
	t.Logf("%d creates of %d bytes on 3 nodes against a quota of %d: %d acknowledged, %d refused, usage %d (%.0f%% of the quota)",
		n, size, quota, ok, refused, acked, 100*float64(acked)/float64(quota))
	if acked > quota || ok+refused != n || ok == 0 {
		t.Fatalf("acknowledged %d bytes (%d creates) of a %d quota", acked, ok, quota)
	}
	waitSettled(t, c, nodes[1].URL, key)
	checkBucket(t, c, orgID)
}

// TestReadAfterWriteAcrossNodes: what one node acknowledges, every other
// node sees at once.
func TestReadAfterWriteAcrossNodes(t *testing.T) {
	c := newCluster(t, "30s")
	nodes := c.nodes(t, 3)
	_, key := newOrg(t, nodes[0].URL, "raw", 0)
	data := jsonlRows(1000)
	st, out := createDataset(t, nodes[0].URL, key, "raw", strings.NewReader(data), true)
	if st != 200 {
		t.Fatal(st, out)
	}
	id := out["id"].(string)
	if u := usage(t, nodes[1].URL, key); u != 1000 {
		t.Fatalf("usage on B right after create on A: %d", u)
	}
	if st, out := call(t, "GET", nodes[2].URL+"/v1/datasets/"+id, key, nil); st != 200 {
		t.Fatalf("get on C: %d %v", st, out)
	}
	if st, out := call(t, "GET", nodes[1].URL+"/v1/datasets?limit=10", key, nil); st != 200 || len(out["datasets"].([]any)) != 1 {
		t.Fatalf("list on B: %d %v", st, out)
	}
	if st, out := call(t, "DELETE", nodes[1].URL+"/v1/datasets/"+id, key, nil); st != 200 {
		t.Fatalf("delete on B: %d %v", st, out)
	}
	if st, _ := call(t, "GET", nodes[0].URL+"/v1/datasets/"+id, key, nil); st != 404 {
		t.Fatalf("get on A after delete on B: %d", st)
	}
	if u := usage(t, nodes[2].URL, key); u != 0 {
		t.Fatalf("usage on C after delete on B: %d", u)
	}
}

// TestNodeDeath: kill -9 a node that holds a validation job and uploads in
// flight. Another node completes the job once the lease runs out, and its
// sweep releases the dead uploads' reservations and removes their partial
// objects and multipart uploads; usage is exact afterwards.
func TestNodeDeath(t *testing.T) {
	c := newCluster(t, "2s")
	a := c.node(t)
	orgID, key := newOrg(t, a.URL, "death", 0)
	big := chatRows(48 << 20)
	st, out := createDataset(t, a.URL, key, "big", strings.NewReader(big), true)
	if st != 200 {
		t.Fatal(st, out)
	}
	id := out["id"].(string)
	waitStatus(t, a.URL, key, id, func(s string) bool { return s != "queued" })
	if s := status(t, a.URL, key, id); s != "processing" {
		t.Fatalf("validation was already %s before the kill; make the dataset larger", s)
	}
	// Two uploads that send part of their file and stall.
	var stalled []*io.PipeWriter
	for i := 0; i < 2; i++ {
		pr, pw := io.Pipe()
		stalled = append(stalled, pw)
		go createDataset(t, a.URL, key, "stalled", pr, false)
		// This write fails once the node is killed and the pipe closed:
		// that is the stall this test makes, not an error of the test.
		go pw.Write([]byte(jsonlRows(6 << 20)))
	}
	deadline := time.Now().Add(30 * time.Second)
	for reserved(t, a.URL, key) < 6<<20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	a.Kill()
	for _, pw := range stalled {
		pw.CloseWithError(io.ErrClosedPipe)
	}
	b := c.node(t)
	waitStatus(t, b.URL, key, id, func(s string) bool { return s == "validated" || s == "failed" })
	if s := status(t, b.URL, key, id); s != "validated" {
		t.Fatalf("the dead node's job ended %s on the survivor", s)
	}
	waitSettled(t, c, b.URL, key)
	if u := usage(t, b.URL, key); u != int64(len(big)) {
		t.Fatalf("usage %d, want %d", u, len(big))
	}
	checkBucket(t, c, orgID)
}

// waitSettled waits until no upload holds quota and the sweep has deleted
// every garbage blob and no job is pending.
func waitSettled(t *testing.T, c *cluster, url, key string) {
	t.Helper()
	s := c.store(t)
	deadline := time.Now().Add(60 * time.Second)
	for {
		jobs, err := s.PendingJobs(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Reservations(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		unsettled := 0
		err = s.Blobs(t.Context(), func(_ string, st silo.BlobState) error {
			if st != silo.BlobLive {
				unsettled++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if jobs == 0 && len(res) == 0 && unsettled == 0 && reserved(t, url, key) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled after 60s: %d jobs, %d reservations, %d blobs not live", jobs, len(res), unsettled)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkBucket: the bucket holds exactly the ledger's live blobs, every
// dataset's blobs are there, and no multipart upload is left.
func checkBucket(t *testing.T, c *cluster, orgID string) {
	t.Helper()
	s := c.store(t)
	ledger := map[string]silo.BlobState{}
	if err := s.Blobs(t.Context(), func(k string, st silo.BlobState) error { ledger[k] = st; return nil }); err != nil {
		t.Fatal(err)
	}
	cl := c.s3.Client(t)
	objects := map[string]bool{}
	for obj := range cl.ListObjects(t.Context(), c.s3.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		objects[obj.Key] = true
		if ledger[obj.Key] != silo.BlobLive {
			t.Errorf("object %s in the bucket is %q in the ledger", obj.Key, ledger[obj.Key])
		}
	}
	for k := range ledger {
		if !objects[k] {
			t.Errorf("ledger blob %s is not in the bucket", k)
		}
	}
	for u := range cl.ListIncompleteUploads(t.Context(), c.s3.Bucket, "", true) {
		t.Errorf("multipart upload left: %s %s", u.Key, u.UploadID)
	}
	err := s.Datasets(t.Context(), silo.DatasetFilter{OrgID: orgID}, func(d *silo.Dataset) error {
		for _, p := range d.Parts {
			if !objects[p.BlobKey] || p.AvroKey != "" && !objects[p.AvroKey] {
				t.Errorf("dataset %s part %d lacks its blobs", d.ID, p.Index)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

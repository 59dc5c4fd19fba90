package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/postgres"
)

// An embedded silo moves to PostgreSQL + S3 and back. Interrupted half way
// the migration finishes when run again; run again after that it changes
// nothing; a target holding other data is refused. Two nodes on the target
// answer every organisation's list, get, usage, breakdown and history as
// the source did and serve its files byte for byte, also through signed
// URLs the source minted (the signing secret moved too), and fsck finds
// both targets consistent.
func TestMigrateEmbeddedToScaleOutAndBack(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	p := siloproc.Serve(t, embeddedEnv, "--data", src)
	keys := map[string]string{}
	for o := range 2 {
		_, key := newOrg(t, p.URL, fmt.Sprintf("org%d", o), 0)
		keys[key] = key
		for i := range 4 {
			q := "type=embed-input"
			if i == 1 {
				q += "&keep_original_file=false"
			}
			upload(t, p.URL, key, q, fmt.Sprintf("o%dd%d", o, i), jsonlRows(200_000+i*997))
		}
		waitFinal(t, p.URL, key)
		ds := listAll(t, p.URL, key)
		if st, out := call(t, "DELETE", p.URL+"/v1/datasets/"+ds[0]["id"].(string), key, nil); st != 200 {
			t.Fatalf("delete: %d %v", st, out)
		}
	}
	before := map[string]view{}
	for k := range keys {
		before[k] = viewOf(t, p.URL, k)
	}
	// A signed URL the source minted, to fetch from the target.
	var minted string
	collectURLs(getDataset(t, p.URL, firstKey(keys)), "", func(_, u string) { minted = u })
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}

	c := newCluster(t, "30s")
	s3c := c.s3.Client(t)
	bucket := bucketOf(t, c.s3.URL)
	slow := slowBlobs(t, c.s3.URL, 1<<20)
	env := c.env
	// Killed half way: some files are in the bucket, no metadata is in
	// the database.
	cmd := exec.Command(siloproc.Binary(t), "migrate", "--from-data", src, "--to-db", c.db, "--to-blobs", slow)
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		n := 0
		for o := range s3c.ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err == nil {
				n++
			}
		}
		return n >= 2
	})
	cmd.Process.Kill()
	cmd.Wait()
	if n := orgsIn(t, c.db); n != 0 {
		t.Fatalf("an interrupted migration left %d organisations in the target", n)
	}
	out := mustSilo(t, env, "migrate", "--from-data", src, "--to-db", c.db, "--to-blobs", c.s3.URL)
	if !strings.Contains(out, "resumed") {
		t.Errorf("the second run did not say it resumed:\n%s", out)
	}
	mustSilo(t, env, "fsck", "--db", c.db, "--blobs", c.s3.URL, "--data", t.TempDir())
	out = mustSilo(t, env, "migrate", "--from-data", src, "--to-db", c.db, "--to-blobs", c.s3.URL)
	if !strings.Contains(out, "nothing to do") {
		t.Errorf("a run after the migration finished did not say nothing changed:\n%s", out)
	}

	nodes := c.nodes(t, 2)
	for _, n := range nodes {
		for k := range keys {
			sameView(t, "node "+n.URL, viewOf(t, n.URL, k), before[k])
		}
		if st, out := call(t, "GET", n.URL+"/v1/admin/backup", adminKey, nil); st != 501 || !strings.Contains(fmt.Sprint(out), "pg_dump") {
			t.Errorf("backup on PostgreSQL + S3: %d %v, want 501 naming pg_dump", st, out)
		}
	}
	u, _ := url.Parse(minted)
	u.Host = strings.TrimPrefix(nodes[0].URL, "http://")
	download(t, u.String())
	for _, n := range nodes {
		n.Kill()
	}

	// A target with other data is refused: this one now holds the
	// migration of src; another source may not go into it.
	other := filepath.Join(dir, "other")
	o := siloproc.Serve(t, embeddedEnv, "--data", other)
	o.Stop()
	if out, err := runSilo(t, env, "migrate", "--from-data", other, "--to-db", c.db, "--to-blobs", c.s3.URL); err == nil || !strings.Contains(out, "another source") {
		t.Fatalf("migrating another source into a used target: %v\n%s", err, out)
	}
	if out, err := runSilo(t, env, "migrate", "--from-data", src, "--to-data", other); err == nil || !strings.Contains(out, "other data") {
		t.Fatalf("migrating into a used data directory: %v\n%s", err, out)
	}

	back := filepath.Join(dir, "back")
	mustSilo(t, env, "migrate", "--from-db", c.db, "--from-blobs", c.s3.URL, "--to-data", back)
	mustSilo(t, nil, "fsck", "--data", back)
	b := siloproc.Serve(t, embeddedEnv, "--data", back)
	for k := range keys {
		sameView(t, "back in a data directory", viewOf(t, b.URL, k), before[k])
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}

	// A file that is not what its dataset recorded stops a migration,
	// naming it.
	files, err := os.ReadDir(filepath.Join(back, "blobs", "blobs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no blob files in %s: %v", back, err)
	}
	bad := filepath.Join(back, "blobs", "blobs", files[0].Name())
	data, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(bad, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := runSilo(t, nil, "migrate", "--from-data", back, "--to-data", filepath.Join(dir, "again")); err == nil || !strings.Contains(out, files[0].Name()+" is corrupted") {
		t.Fatalf("migrating a corrupted file: %v\n%s", err, out)
	}
}

func firstKey(m map[string]string) string {
	for k := range m {
		return k
	}
	return ""
}

func getDataset(t *testing.T, base, key string) map[string]any {
	t.Helper()
	id := listAll(t, base, key)[0]["id"].(string)
	st, out := call(t, "GET", base+"/v1/datasets/"+id, key, nil)
	if st != 200 {
		t.Fatalf("get: %d %v", st, out)
	}
	return out
}

func bucketOf(t *testing.T, s3url string) string {
	u, err := url.Parse(s3url)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// slowBlobs is the blob store URL s3url through a proxy of rate bytes/s.
func slowBlobs(t *testing.T, s3url string, rate int) string {
	u, err := url.Parse(s3url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	ep, err := url.Parse(q.Get("endpoint"))
	if err != nil {
		t.Fatal(err)
	}
	ep.Host = slowProxy(t, ep.Host, rate)
	q.Set("endpoint", ep.String())
	u.RawQuery = q.Encode()
	return u.String()
}

func orgsIn(t *testing.T, db string) int {
	t.Helper()
	s, err := postgres.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var orgs []*silo.Org
	if orgs, err = s.Orgs(context.Background()); err != nil {
		t.Fatal(err)
	}
	return len(orgs)
}

// A PostgreSQL source that a node still writes to while migrate copies it
// is refused at the end: nothing is imported (a dataset created meanwhile
// would come without its files) and the target is not marked done. Once
// the node is stopped, the same command resumes and finishes, and fsck
// finds the target consistent.
func TestMigrateRefusesASourceInUse(t *testing.T) {
	c := newCluster(t, "30s")
	n := c.node(t)
	_, key := newOrg(t, n.URL, "busy", 0)
	for i := range 4 {
		upload(t, n.URL, key, "type=embed-input", fmt.Sprintf("d%d", i), jsonlRows(300_000))
	}
	waitFinal(t, n.URL, key)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var made atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if st, out := createDataset(t, n.URL, key, fmt.Sprintf("late%d", i), strings.NewReader(jsonlRows(20_000)), true); st != 200 {
				t.Errorf("create during the migration: %d %v", st, out)
				return
			}
			made.Add(1)
		}
	}()
	// The source's files through a slow link: the copy takes seconds.
	target := filepath.Join(t.TempDir(), "target")
	out, err := runSilo(t, c.env, "migrate", "--from-db", c.db, "--from-blobs", slowBlobs(t, c.s3.URL, 1<<20), "--to-data", target)
	close(stop)
	wg.Wait()
	if made.Load() == 0 {
		t.Fatal("no dataset was created while migrate ran")
	}
	if err == nil || !strings.Contains(out, "the source changed while it was copied") {
		t.Fatalf("migrating a source in use (%d creates meanwhile): %v\n%s", made.Load(), err, out)
	}
	t.Logf("%d datasets created during the copy; refused: %s", made.Load(), strings.TrimSpace(out))

	if err := n.Stop(); err != nil {
		t.Fatal(err)
	}
	out = mustSilo(t, c.env, "migrate", "--from-db", c.db, "--from-blobs", c.s3.URL, "--to-data", target)
	if !strings.Contains(out, "resumed") {
		t.Errorf("the run after the node stopped did not resume:\n%s", out)
	}
	mustSilo(t, nil, "fsck", "--data", target)
}

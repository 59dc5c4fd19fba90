package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/silo-datasets/silo/internal/siloproc"
)

var embeddedEnv = []string{"SILO_BOOTSTRAP_KEY=" + adminKey, "SILO_RATE_LIMIT=0"}

// A backup of a server taking creates and deletes all along restores into
// a data directory that fsck finds consistent and that serves exactly what
// was acknowledged when the backup started: every answer and file of that
// moment, keys, roles and revocations. Datasets deleted while the backup
// streamed are in it, byte for byte: the backup pinned their files.
func TestBackupUnderLoadRestores(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	p := siloproc.Serve(t, embeddedEnv, "--data", src)

	orgA, keyA := newOrg(t, p.URL, "acme", 0)
	_, keyB := newOrg(t, p.URL, "load", 0)
	st, reader := call(t, "POST", p.URL+"/v1/admin/keys", adminKey, map[string]any{"org_id": orgA, "role": "reader", "name": "ro"})
	if st != 201 {
		t.Fatalf("reader key: %d %v", st, reader)
	}
	st, revoked := call(t, "POST", p.URL+"/v1/admin/keys", adminKey, map[string]any{"org_id": orgA, "role": "writer", "name": "gone"})
	if st != 201 {
		t.Fatalf("key: %d %v", st, revoked)
	}
	if st, out := call(t, "DELETE", p.URL+"/v1/admin/keys/"+revoked["id"].(string), adminKey, nil); st != 200 {
		t.Fatalf("revoke: %d %v", st, out)
	}
	// A first dataset larger than what loopback sockets buffer: the
	// server is still streaming it when the datasets after it are deleted.
	ids := []string{upload(t, p.URL, keyA, "type=embed-input", "filler", jsonlRows(20<<20))}
	var doomed []string
	for i := range 6 {
		q := "type=embed-input"
		if i%2 == 1 {
			q += "&keep_original_file=false"
		}
		id := upload(t, p.URL, keyA, q, fmt.Sprintf("ds%d", i), jsonlRows(40_000+i*1000))
		ids = append(ids, id)
		if i >= 3 {
			doomed = append(doomed, id)
		}
	}
	waitFinal(t, p.URL, keyA)
	before := viewOf(t, p.URL, keyA)

	// Load on another organisation: creates and deletes until the end.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loadOps atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		prev := ""
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			st, out := createDataset(t, p.URL, keyB, fmt.Sprintf("load%d", i), strings.NewReader(jsonlRows(20_000)), true)
			if st != 200 {
				t.Errorf("load create: %d %v", st, out)
				return
			}
			if prev != "" {
				if st, out := call(t, "DELETE", p.URL+"/v1/datasets/"+prev, keyB, nil); st != 200 {
					t.Errorf("load delete: %d %v", st, out)
					return
				}
			}
			prev = out["id"].(string)
			loadOps.Add(1)
		}
	}()

	// The answer's headers come once the snapshot is taken; then half of
	// acme's datasets are deleted before the body is read.
	req, _ := http.NewRequest("GET", p.URL+"/v1/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("backup: %d %s", resp.StatusCode, b)
	}
	for _, id := range doomed {
		if st, out := call(t, "DELETE", p.URL+"/v1/datasets/"+id, keyA, nil); st != 200 {
			t.Fatalf("delete %s: %d %v", id, st, out)
		}
	}
	backup := filepath.Join(dir, "backup.tar")
	f, err := os.Create(backup)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(f, resp.Body)
	resp.Body.Close()
	f.Close()
	if err != nil || n != resp.ContentLength {
		t.Fatalf("backup body: %d of %d bytes: %v", n, resp.ContentLength, err)
	}
	// The command line client, under the same load.
	cli := filepath.Join(dir, "cli.tar")
	mustSilo(t, append(embeddedEnv, "SILO_URL="+p.URL, "SILO_API_KEY="+adminKey), "backup", "-o", cli)
	// A reader key may not take one.
	if out, err := runSilo(t, []string{"SILO_URL=" + p.URL, "SILO_API_KEY=" + reader["key"].(string)}, "backup", "-o", filepath.Join(dir, "no.tar")); err == nil || !strings.Contains(out, "403") {
		t.Fatalf("backup with a reader key: %v\n%s", err, out)
	}
	close(stop)
	wg.Wait()
	if loadOps.Load() == 0 {
		t.Fatal("no load ran during the backups")
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	// The deleted datasets' files, pinned during the backup, are gone now.
	mustSilo(t, nil, "fsck", "--data", src)

	restored := filepath.Join(dir, "restored")
	mustSilo(t, nil, "restore", "--data", restored, backup)
	mustSilo(t, nil, "fsck", "--data", restored)
	if out, err := runSilo(t, nil, "restore", "--data", restored, backup); err == nil || !strings.Contains(out, "not empty") {
		t.Fatalf("restore into a non-empty directory: %v\n%s", err, out)
	}
	r := siloproc.Serve(t, embeddedEnv, "--data", restored)
	sameView(t, "restored backup", viewOf(t, r.URL, keyA), before)
	if st, _ := call(t, "GET", r.URL+"/v1/datasets", reader["key"].(string), nil); st != 200 {
		t.Errorf("reader key after restore: %d", st)
	}
	if st, _ := call(t, "DELETE", r.URL+"/v1/datasets/"+ids[0], reader["key"].(string), nil); st != 403 {
		t.Errorf("reader key deleting after restore: %d, want 403", st)
	}
	if st, _ := call(t, "GET", r.URL+"/v1/datasets", revoked["key"].(string), nil); st != 498 {
		t.Errorf("revoked key after restore: %d, want 498", st)
	}
	// It goes on serving writes.
	id := upload(t, r.URL, keyA, "type=embed-input", "after", jsonlRows(5000))
	waitStatus(t, r.URL, keyA, id, func(s string) bool { return s == "validated" })
	r.Stop()
	mustSilo(t, nil, "fsck", "--data", restored)

	cliDir := filepath.Join(dir, "cli")
	mustSilo(t, nil, "restore", "--data", cliDir, cli)
	mustSilo(t, nil, "fsck", "--data", cliDir)

	testCorruptBackup(t, dir, backup)
}

// One flipped byte in any file of a backup is refused, naming the file,
// and leaves the directory empty.
func testCorruptBackup(t *testing.T, dir, backup string) {
	good, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	header := func(prefix string) int { // a tar header starts at a multiple of 512
		for at := 0; ; at += 512 {
			if bytes.HasPrefix(good[at:], []byte(prefix)) {
				return at
			}
		}
	}
	blob := header("blobs/b")
	name := string(good[blob : blob+bytes.IndexByte(good[blob:], 0)])
	for _, tc := range []struct {
		file string
		at   int
	}{
		{name, blob + 512 + 100},
		{"metadata.jsonl", header("metadata.jsonl") + 512 + 7},
	} {
		bad := bytes.Clone(good)
		bad[tc.at] ^= 0x20
		path := filepath.Join(dir, "bad.tar")
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		target := filepath.Join(dir, "bad")
		out, err := runSilo(t, nil, "restore", "--data", target, path)
		if err == nil || !strings.Contains(out, tc.file) {
			t.Fatalf("restore of a backup with a flipped byte in %s: %v\n%s", tc.file, err, out)
		}
		if left, _ := os.ReadDir(target); len(left) != 0 {
			t.Fatalf("a refused restore left %d entries in %s", len(left), target)
		}
	}
}

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
)

// requireLong skips a test that needs many GiB of disk and minutes unless
// SILO_LONG_TESTS is set.
func requireLong(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("SILO_LONG_TESTS") == "" {
		t.Skip("a long test (" + what + "): set SILO_LONG_TESTS=1 to run it")
	}
}

// A dataset of more than 8 GiB (USTAR's limit) goes through a real backup
// and restore: silo backup -o - streamed into silo restore --data DIR -
// (no tar on disk), then fsck reads every restored file against its
// recorded SHA-256. (TestBackupOver8GiB in transfer/ proves the format on
// every run without the disk.)
func TestBackupOf8GiBDataset(t *testing.T) {
	requireLong(t, "uploads, backs up and restores 8 GiB + 1 MiB; ~20 GiB of disk")
	dir := t.TempDir()
	env := append([]string{"SILO_MAX_DATASET_SIZE=20GB"}, embeddedEnv...)
	p := siloproc.Serve(t, env, "--data", filepath.Join(dir, "src"))
	_, key := newOrg(t, p.URL, "huge", 20<<30)

	const size = 8<<30 + 1<<20
	rows := &rowReader{size: size, h: sha256.New()}
	start := time.Now()
	st, out := createDataset(t, p.URL, key, "huge", rows, false)
	if st != 200 {
		t.Fatalf("create: %d %v", st, out)
	}
	id := out["id"].(string)
	sent := hex.EncodeToString(rows.h.Sum(nil))
	t.Logf("uploaded %d bytes in %v", size, time.Since(start).Round(time.Second))

	restored := filepath.Join(dir, "restored")
	backup := exec.Command(siloproc.Binary(t), "backup", "-o", "-")
	backup.Env = append(os.Environ(), "SILO_URL="+p.URL, "SILO_API_KEY="+adminKey)
	restore := exec.Command(siloproc.Binary(t), "restore", "--data", restored, "-")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var backupErr, restoreErr bytes.Buffer
	backup.Stdout, backup.Stderr = pw, &backupErr
	restore.Stdin, restore.Stdout, restore.Stderr = pr, &restoreErr, &restoreErr
	start = time.Now()
	if err := backup.Start(); err != nil {
		t.Fatal(err)
	}
	if err := restore.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	pr.Close()
	berr, rerr := backup.Wait(), restore.Wait()
	if berr != nil || rerr != nil {
		t.Fatalf("backup: %v\n%s\nrestore: %v\n%s", berr, backupErr.String(), rerr, restoreErr.String())
	}
	t.Logf("backup piped into restore in %v: %s", time.Since(start).Round(time.Second), bytes.TrimSpace(restoreErr.Bytes()))
	p.Kill() // its validation of the 8 GiB is not the point

	fsck := mustSilo(t, nil, "fsck", "--data", restored)
	t.Logf("fsck: %s", bytes.TrimSpace([]byte(fsck)))
	r := siloproc.Serve(t, env, "--data", restored)
	st, got := call(t, "GET", r.URL+"/v1/datasets/"+id, key, nil)
	if st != 200 {
		t.Fatalf("restored dataset: %d %v", st, got)
	}
	part := got["dataset"].(map[string]any)["dataset_parts"].([]any)[0].(map[string]any)
	if part["size_bytes"] != float64(size) || part["sha256"] != sent {
		t.Errorf("restored part: %v bytes, SHA-256 %v; sent %d bytes, SHA-256 %s", part["size_bytes"], part["sha256"], size, sent)
	}
}

// row1K is one JSONL row of exactly 1 KiB.
var row1K = append(append([]byte(`{"text":"`), bytes.Repeat([]byte("x"), 1024-12)...), "\"}\n"...)

// rowReader yields size bytes of 1 KiB rows, hashing what it gives.
type rowReader struct {
	size, pos int64
	h         hash.Hash
}

func (r *rowReader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.size-r.pos)]
	for n := 0; n < len(p); {
		n += copy(p[n:], row1K[(r.pos+int64(n))%int64(len(row1K)):])
	}
	r.pos += int64(len(p))
	r.h.Write(p)
	return len(p), nil
}

package e2e

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/siloproc"
)

// TestFsckScaleOut runs `silo fsck` on PostgreSQL + S3 after a node was
// killed mid-upload: it names the dead upload's reservation, an orphan
// object, an incomplete multipart upload if S3 kept one, and a drifted
// counter, and exits 1. Once the dead node's lease has run out, --repair
// (which, beside possibly live nodes, touches only dead leases) releases
// the reservation, deletes the orphans, recounts the counter and exits 0;
// the acknowledged datasets are untouched.
func TestFsckScaleOut(t *testing.T) {
	c := newCluster(t, "2s")
	p := c.node(t)
	orgID, key := newOrg(t, p.URL, "fsck", 0)
	var ids []string
	for i := 0; i < 3; i++ {
		st, out := createDataset(t, p.URL, key, "kept", strings.NewReader(jsonlRows(5_000)), true)
		if st != 200 {
			t.Fatalf("create: %d %v", st, out)
		}
		ids = append(ids, out["id"].(string))
	}
	for _, id := range ids {
		waitStatus(t, p.URL, key, id, func(s string) bool { return s == "validated" })
	}
	// An upload in flight when the node dies: 8 MB, streamed.
	pr, pw := io.Pipe()
	go createDataset(t, p.URL, key, "cut", pr, false)
	if _, err := pw.Write([]byte(jsonlRows(6 << 20))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return reserved(t, p.URL, key) > 0 })
	p.Kill()
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}

	orphan := silo.NewBlobKey()
	if _, err := c.s3.Client(t).PutObject(t.Context(), c.s3.Bucket, orphan, bytes.NewReader([]byte("stray")), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), `UPDATE orgs SET used_bytes = used_bytes + 7 WHERE id = $1`, orgID); err != nil {
		t.Fatal(err)
	}

	out, err := c.fsck(t)
	for _, want := range []string{"found: reservation org=" + orgID, "found: orphan-blob " + orphan, "found: usage org=" + orgID} {
		if !strings.Contains(out, want) {
			t.Errorf("fsck did not report %q", want)
		}
	}
	if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 1 {
		t.Fatalf("fsck with findings: %v\n%s", err, out)
	}
	// The dead node's lease (2 s) must run out before a non-exclusive
	// repair may take its upload.
	var repaired string
	waitFor(t, func() bool {
		out, err := c.fsck(t, "--repair")
		repaired += out
		return err == nil
	})
	// (fsck's own tests show that a repair beside a live lease spares it.)
	for _, want := range []string{"released reservation", "deleted orphan blob " + orphan, "recounted org " + orgID, "consistent"} {
		if !strings.Contains(repaired, want) {
			t.Errorf("--repair did not say %q:\n%s", want, repaired)
		}
	}
	p = c.node(t)
	for _, id := range ids {
		if s := status(t, p.URL, key, id); s != "validated" {
			t.Errorf("dataset %s is %s after the repair", id, s)
		}
	}
	if u := usage(t, p.URL, key); u != 3*5_000 {
		t.Errorf("usage %d after the repair, want %d", u, 3*5_000)
	}
}

func (c *cluster) fsck(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(siloproc.Binary(t), append([]string{"fsck", "--db", c.db, "--blobs", c.s3.URL, "--data", t.TempDir()}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// waitFor polls cond until it holds, failing the test after 60 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

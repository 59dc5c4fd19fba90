package api_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
)

// mountTmpfs mounts a tmpfs of size on a new temp dir and unmounts it when
// the test ends (after the server's cleanup, which was registered later).
// It needs root; elsewhere the test is skipped, in CI it fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs (%v: %s): this test needs root", err, strings.TrimSpace(string(out)))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}

// fillTo takes the free space of dir's file system down to about left
// bytes with a file of the test's own.
func fillTo(t *testing.T, dir string, left int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	if out, err := exec.Command("fallocate", "-l", fmt.Sprint(free-left), filepath.Join(dir, "filler")).CombinedOutput(); err != nil {
		t.Fatalf("fallocate: %v %s", err, out)
	}
}

// TestCreateBelowMinFreeSpace: with the data directory (a real 64 MiB
// tmpfs) already below --min-free-space, a small create is refused with 503
// whether or not it sends a Content-Length, and stores nothing. (A
// Content-Length that is all multipart framing once let it through: the
// check of "0 more bytes" passed without looking at the disk.)
func TestCreateBelowMinFreeSpace(t *testing.T) {
	dir := mountTmpfs(t, "64m")
	const minFree = 8 << 20
	e := silotest.Start(t, silotest.Options{Dir: dir, Configure: func(s *api.Server) {
		s.Service.Disk = &silo.LocalDisk{Dir: dir, MinFree: minFree}
	}})
	orgID, key := e.Org(t, "tight", 0, silo.RoleWriter)
	fillTo(t, dir, 2<<20) // 2 MiB free, below the 8 MiB minimum
	free, err := e.Service.Disk.Free()
	if err != nil || free >= minFree || free < 1<<20 {
		t.Fatalf("free space after filling: %d (%v), want between 1 MiB and the minimum", free, err)
	}
	for _, c := range []struct {
		name    string
		chunked bool
	}{{"with Content-Length", false}, {"chunked", true}} {
		t.Run(c.name, func(t *testing.T) {
			b, ct := multipartBody(t, [2]string{"data", embedJSONL})
			body := b
			if c.chunked {
				body = struct{ *bytes.Reader }{bytes.NewReader(mustReadAll(t, b))} // no Len: sent chunked
			}
			req := newRequest(t, "POST", e.URL+"/v1/datasets?name=small&type=embed-input", body)
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", ct)
			if c.chunked != (req.ContentLength <= 0) {
				t.Fatalf("Content-Length %d for a %s request", req.ContentLength, c.name)
			}
			st, out := do(t, req)
			if st != 503 || !strings.Contains(fmt.Sprint(out["message"]), "storage is full") {
				t.Fatalf("a small create below --min-free-space: %d %v, want 503 storage is full", st, out)
			}
		})
	}
	if u := e.Usage(t, orgID); u.UsedBytes != 0 || u.ReservedBytes != 0 {
		t.Fatalf("refused creates left usage %d, reserved %d", u.UsedBytes, u.ReservedBytes)
	}
	// Freed, the same create is taken again.
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	b, ct := multipartBody(t, [2]string{"data", embedJSONL})
	if st, out := create(t, e, key, "name=small&type=embed-input", b, ct); st != 200 {
		t.Fatalf("create after freeing the disk: %d %v", st, out)
	}
}

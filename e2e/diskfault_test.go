package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
)

// Real disk faults under the embedded store (TESTING.md, "Faults"): a data
// directory on a small tmpfs filled to the last byte, and an ext4 image
// turned read-only by a filesystem error. Both need root to mount; where
// mounting is impossible the tests fail in CI and skip elsewhere.

func mountOrSkip(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("mount", args...).CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("cannot mount (%v: %s): this test needs root and mount(8)", err, strings.TrimSpace(string(out)))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func umount(t *testing.T, dir string) {
	t.Cleanup(func() {
		for i := 0; i < 50; i++ {
			if exec.Command("umount", dir).Run() == nil {
				return
			}
			time.Sleep(100 * time.Millisecond) // the killed server's files are still closing
		}
		exec.Command("umount", "-l", dir).Run()
	})
}

// answer is one request's outcome as a client sees it.
type answer struct {
	status     int
	retryAfter string
	body       string
}

func do(method, u, key string, body io.Reader, ctype string) answer {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return answer{body: err.Error()}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{body: err.Error()}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Retry-After"), string(b)}
}

func smallCreate(base, key, name string) answer {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile("data", name+".jsonl")
	io.WriteString(w, jsonlRows(40))
	mw.Close()
	return do("POST", base+"/v1/datasets?type=embed-input&name="+name, key, &buf, mw.FormDataContentType())
}

// tally counts the statuses a load saw and fails on any 500, or a 503
// without Retry-After.
type tally map[int]int

func (c tally) add(t *testing.T, what string, a answer) {
	t.Helper()
	c[a.status]++
	if a.status >= 500 && a.status != 503 && a.status != 504 || a.status == 0 {
		t.Errorf("%s: %d %s", what, a.status, a.body)
	}
	if a.status == 503 && a.retryAfter == "" {
		t.Errorf("%s: 503 without Retry-After: %s", what, a.body)
	}
}

func ready(base string) int {
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDiskFull: the embedded data directory on a 64 MiB tmpfs, filled to
// full under a bounded load of creates, deletes and usage reads, then
// freed. Clients see 503 + Retry-After (never 500), /readyz goes 503 then
// 200, no dataset fails, usage is exact, and fsck exits 0 afterwards.
func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	mountOrSkip(t, "-t", "tmpfs", "-o", "size=64m", "tmpfs", dir)
	umount(t, dir)
	p := siloproc.Serve(t, embeddedEnv, "--data", dir, "--min-free-space", "2MB")
	_, key := newOrg(t, p.URL, "full", 0)

	live := map[string]int64{} // acknowledged, not deleted: id -> bytes
	size := int64(len(jsonlRows(40)))
	seen := tally{}
	create := func(name string) {
		a := smallCreate(p.URL, key, name)
		seen.add(t, "create", a)
		if a.status == 200 {
			var id string
			fmt.Sscanf(a.body[strings.Index(a.body, `"id":"`)+6:], "%s", &id)
			live[strings.SplitN(id, `"`, 2)[0]] = size
		}
	}
	for i := 0; i < 10; i++ {
		create(fmt.Sprintf("before-%d", i))
	}
	// Fill the disk to the last block, once the validations (which write
	// Avro parts) are over: the space left must not shrink under the
	// fallocate. Whatever else writes meanwhile (the database) leaves it
	// more slack on a retry; the writes below take the rest.
	waitFinal(t, p.URL, key)
	filler := filepath.Join(dir, "filler")
	for slack := int64(64); ; slack *= 4 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("fallocate", "-l", fmt.Sprint((int64(st.Bavail)-slack)*int64(st.Bsize)), filler).CombinedOutput()
		if err == nil {
			break
		}
		if slack >= 4096 || !strings.Contains(string(out), "No space left") {
			t.Fatalf("fallocate: %v %s", err, out)
		}
		os.Remove(filler)
	}
	// The last blocks, one write at a time, until the disk refuses.
	f, err := os.OpenFile(filler, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, err = f.Write(make([]byte, 4096)); err == nil; _, err = f.Write(make([]byte, 4096)) {
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk: %v", err)
	}
	if r := ready(p.URL); r != 503 {
		t.Errorf("readyz on a full disk: %d", r)
	}
	full := tally{}
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		a := smallCreate(p.URL, key, fmt.Sprintf("full-%d", i))
		full.add(t, "create on a full disk", a)
		if a.status == 200 {
			t.Errorf("a create was acknowledged on a full disk: %s", a.body)
		}
		full.add(t, "usage on a full disk", do("GET", p.URL+"/v1/datasets/usage", key, nil, ""))
		for id := range live {
			a := do("DELETE", p.URL+"/v1/datasets/"+id, key, nil, "")
			full.add(t, "delete on a full disk", a)
			if a.status == 200 {
				delete(live, id)
			} else if a.status != 503 {
				// SQLite's failed commit is a known rollback: the outcome
				// is not in doubt, so the answer is 503 at once, not 504.
				t.Errorf("delete on a full disk: %d %s, want 200 or 503", a.status, a.body)
			}
			break
		}
	}
	freed := time.Now()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for ready(p.URL) != 200 {
		if time.Since(freed) > 30*time.Second {
			t.Fatalf("readyz not 200 30s after the disk was freed:\n%s", p.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	recovered := time.Since(freed)
	for i := 0; i < 5; i++ {
		create(fmt.Sprintf("after-%d", i))
	}
	waitSettledFor(t, p.URL, key, 60*time.Second)
	var want int64
	for _, n := range live {
		want += n
	}
	if got := usage(t, p.URL, key); got != want {
		t.Errorf("usage %d, want %d (the acknowledged, undeleted creates)", got, want)
	}
	res := reserved(t, p.URL, key)
	if res != 0 {
		t.Errorf("%d bytes still reserved", res)
	}
	failedN := countStatus(t, p.URL, key, "failed")
	if failedN != 0 {
		t.Errorf("%d datasets failed", failedN)
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(siloproc.Binary(t), "fsck", "--data", dir).CombinedOutput()
	if err != nil {
		t.Errorf("fsck after the disk was freed: %v\n%s", err, out)
	}
	t.Logf("disk full: before %v, while full %v; readyz 200 %v after freeing; reserved after %d; failed %d",
		seen, full, recovered.Round(time.Millisecond), res, failedN)
}

// TestReadOnlyDisk: the embedded data directory on an ext4 image mounted
// with errors=remount-ro, turned read-only by a filesystem error. Writes
// get 503 + Retry-After, reads keep working, nothing answers 500.
func TestReadOnlyDisk(t *testing.T) {
	tmp := t.TempDir()
	img, dir := filepath.Join(tmp, "fs.img"), filepath.Join(tmp, "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", img, "64M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v %s", err, out)
	}
	mountOrSkip(t, "-o", "loop,errors=remount-ro", img, dir)
	umount(t, dir)
	src, err := exec.Command("findmnt", "-n", "-o", "SOURCE", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	dev := filepath.Base(strings.TrimSpace(string(src)))
	p := siloproc.Serve(t, embeddedEnv, "--data", dir, "--min-free-space", "1MB")
	_, key := newOrg(t, p.URL, "ro", 0)
	var ids []string
	for i := 0; i < 5; i++ {
		a := smallCreate(p.URL, key, fmt.Sprintf("before-%d", i))
		if a.status != 200 {
			t.Fatalf("create: %d %s", a.status, a.body)
		}
		ids = append(ids, strings.SplitN(a.body[strings.Index(a.body, `"id":"`)+6:], `"`, 2)[0])
	}
	waitSettledFor(t, p.URL, key, 60*time.Second)
	before := usage(t, p.URL, key)
	if err := os.WriteFile("/sys/fs/ext4/"+dev+"/trigger_fs_error", []byte("1"), 0o200); err != nil {
		t.Fatalf("triggering a filesystem error on %s: %v", dev, err)
	}
	for i := 0; ; i++ {
		out, _ := exec.Command("findmnt", "-n", "-o", "OPTIONS", dir).Output()
		if strings.HasPrefix(string(out), "ro") || strings.Contains(string(out), "emergency_ro") {
			break
		}
		if i > 100 {
			t.Fatalf("%s did not turn read-only: %s", dir, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	seen := tally{}
	writes := tally{}
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		a := smallCreate(p.URL, key, fmt.Sprintf("ro-%d", i))
		writes.add(t, "create on a read-only disk", a)
		if a.status == 200 {
			t.Errorf("a create was acknowledged on a read-only disk")
		}
		for _, path := range []string{"/v1/datasets/usage", "/v1/datasets", "/v1/datasets/" + ids[i%len(ids)]} {
			a := do("GET", p.URL+path, key, nil, "")
			seen.add(t, "read on a read-only disk", a)
			if a.status != 200 {
				t.Errorf("GET %s on a read-only disk: %d %s", path, a.status, a.body)
			}
		}
	}
	a := do("DELETE", p.URL+"/v1/datasets/"+ids[0], key, nil, "")
	writes.add(t, "delete on a read-only disk", a)
	if a.status != 503 {
		t.Errorf("delete on a read-only disk: %d %s, want 503 (nothing changed, and the store knows it)", a.status, a.body)
	}
	if r := ready(p.URL); r != 503 {
		t.Errorf("readyz on a read-only disk: %d", r)
	}
	if got := usage(t, p.URL, key); got != before {
		t.Errorf("usage %d, want %d", got, before)
	}
	t.Logf("read-only disk: writes %v, reads %v; readyz 503", writes, seen)
	p.Kill()
}

// waitSettledFor waits until no dataset of the key's org is queued or
// processing.
func waitSettledFor(t *testing.T, base, key string, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for countStatus(t, base, key, "queued")+countStatus(t, base, key, "processing") > 0 {
		if time.Now().After(end) {
			t.Fatalf("datasets still pending after %v", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countStatus(t *testing.T, base, key, status string) int {
	t.Helper()
	st, out := call(t, "GET", base+"/v1/datasets?validationStatus="+status, key, nil)
	if st != 200 {
		t.Fatalf("list %s: %d %v", status, st, out)
	}
	ds, _ := out["datasets"].([]any)
	return len(ds)
}

package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
)

// The tus 1.0.0 protocol (CONTRACT.md "Resumable uploads"), method by method
// and extension by extension, with raw HTTP against real nodes on both store
// pairs: SQLite + disk, and PostgreSQL + S3 (versitygw).

// tusPair is a store pair to run the protocol against: start starts a node
// (extra flags appended); fsck checks the stores once the nodes stopped.
type tusPair struct {
	name  string
	start func(t *testing.T, args ...string) *siloproc.Proc
	fsck  func(t *testing.T) (string, error)
}

func tusPairs(t *testing.T) []tusPair {
	dir := t.TempDir()
	var c *cluster
	return []tusPair{
		{
			name: "embedded",
			start: func(t *testing.T, args ...string) *siloproc.Proc {
				return siloproc.Serve(t, embeddedEnv, append([]string{"--data", dir}, args...)...)
			},
			fsck: func(t *testing.T) (string, error) {
				out, err := exec.Command(siloproc.Binary(t), "fsck", "--data", dir).CombinedOutput()
				return string(out), err
			},
		},
		{
			name: "postgres+s3",
			start: func(t *testing.T, args ...string) *siloproc.Proc {
				if c == nil {
					c = newCluster(t, "3s")
				}
				return siloproc.Serve(t, c.env, append([]string{"--db", c.db, "--blobs", c.s3.URL, "--data", t.TempDir()}, args...)...)
			},
			fsck: func(t *testing.T) (string, error) { return c.fsck(t) },
		},
	}
}

// tusReq sends one tus request and returns its answer's status, headers
// and body.
func tusReq(t *testing.T, method, url, key string, hdr map[string]string, body io.Reader) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

func tusMeta(kv ...string) string {
	var parts []string
	for i := 0; i < len(kv); i += 2 {
		parts = append(parts, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	return strings.Join(parts, ",")
}

// tusCreate opens an upload and returns its URL.
func tusCreate(t *testing.T, base, key string, length int64, hdr map[string]string) string {
	t.Helper()
	h := map[string]string{"Upload-Length": strconv.FormatInt(length, 10)}
	for k, v := range hdr {
		h[k] = v
	}
	st, resp, body := tusReq(t, "POST", base+"/v1/uploads", key, h, nil)
	if st != 201 || resp.Get("Location") == "" || resp.Get("Upload-Offset") != "0" || resp.Get("Upload-Expires") == "" || resp.Get("Tus-Resumable") != "1.0.0" {
		t.Fatalf("create: %d %v %s", st, resp, body)
	}
	return resp.Get("Location")
}

func tusPatch(t *testing.T, url, key string, offset int64, data []byte, sum string) (int, http.Header, string) {
	t.Helper()
	h := map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(offset, 10)}
	if sum != "" {
		h["Upload-Checksum"] = sum
	}
	return tusReq(t, "PATCH", url, key, h, bytes.NewReader(data))
}

func sha256Sum(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256 " + base64.StdEncoding.EncodeToString(s[:])
}

func headOffset(t *testing.T, url, key string) int64 {
	t.Helper()
	st, h, body := tusReq(t, "HEAD", url, key, nil, nil)
	if st != 200 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("HEAD %s: %d %v %s", url, st, h, body)
	}
	n, err := strconv.ParseInt(h.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// jsonlFile makes a valid embed-input JSONL file of about n bytes.
func jsonlFile(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "{\"text\":\"row %d %s\"}\n", i, strings.Repeat("x", 200))
	}
	return b.Bytes()
}

func downloadOriginal(t *testing.T, base, key, id string) []byte {
	t.Helper()
	st, ds := call(t, "GET", base+"/v1/datasets/"+id, key, nil)
	if st != 200 {
		t.Fatalf("get %s: %d %v", id, st, ds)
	}
	parts := ds["dataset"].(map[string]any)["dataset_parts"].([]any)
	u := parts[0].(map[string]any)["original_url"].(string)
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("download: %d %v", resp.StatusCode, err)
	}
	return b
}

func TestTusProtocol(t *testing.T) {
	for _, pair := range tusPairs(t) {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.start(t, "--max-dataset-size", "64MiB")
			base := p.URL
			orgID, key := newOrg(t, base, "tus-"+pair.name, 40<<20)

			// OPTIONS needs no key.
			st, h, _ := tusReq(t, "OPTIONS", base+"/v1/uploads", "", nil, nil)
			if st != 204 || h.Get("Tus-Version") != "1.0.0" || h.Get("Tus-Max-Size") != strconv.Itoa(64<<20) ||
				h.Get("Tus-Checksum-Algorithm") != "sha1,sha256,md5" || !strings.Contains(h.Get("Tus-Extension"), "concatenation") {
				t.Fatalf("OPTIONS: %d %v", st, h)
			}

			// Creation refusals: size before quota, no deferred length, a reader.
			st, _, body := tusReq(t, "POST", base+"/v1/uploads", key, map[string]string{"Upload-Length": strconv.Itoa(65 << 20)}, nil)
			if st != 413 {
				t.Fatalf("over the max size: %d %s", st, body)
			}
			st, _, body = tusReq(t, "POST", base+"/v1/uploads", key, map[string]string{"Upload-Length": strconv.Itoa(41 << 20)}, nil)
			if st != 400 || !strings.Contains(body, "You have exceeded capacity") {
				t.Fatalf("over quota: %d %s", st, body)
			}
			st, _, body = tusReq(t, "POST", base+"/v1/uploads", key, map[string]string{"Upload-Defer-Length": "1"}, nil)
			if st != 400 {
				t.Fatalf("deferred length: %d %s", st, body)
			}
			_, reader := call(t, "POST", base+"/v1/admin/keys", adminKey, map[string]any{"org_id": orgID, "role": "reader"})
			st, _, _ = tusReq(t, "POST", base+"/v1/uploads", reader["key"].(string), map[string]string{"Upload-Length": "10"}, nil)
			if st != 403 {
				t.Fatalf("a reader opening an upload: %d", st)
			}

			// A whole upload in pieces of several sizes (on S3: a full part, a
			// tail shorter than 5 MiB, then the rest), each with a checksum.
			data := jsonlFile(12 << 20)
			n := int64(len(data))
			url := tusCreate(t, base, key, n, map[string]string{"Upload-Metadata": tusMeta("name", "tus data", "type", "embed-input", "filename", "data.jsonl")})
			if got := reserved(t, base, key); got != n {
				t.Fatalf("reserved %d after creation, want %d", got, n)
			}
			if got := usage(t, base, key); got != 0 {
				t.Fatalf("usage %d after creation, want 0", got)
			}
			st, _, _ = tusReq(t, "PATCH", url, key, map[string]string{"Upload-Offset": "0", "Content-Type": "text/plain"}, bytes.NewReader(data[:10]))
			if st != 415 {
				t.Fatalf("wrong content type: %d", st)
			}
			if st, _, _ = tusPatch(t, url, key, 5, data[5:10], ""); st != 409 {
				t.Fatalf("wrong offset: %d", st)
			}
			if st, _, _ = tusPatch(t, url, key, 0, data[:1000], sha256Sum(data[:999])); st != 460 {
				t.Fatalf("checksum mismatch: %d", st)
			}
			if st, _, _ = tusPatch(t, url, key, 0, data[:1000], "crc32 AAAA"); st != 400 {
				t.Fatalf("unknown checksum algorithm: %d", st)
			}
			if off := headOffset(t, url, key); off != 0 {
				t.Fatalf("offset %d after refused PATCHes, want 0", off)
			}
			cuts := []int64{0, 6 << 20, 6<<20 + 300<<10, 9 << 20, n}
			for i := 0; i+1 < len(cuts); i++ {
				a, b := cuts[i], cuts[i+1]
				st, h, body := tusPatch(t, url, key, a, data[a:b], sha256Sum(data[a:b]))
				if st != 204 || h.Get("Upload-Offset") != strconv.FormatInt(b, 10) {
					t.Fatalf("PATCH %d-%d: %d %v %s", a, b, st, h, body)
				}
				if b == n {
					id := h.Get("Silo-Dataset-Id")
					if id == "" {
						t.Fatalf("the last PATCH made no dataset: %v", h)
					}
					if got := usage(t, base, key); got != n {
						t.Fatalf("usage %d after the last PATCH, want %d", got, n)
					}
					if got := reserved(t, base, key); got != 0 {
						t.Fatalf("reserved %d after the last PATCH, want 0", got)
					}
					waitValidated(t, base, key, id)
					if got := downloadOriginal(t, base, key, id); !bytes.Equal(got, data) {
						t.Fatalf("the original downloads %d bytes that differ from the %d sent", len(got), n)
					}
					// HEAD still answers, with the dataset; the list leaves it out.
					st, h, _ := tusReq(t, "HEAD", url, key, nil, nil)
					if st != 200 || h.Get("Silo-Dataset-Id") != id || h.Get("Upload-Offset") != strconv.FormatInt(n, 10) {
						t.Fatalf("HEAD of a finished upload: %d %v", st, h)
					}
				}
			}
			st, list := call(t, "GET", base+"/v1/uploads", key, nil)
			if st != 200 || len(list["uploads"].([]any)) != 0 {
				t.Fatalf("GET /v1/uploads after the dataset: %d %v", st, list)
			}

			// Too long a body appends nothing; termination gives the bytes back;
			// another organisation sees nothing.
			url2 := tusCreate(t, base, key, 100, map[string]string{"Upload-Metadata": tusMeta("note", "x")})
			if st, _, body := tusPatch(t, url2, key, 0, make([]byte, 101), ""); st != 413 {
				t.Fatalf("too long a body: %d %s", st, body)
			}
			if off := headOffset(t, url2, key); off != 0 {
				t.Fatalf("offset %d after a refused long body", off)
			}
			if st, _, _ := tusPatch(t, url2, key, 0, make([]byte, 40), ""); st != 204 {
				t.Fatalf("PATCH: %d", st)
			}
			st, list = call(t, "GET", base+"/v1/uploads", key, nil)
			if ups := list["uploads"].([]any); st != 200 || len(ups) != 1 || ups[0].(map[string]any)["upload_offset"].(float64) != 40 ||
				ups[0].(map[string]any)["metadata"].(map[string]any)["note"] != "x" {
				t.Fatalf("GET /v1/uploads: %d %v", st, list)
			}
			_, other := newOrg(t, base, "tus-other-"+pair.name, 0)
			for _, m := range []string{"HEAD", "DELETE"} {
				if st, _, _ := tusReq(t, m, url2, other, nil, nil); st != 404 {
					t.Fatalf("%s of another org's upload: %d", m, st)
				}
			}
			if st, _, _ := tusPatch(t, url2, other, 40, []byte("x"), ""); st != 404 {
				t.Fatalf("PATCH of another org's upload: %d", st)
			}
			if st, _, _ := tusReq(t, "DELETE", url2, key, nil, nil); st != 204 {
				t.Fatalf("terminate: %d", st)
			}
			if st, _, _ := tusReq(t, "HEAD", url2, key, nil, nil); st != 404 {
				t.Fatalf("HEAD after termination: %d", st)
			}
			if got := reserved(t, base, key); got != 0 {
				t.Fatalf("reserved %d after termination", got)
			}

			// Concatenation: partials joined by a final upload that becomes
			// a dataset; their reservations move to it.
			small := jsonlFile(300 << 10)
			half := int64(len(small) / 2)
			p1 := tusCreate(t, base, key, half, map[string]string{"Upload-Concat": "partial"})
			p2 := tusCreate(t, base, key, int64(len(small))-half, map[string]string{"Upload-Concat": "partial"})
			if st, _, _ := tusPatch(t, p2, key, 0, small[half:], ""); st != 204 {
				t.Fatalf("PATCH partial 2: %d", st)
			}
			if st, _, _ := tusPatch(t, p1, key, 0, small[:half], ""); st != 204 {
				t.Fatalf("PATCH partial 1: %d", st)
			}
			st, h, body = tusReq(t, "POST", base+"/v1/uploads", key, map[string]string{
				"Upload-Concat":   "final;" + p1 + " " + p2,
				"Upload-Metadata": tusMeta("name", "joined", "type", "embed-input"),
			}, nil)
			if st != 201 || h.Get("Silo-Dataset-Id") == "" || h.Get("Upload-Offset") != strconv.Itoa(len(small)) {
				t.Fatalf("final upload: %d %v %s", st, h, body)
			}
			joined := h.Get("Silo-Dataset-Id")
			if got := reserved(t, base, key); got != 0 {
				t.Fatalf("reserved %d after the final upload", got)
			}
			if st, _, _ := tusReq(t, "HEAD", p1, key, nil, nil); st != 404 {
				t.Fatalf("a joined partial still answers: %d", st)
			}
			waitValidated(t, base, key, joined)
			if got := downloadOriginal(t, base, key, joined); !bytes.Equal(got, small) {
				t.Fatal("the joined dataset differs from the file")
			}

			// An upload without name/type, made a dataset by a create; asked
			// again, the same dataset.
			u3 := tusCreate(t, base, key, half, map[string]string{"Upload-Metadata": tusMeta("filename", "a.jsonl")})
			if st, _, _ := tusPatch(t, u3, key, 0, small[:half], ""); st != 204 {
				t.Fatalf("PATCH: %d", st)
			}
			id3 := u3[strings.LastIndex(u3, "/")+1:]
			st1, d1 := call(t, "POST", base+"/v1/datasets?name=from+upload&type=embed-input&upload_id="+id3, key, nil)
			st2, d2 := call(t, "POST", base+"/v1/datasets?name=from+upload&type=embed-input&upload_id="+id3, key, nil)
			if st1 != 200 || st2 != 200 || d1["id"] != d2["id"] {
				t.Fatalf("create from an upload: %d %v, again %d %v", st1, d1, st2, d2)
			}
			// A PATCH whose client goes away mid-body keeps what arrived, and
			// the SHA-256 recorded with it covers exactly those bytes (fsck
			// below reads every file back against its recorded checksum).
			cutData := jsonlFile(3 << 20)
			cut := tusCreate(t, base, key, int64(len(cutData)), map[string]string{"Upload-Metadata": tusMeta("name", "cut", "type", "embed-input")})
			cutPatch(t, cut, key, cutData, 2<<20)
			off := headOffset(t, cut, key)
			for deadline := time.Now().Add(10 * time.Second); off == 0 && time.Now().Before(deadline); off = headOffset(t, cut, key) {
				time.Sleep(50 * time.Millisecond) // the server notices the cut when its read fails
			}
			if off == 0 || off > 2<<20 {
				t.Fatalf("after a PATCH cut at 2 MiB the offset is %d", off)
			}
			st, h, _ = tusPatch(t, cut, key, off, cutData[off:], "")
			if st != 204 || h.Get("Silo-Dataset-Id") == "" {
				t.Fatalf("resuming the cut upload at %d: %d %v", off, st, h)
			}
			waitValidated(t, base, key, h.Get("Silo-Dataset-Id"))
			if got := downloadOriginal(t, base, key, h.Get("Silo-Dataset-Id")); !bytes.Equal(got, cutData) {
				t.Fatal("the resumed cut upload differs from the file")
			}

			// eval_for: the data upload names its eval file's upload.
			ev := tusCreate(t, base, key, 20, map[string]string{"Upload-Metadata": tusMeta("filename", "eval.jsonl")})
			if st, _, _ := tusPatch(t, ev, key, 0, []byte("{\"text\":\"evaluate\"}\n"), ""); st != 204 {
				t.Fatalf("PATCH eval: %d", st)
			}
			evID := ev[strings.LastIndex(ev, "/")+1:]
			withEval := tusCreate(t, base, key, half, map[string]string{"Upload-Metadata": tusMeta("name", "with eval", "type", "embed-input", "eval_for", evID)})
			st, h, _ = tusPatch(t, withEval, key, 0, small[:half], "")
			if st != 204 || h.Get("Silo-Dataset-Id") == "" {
				t.Fatalf("the data upload with eval_for: %d %v", st, h)
			}
			_, dsEval := call(t, "GET", base+"/v1/datasets/"+h.Get("Silo-Dataset-Id"), key, nil)
			if parts := dsEval["dataset"].(map[string]any)["dataset_parts"].([]any); len(parts) != 2 {
				t.Fatalf("a dataset with eval_for has %d parts, want 2", len(parts))
			}
			want := n + int64(len(small)) + half + 20 + half + int64(len(cutData))
			if got := usage(t, base, key); got != want {
				t.Fatalf("usage %d, want %d (the three datasets' files)", got, want)
			}

			// Two uploads racing for the last bytes: one is refused at creation.
			left := (40 << 20) - want
			var codes []int
			done := make(chan int, 2)
			for range 2 {
				go func() {
					st, _, _ := tusReq(t, "POST", base+"/v1/uploads", key, map[string]string{"Upload-Length": strconv.FormatInt(left, 10)}, nil)
					done <- st
				}()
			}
			codes = append(codes, <-done, <-done)
			sort.Ints(codes)
			if codes[0] != 201 || codes[1] != 400 {
				t.Fatalf("two uploads for the last %d bytes: %v, want one 201 and one 400", left, codes)
			}

			// The metrics count the uploads' events and bytes.
			st, _, metrics := tusReq(t, "GET", base+"/metrics", adminKey, nil, nil)
			for _, want := range []string{`silo_tus_events_total{event="opened"}`, `silo_tus_events_total{event="resumed"}`,
				`silo_tus_events_total{event="dataset"}`, "silo_tus_bytes_total"} {
				if st != 200 || !strings.Contains(metrics, want) {
					t.Fatalf("/metrics (%d) has no %s", st, want)
				}
			}

			// fsck with an upload still open (the race's winner): its
			// reservation and pending blob are not findings.
			p.Stop()
			out, err := pair.fsck(t)
			if err != nil {
				t.Fatalf("fsck with open uploads: %v\n%s", err, out)
			}
			if !strings.Contains(out, "resumable uploads are open") {
				t.Fatalf("fsck does not mention the open uploads:\n%s", out)
			}
		})
	}
}

// TestTusExpiry: an upload nobody finishes is removed at its expiry, and
// its reservation released, by the sweep.
func TestTusExpiry(t *testing.T) {
	for _, pair := range tusPairs(t) {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.start(t, "--upload-ttl", "2s")
			_, key := newOrg(t, p.URL, "tus-expiry-"+pair.name, 0)
			url := tusCreate(t, p.URL, key, 1000, nil)
			if st, _, _ := tusPatch(t, url, key, 0, make([]byte, 300), ""); st != 204 {
				t.Fatalf("PATCH: %d", st)
			}
			deadline := time.Now().Add(30 * time.Second)
			for reserved(t, p.URL, key) != 0 {
				if time.Now().After(deadline) {
					t.Fatal("the expired upload's reservation was not released")
				}
				time.Sleep(100 * time.Millisecond)
			}
			if st, _, _ := tusReq(t, "HEAD", url, key, nil, nil); st != 404 {
				t.Fatalf("HEAD of an expired upload: %d", st)
			}
			p.Stop()
			if out, err := pair.fsck(t); err != nil {
				t.Fatalf("fsck after expiry: %v\n%s", err, out)
			}
		})
	}
}

// TestTusKill: kill -9 of the node in the middle of a PATCH. The next
// HEAD (embedded: after a restart; scale-out: on the other node) says an
// offset whose bytes are exactly the ones sent; the upload finishes from
// there and the dataset's file is byte for byte the one sent; fsck is clean.
func TestTusKill(t *testing.T) {
	for _, pair := range tusPairs(t) {
		t.Run(pair.name, func(t *testing.T) {
			p := pair.start(t)
			_, key := newOrg(t, p.URL, "tus-kill-"+pair.name, 0)
			data := jsonlFile(24 << 20)
			n := int64(len(data))
			url := tusCreate(t, p.URL, key, n, map[string]string{"Upload-Metadata": tusMeta("name", "killed", "type", "embed-input")})
			// A first PATCH is answered; a second streams 10 MiB, then the
			// node dies.
			first := int64(6 << 20)
			if st, _, body := tusPatch(t, url, key, 0, data[:first], ""); st != 204 {
				t.Fatalf("first PATCH: %d %s", st, body)
			}
			pr, pw := io.Pipe()
			go func() {
				req, _ := http.NewRequest("PATCH", url, pr)
				req.Header.Set("Authorization", "Bearer "+key)
				req.Header.Set("Tus-Resumable", "1.0.0")
				req.Header.Set("Content-Type", "application/offset+octet-stream")
				req.Header.Set("Upload-Offset", strconv.FormatInt(first, 10))
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			if _, err := pw.Write(data[first : first+10<<20]); err != nil {
				t.Fatal(err)
			}
			p.Kill()
			pw.CloseWithError(io.ErrUnexpectedEOF)
			q := pair.start(t)
			url = strings.Replace(url, p.URL, q.URL, 1)
			base := q.URL
			// The dead node's lock lapses after its lease; until then 423.
			var off int64
			deadline := time.Now().Add(60 * time.Second)
			for {
				off = headOffset(t, url, key)
				if off < first {
					t.Fatalf("HEAD says %d after kill -9, below the answered offset %d", off, first)
				}
				st, h, body := tusPatch(t, url, key, off, data[off:], sha256Sum(data[off:]))
				if st == 204 {
					if h.Get("Silo-Dataset-Id") == "" {
						t.Fatalf("no dataset after the resumed upload: %v", h)
					}
					waitValidated(t, base, key, h.Get("Silo-Dataset-Id"))
					if got := downloadOriginal(t, base, key, h.Get("Silo-Dataset-Id")); !bytes.Equal(got, data) {
						t.Fatalf("resumed at %d: the dataset differs from the file", off)
					}
					break
				}
				if st != 423 && st != 409 || time.Now().After(deadline) {
					t.Fatalf("resume at %d: %d %s", off, st, body)
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("%s: resumed at offset %d of %d after kill -9", pair.name, off, n)
			if got := usage(t, base, key); got != n {
				t.Fatalf("usage %d, want %d", got, n)
			}
			if got := reserved(t, base, key); got != 0 {
				t.Fatalf("reserved %d, want 0", got)
			}
			q.Stop()
			if out, err := pair.fsck(t); err != nil {
				t.Fatalf("fsck: %v\n%s", err, out)
			}
		})
	}
}

// waitValidated waits for a dataset to be validated, and says why if it failed.
func waitValidated(t *testing.T, base, key, id string) {
	t.Helper()
	waitStatus(t, base, key, id, func(s string) bool { return s == "validated" || s == "failed" })
	if status(t, base, key, id) == "failed" {
		_, d := call(t, "GET", base+"/v1/datasets/"+id, key, nil)
		t.Fatalf("dataset %s failed: %v", id, d["dataset"].(map[string]any)["validation_error"])
	}
}

// TestCLIResumes: `silo datasets upload` sends a file larger than
// --chunk-size as a resumable upload; killed part-way and run again on the
// same file, it resumes the same upload (the server holds the earlier
// offset, not 0) and the dataset is the file, byte for byte.
func TestCLIResumes(t *testing.T) {
	p := siloproc.Serve(t, embeddedEnv, "--data", t.TempDir())
	_, key := newOrg(t, p.URL, "cli-tus", 0)
	data := jsonlFile(48 << 20)
	path := t.TempDir() + "/big.jsonl"
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	cli := func() *exec.Cmd {
		cmd := exec.Command(siloproc.Binary(t), "datasets", "upload", path, "--name", "cli big", "--type", "embed-input", "--chunk-size", "1MiB")
		cmd.Env = append(os.Environ(), "SILO_URL="+p.URL, "SILO_API_KEY="+key, "XDG_CACHE_HOME="+cache)
		return cmd
	}
	first := cli()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once the server holds part of the file.
	var held int64
	deadline := time.Now().Add(60 * time.Second)
	for held == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the CLI's upload never showed on the server")
		}
		_, list := call(t, "GET", p.URL+"/v1/uploads", key, nil)
		if ups, _ := list["uploads"].([]any); len(ups) == 1 {
			held = int64(ups[0].(map[string]any)["upload_offset"].(float64))
		}
	}
	first.Process.Kill()
	first.Wait()
	if held >= int64(len(data)) {
		t.Fatalf("the upload finished (%d bytes) before the CLI was killed", held)
	}
	out, err := cli().CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "resuming the upload of big.jsonl at") {
		t.Fatalf("the second run did not resume:\n%s", out)
	}
	t.Logf("killed with %d of %d bytes on the server; second run: %s", held, len(data), strings.TrimSpace(string(out)))
	st, list := call(t, "GET", p.URL+"/v1/datasets", key, nil)
	ds := list["datasets"].([]any)
	if st != 200 || len(ds) != 1 {
		t.Fatalf("datasets after the resumed upload: %d %v", st, list)
	}
	id := ds[0].(map[string]any)["id"].(string)
	if got := downloadOriginal(t, p.URL, key, id); !bytes.Equal(got, data) {
		t.Fatal("the resumed upload's dataset differs from the file")
	}
	if got := usage(t, p.URL, key); got != int64(len(data)) {
		t.Fatalf("usage %d, want %d", got, len(data))
	}
}

// cutPatch sends a PATCH announcing all of data but only its first n bytes,
// then closes the connection, as a network that drops does.
func cutPatch(t *testing.T, url, key string, data []byte, n int) {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\nContent-Length: %d\r\n\r\n", u.Path, u.Host, key, len(data))
	if _, err := c.Write(data[:n]); err != nil {
		t.Fatal(err)
	}
}

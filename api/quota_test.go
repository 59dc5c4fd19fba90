package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
)

// multipartBody builds a create body with the given parts (name → content).
func multipartBody(t testing.TB, parts ...[2]string) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		w, err := mw.CreateFormFile(p[0], p[0]+".jsonl")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

// create posts a create and returns the status and the decoded body.
func create(t testing.TB, e *silotest.Env, key, query string, body io.Reader, ctype string) (int, map[string]any) {
	t.Helper()
	req := newRequest(t, "POST", e.URL+"/v1/datasets?"+query, body)
	req.Header.Set("Authorization", "Bearer "+key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	st, out, _ := doID(t, req)
	return st, out
}

// doID is do that also returns the response's X-Request-Id.
func doID(t testing.TB, req *http.Request) (int, map[string]any, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw := mustReadAll(t, resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: %d, body is not JSON: %q", req.Method, req.URL.Path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, resp.Header.Get("X-Request-Id")
}

func rows(n int) string {
	var b strings.Builder
	for b.Len() < n-20 {
		fmt.Fprintf(&b, "{\"text\":\"row %d\"}\n", b.Len())
	}
	b.WriteString(strings.Repeat(" ", n-b.Len()-1) + "\n")
	return b.String()
}

// TestConcurrentCreatesNeverBeatTheQuota: 64 creates at once against a
// quota that fits about half of them. Each is acknowledged or refused with
// 400 "You have exceeded capacity"; usage ends as exactly the sum of the
// acknowledged sizes, never over the quota; nothing is left reserved.
func TestConcurrentCreatesNeverBeatTheQuota(t *testing.T) {
	// Many creates at once from one key: its in-flight cap is not the point.
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.MaxInFlightPerKey = -1 }})
	const n, size = 64, 50_000
	quota := int64(n / 2 * size)
	orgID, key := e.Org(t, "acme", quota, silo.RoleWriter)
	data := rows(size)
	var mu sync.Mutex
	var ok, refused int
	var acked int64
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body, ct := multipartBody(t, [2]string{"data", data})
			// Half the clients hide their size (chunked), so both the early
			// refusal and the streaming reservation are exercised.
			if i%2 == 1 {
				body = io.MultiReader(body)
			}
			status, out := create(t, e, key, "name=c&type=embed-input", body, ct)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case status == 200:
				ok++
				acked += size
			case status == 400 && strings.HasPrefix(out["message"].(string), "You have exceeded capacity"):
				refused++
			default:
				t.Errorf("create: %d %v", status, out)
			}
		}()
	}
	wg.Wait()
	u := e.Usage(t, orgID)
	t.Logf("%d creates of %d bytes against a quota of %d: %d acknowledged, %d refused; usage %d", n, size, quota, ok, refused, u.UsedBytes)
	if u.UsedBytes != acked || u.UsedBytes > quota || u.ReservedBytes != 0 {
		t.Fatalf("usage %+v, acknowledged %d bytes, quota %d", u, acked, quota)
	}
	if ok == 0 || refused == 0 || ok+refused != n {
		t.Fatalf("%d acknowledged, %d refused of %d", ok, refused, n)
	}
	var count int
	if err := e.Store.Datasets(t.Context(), silo.DatasetFilter{OrgID: orgID}, func(*silo.Dataset) error { count++; return nil }); err != nil {
		t.Fatal(err)
	}
	if count != ok {
		t.Fatalf("%d datasets stored, %d acknowledged", count, ok)
	}
	res, err := e.Store.Reservations(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 0 {
		t.Fatalf("reservations left: %+v", res)
	}
	checkNoOrphans(t, e, ok)
}

// checkNoOrphans: once validation is done, blob files on disk are exactly
// the live datasets', and no temp file remains.
func checkNoOrphans(t *testing.T, e *silotest.Env, datasets int) {
	t.Helper()
	e.WaitJobs(t)
	if err := e.Service.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	tmp := mustReadDir(t, filepath.Join(e.Dir, "blobs", "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
	live := map[string]bool{}
	err := e.Store.Blobs(t.Context(), func(k string, st silo.BlobState) error {
		if st != silo.BlobLive && st != silo.BlobPending {
			t.Errorf("ledger row %s is %s after a sweep", k, st)
		}
		live[k] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files := mustReadDir(t, filepath.Join(e.Dir, "blobs", "blobs"))
	for _, f := range files {
		if !live[f.Name()] {
			t.Errorf("orphan blob %s", f.Name())
		}
	}
	if len(files) < datasets {
		t.Fatalf("%d blob files for %d datasets", len(files), datasets)
	}
}

// TestExactRemainingBytesFit: a file of exactly the remaining quota fits,
// with and without Content-Length; one byte more does not.
func TestExactRemainingBytesFit(t *testing.T) {
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			e := silotest.Start(t, silotest.Options{})
			const quota = 10_000
			orgID, key := e.Org(t, "acme", quota, silo.RoleWriter)
			post := func(n int) (int, map[string]any) {
				body, ct := multipartBody(t, [2]string{"data", rows(n)})
				if chunked {
					body = io.MultiReader(body)
				}
				return create(t, e, key, "name=x&type=embed-input", body, ct)
			}
			if st, out := post(quota - 4000); st != 200 {
				t.Fatalf("first: %d %v", st, out)
			}
			st, out := post(4001)
			msg, _ := out["message"].(string)
			if st != 400 || !strings.Contains(msg, "6,000 bytes (6 kB) of its 10,000 byte (10 kB) limit") || !strings.Contains(msg, "needs at least 4,001 bytes (4 kB)") {
				t.Fatalf("one byte over: %d %v", st, out)
			}
			if st, out := post(4000); st != 200 {
				t.Fatalf("exactly the rest: %d %v", st, out)
			}
			if u := e.Usage(t, orgID); u.UsedBytes != quota || u.ReservedBytes != 0 {
				t.Fatalf("usage %+v", u)
			}
		})
	}
}

// TestQuotaLoweredBelowUsage: allowed; creates are refused until usage
// drops under it.
func TestQuotaLoweredBelowUsage(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 10_000, silo.RoleWriter)
	body, ct := multipartBody(t, [2]string{"data", rows(5000)})
	st, out := create(t, e, key, "name=x&type=embed-input", body, ct)
	if st != 200 {
		t.Fatal(st, out)
	}
	if _, err := e.Service.SetQuota(t.Context(), e.Admin(t), orgID, 1000); err != nil {
		t.Fatal(err)
	}
	body, ct = multipartBody(t, [2]string{"data", rows(100)})
	if st, out := create(t, e, key, "name=y&type=embed-input", body, ct); st != 400 {
		t.Fatalf("create over a lowered quota: %d %v", st, out)
	}
	req := newRequest(t, "DELETE", e.URL+"/v1/datasets/"+out["id"].(string), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if st, out := do(t, req); st != 200 || len(out) != 0 {
		t.Fatalf("delete: %d %v", st, out)
	}
	body, ct = multipartBody(t, [2]string{"data", rows(100)})
	if st, out := create(t, e, key, "name=y&type=embed-input", body, ct); st != 200 {
		t.Fatalf("create after delete: %d %v", st, out)
	}
}

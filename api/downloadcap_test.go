package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
)

// hostCreate uploads data as a dataset of the key's organisation and
// returns its id.
func hostCreate(t *testing.T, n *hostNode, key, name, data string) string {
	t.Helper()
	body, ctype := multipartBody(t, [2]string{"data", data})
	req := newRequest(t, "POST", n.URL+"/v1/datasets?type=embed-input&name="+name, body)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ctype)
	st, out := do(t, req)
	if st != 200 {
		t.Fatalf("create %s: %d %v", name, st, out)
	}
	return out["id"].(string)
}

// hostOriginalURL is the signed URL of a dataset's uploaded file, as the
// key gets it.
func hostOriginalURL(t *testing.T, n *hostNode, key, id string) *url.URL {
	t.Helper()
	req := newRequest(t, "GET", n.URL+"/v1/datasets/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	st, out := do(t, req)
	if st != 200 {
		t.Fatalf("get %s: %d %v", id, st, out)
	}
	parts := out["dataset"].(map[string]any)["dataset_parts"].([]any)
	u, err := url.Parse(parts[0].(map[string]any)["original_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func embedRows(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "{\"text\":\"row %d of a file that slow clients download\"}\n", i)
	}
	return b.String()
}

// TestSlowDownloadsCostOnlyTheirKey: with 16 slots in all and a per-key
// cap of 4, 40 slow downloads (1 B/s through 4 KiB buffers) of a 4 MB file
// from one reader's signed URL count against that reader's key: the key
// itself gets 503 while they run, another key of the same organisation and
// another organisation are served, and another organisation's latency is
// logged with and without them.
func TestSlowDownloadsCostOnlyTheirKey(t *testing.T) {
	n := startHost(t, openSQLite(t), 30*time.Second, func(s *api.Server) {
		s.MaxInFlight, s.MaxInFlightPerKey = 16, 4
	})
	orgID, writer := n.org(t, "big", silo.RoleWriter)
	k, err := n.Svc.CreateKey(context.Background(), n.admin, orgID, "", silo.RoleReader, "reader")
	if err != nil {
		t.Fatal(err)
	}
	reader := k.Secret
	_, other := n.org(t, "other", silo.RoleReader)
	u := hostOriginalURL(t, n, reader, hostCreate(t, n, writer, "big", embedRows(4<<20)))
	const path, rounds, downloads = "/v1/datasets/usage", 200, 40

	calm50, calm99 := quantiles(latencies(t, n.URL, other, path, rounds))
	if _, started := startSlowReaders(t, downloads, n.URL, "", u.RequestURI()); started != downloads {
		t.Fatalf("only %d of %d slow downloads got an answer", started, downloads)
	}
	lat := latencies(t, n.URL, other, path, rounds)
	hostile50, hostile99 := quantiles(lat)
	t.Logf("another org's GET %s: p50 %v p99 %v alone; p50 %v p99 %v with %d slow downloads of one reader's URL",
		path, calm50, calm99, hostile50, hostile99, downloads)
	if hostile99 > 2*time.Second {
		t.Errorf("another org's p99 with slow downloads: %v, want under 2s", hostile99)
	}
	if st, _ := getStatus(t, n.URL+path, reader); st != 503 {
		t.Errorf("the reader whose URL is downloaded, at its cap: %d, want 503", st)
	}
	if st, _ := getStatus(t, n.URL+path, writer); st != 200 {
		t.Errorf("another key of the same organisation: %d, want 200", st)
	}
}

func getStatus(t *testing.T, u, key string) (int, http.Header) {
	t.Helper()
	req := newRequest(t, "GET", u, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	discard(t, resp)
	return resp.StatusCode, resp.Header
}

// TestDownloadRangesBounded: a Range header of up to 16 ranges gets its
// multipart 206; one of 17 or more (each range would be one more blob
// read, on S3 one more GET) gets the whole file, 200.
func TestDownloadRangesBounded(t *testing.T) {
	n := startHost(t, openSQLite(t), 30*time.Second, nil)
	_, key := n.org(t, "ranges", silo.RoleWriter)
	data := embedRows(4096)
	u := hostOriginalURL(t, n, key, hostCreate(t, n, key, "ranges", data))
	ranges := func(k int) string {
		rs := make([]string, k)
		for i := range rs {
			rs[i] = fmt.Sprintf("%d-%d", 10*i, 10*i+1)
		}
		return "bytes=" + strings.Join(rs, ",")
	}
	for _, tc := range []struct {
		ranges int
		status int
	}{{1, 206}, {16, 206}, {17, 200}, {2000, 200}} {
		req := newRequest(t, "GET", u.String(), nil)
		req.Header.Set("Range", ranges(tc.ranges))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := mustReadAll(t, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%d ranges: %d, want %d", tc.ranges, resp.StatusCode, tc.status)
		}
		if tc.status == 200 && string(body) != data {
			t.Errorf("%d ranges: %d bytes, want the whole file of %d", tc.ranges, len(body), len(data))
		}
	}
}

// TestDownloadURLWithoutKey: a URL signed before URLs named their key (no
// key= parameter, the signature over the other five fields) is still
// served until it expires, counted against its organisation.
func TestDownloadURLWithoutKey(t *testing.T) {
	n := startHost(t, openSQLite(t), 30*time.Second, nil)
	orgID, key := n.org(t, "legacy", silo.RoleWriter)
	data := embedRows(1000)
	u := hostOriginalURL(t, n, key, hostCreate(t, n, key, "legacy", data))
	q := u.Query()
	m := hmac.New(sha256.New, []byte(hostSigningKey))
	fmt.Fprintf(m, "%s\n%s\n%d\n%s\n%s", orgID, strings.Split(u.Path, "/")[3], 0, "original", q.Get("expires"))
	legacy := fmt.Sprintf("%s://%s%s?expires=%s&signature=%s", u.Scheme, u.Host, u.Path, q.Get("expires"), hex.EncodeToString(m.Sum(nil)))
	resp, err := http.Get(legacy)
	if err != nil {
		t.Fatal(err)
	}
	body := mustReadAll(t, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != data {
		t.Fatalf("a URL of the earlier form: %d, %d bytes", resp.StatusCode, len(body))
	}
}

package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
)

func getReady(t *testing.T, e *silotest.Env) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(e.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestReadyzFreeSpace: below --min-free-space /readyz answers 503 naming
// the check in plain words (no path), and a create whose Content-Length
// cannot fit is refused with 503 + Retry-After before its body is sent.
func TestReadyzFreeSpace(t *testing.T) {
	dir := t.TempDir()
	e := silotest.Start(t, silotest.Options{Dir: dir, Configure: func(s *api.Server) {
		s.Service.Disk = &silo.LocalDisk{Dir: dir, MinFree: 1 << 62}
	}})
	_, key := e.Org(t, "a", 0, silo.RoleWriter)
	st, h, body := getReady(t, e)
	if st != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "local data directory") || !strings.Contains(body, "min-free-space") {
		t.Fatalf("readyz below the minimum: %d %q %s", st, h.Get("Retry-After"), body)
	}
	if strings.Contains(body, dir) {
		t.Fatalf("readyz shows the path: %s", body)
	}
	c := rawConn(t, e)
	fmt.Fprintf(c, "POST /v1/datasets?name=y&type=embed-input HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n", key)
	resp, out := readResponse(t, c)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(out, "storage is full") || strings.Contains(out, dir) {
		t.Fatalf("create that cannot fit: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), out)
	}
}

// TestReadyzHealthy: with room to spare every check passes, and a create
// that fits is taken.
func TestReadyzHealthy(t *testing.T) {
	dir := t.TempDir()
	e := silotest.Start(t, silotest.Options{Dir: dir, Configure: func(s *api.Server) {
		s.Service.Disk = &silo.LocalDisk{Dir: dir, MinFree: 1 << 20}
	}})
	_, key := e.Org(t, "a", 0, silo.RoleWriter)
	if st, _, body := getReady(t, e); st != 200 {
		t.Fatalf("readyz: %d %s", st, body)
	}
	b, ct := multipartBody(t, [2]string{"data", embedJSONL})
	if st, out := create(t, e, key, "name=fits&type=embed-input", b, ct); st != 200 {
		t.Fatalf("create: %d %v", st, out)
	}
	var got struct{ Status string }
	_, _, body := getReady(t, e)
	if err := json.Unmarshal([]byte(body), &got); err != nil || got.Status != "ready" {
		t.Fatalf("readyz body %q", body)
	}
}

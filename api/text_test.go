package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/postgres"
	"github.com/silo-datasets/silo/validate"
)

// edgeRequest sends one request with raw bytes in its path, query and
// X-Client-Name over a raw connection (net/http's client refuses some of
// them), a create announcing a 10 MB body it never sends. It returns the
// status: the answer must come before the body.
func edgeRequest(t testing.TB, base, key, method, path, query, client string) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	target := path
	if query != "" {
		target += "?" + query
	}
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n", method, target, key)
	if client != "" {
		head += "X-Client-Name: " + client + "\r\n"
	}
	if method == "POST" {
		head += "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n"
	}
	fmt.Fprint(c, head+"\r\n")
	resp, body := readResponse(t.(*testing.T), c)
	return resp.StatusCode, body
}

// esc makes raw bytes safe for a request line: %-escaped, so that the
// server decodes them back to the same bytes.
func esc(s string) string { return url.PathEscape(s) }

var badTexts = []string{"nul\x00byte", "\xff\xfe", "cut \xe4\xb8", "\x00"}

// checkEdge runs the bad-bytes cases against a server: a path id is 404,
// a name, filter or parameter 400, a client name 400; never a 500, and a
// create is answered before its body. Admin bodies go with adminKey: a
// lower role gets 403 before its body is read.
func checkEdge(t *testing.T, base, key, adminKey string) {
	for _, bad := range badTexts {
		for _, tc := range []struct {
			method, path, query, client string
			want                        int
		}{
			{"GET", "/v1/datasets/" + esc(bad), "", "", 404},
			{"DELETE", "/v1/datasets/" + esc(bad), "", "", 404},
			{"GET", "/v1/datasets", "datasetType=" + esc(bad), "", 400},
			{"GET", "/v1/datasets", "validationStatus=" + esc(bad), "", 400},
			{"GET", "/v1/datasets", "before=" + esc(bad), "", 400},
			{"POST", "/v1/datasets", "name=" + esc(bad) + "&type=embed-input", "", 400},
			{"POST", "/v1/datasets", "name=ok&type=" + esc(bad), "", 400},
			{"POST", "/v1/datasets", "name=ok&type=embed-input&" + esc(bad) + "=1", "", 400},
			{"GET", "/v1/datasets/usage", "", strings.ReplaceAll(bad, "\x00", "\x00x"), 400},
		} {
			if strings.Contains(tc.client, "\x00") {
				tc.want = 400 // net/http itself refuses a NUL in a header
			}
			st, body := edgeRequest(t, base, key, tc.method, tc.path, tc.query, tc.client)
			if st != tc.want || !json.Valid([]byte(body)) && st != 400 {
				t.Errorf("%s %s?%s client %q: %d %s, want %d", tc.method, tc.path, tc.query, tc.client, st, body, tc.want)
			}
		}
	}
	// Admin bodies: a NUL escaped in JSON is refused the same on every store,
	// and nothing is created.
	for _, tc := range []struct{ path, body string }{
		{"/v1/admin/orgs", `{"name": "acme\u0000evil"}`},
		{"/v1/admin/keys", `{"org_id": "x", "role": "reader", "name": "ci\u0000"}`},
	} {
		req, err := http.NewRequest("POST", base+tc.path, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 400 || !strings.Contains(string(msg), "NUL") {
			t.Errorf("POST %s %s: %d %s, want 400 naming the NUL", tc.path, tc.body, resp.StatusCode, msg)
		}
	}
	// A long client name in a multi-byte script is cut on a rune boundary.
	cjk := strings.Repeat("漢", 60) // 180 bytes
	st, out := createWithClient(t, base, key, cjk)
	if st != 200 {
		t.Fatalf("create with a long CJK client name: %d %v", st, out)
	}
}

func createWithClient(t *testing.T, base, key, client string) (int, map[string]any) {
	t.Helper()
	b, ct := multipartBody(t, [2]string{"data", embedJSONL})
	req, _ := http.NewRequest("POST", base+"/v1/datasets?name=cjk&type=embed-input", b)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ct)
	req.Header.Set("X-Client-Name", client)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestBadBytesSQLite: bad bytes at the edge on the embedded store.
func TestBadBytesSQLite(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	_, key := e.Org(t, "a", 0, silo.RoleWriter)
	checkEdge(t, e.URL, key, e.AdminKey)
	checkClientName(t, e.Service, e.URL, key)
}

// TestBadBytesPostgres: the same answers on PostgreSQL, which refuses NUL
// and invalid UTF-8 itself (SQLSTATE 22021): never a 500.
func TestBadBytesPostgres(t *testing.T) {
	ctx := context.Background()
	st, err := postgres.Open(ctx, testenv.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	blobs, err := disk.Open(filepath.Join(t.TempDir(), "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	svc := &silo.Service{Store: st, Blobs: blobs, Validator: validate.New(validate.Options{}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Node: silo.NewID("node_")}
	secret, err := svc.Bootstrap(ctx, "silo_edge_admin")
	if err != nil || secret == "" {
		t.Fatal(secret, err)
	}
	srv := &api.Server{Service: svc, Addr: "127.0.0.1:0", SigningKey: []byte("k")}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	checkEdge(t, srv.URL(), secret, secret)
	checkClientName(t, svc, srv.URL(), secret)
}

// checkClientName: the recorded client name of the CJK create is valid
// UTF-8, at most 100 bytes.
func checkClientName(t *testing.T, svc *silo.Service, base, key string) {
	t.Helper()
	k, _, err := svc.AuthenticateAPI(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = svc.Datasets(context.Background(), &silo.Caller{Key: k}, silo.DatasetFilter{}, func(d *silo.Dataset) error {
		if d.Name == "cjk" {
			n++
			if !utf8.ValidString(d.ClientName) || len(d.ClientName) > 100 || d.ClientName == "" {
				t.Errorf("client name %q", d.ClientName)
			}
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("datasets: %v, %d cjk", err, n)
	}
}

// FuzzEdgeText: whatever bytes a name, id, filter or client name holds,
// the embedded server answers without a 500, and bytes that are not UTF-8
// text are refused.
func FuzzEdgeText(f *testing.F) {
	for _, s := range append(badTexts, "plain", "漢字", "") {
		f.Add(s)
	}
	e := silotest.Start(f, silotest.Options{})
	_, key := e.Org(f, "a", 0, silo.RoleWriter)
	h := e.Server.Handler()
	f.Fuzz(func(t *testing.T, s string) {
		for _, target := range []string{
			"/v1/datasets/" + esc(s),
			"/v1/datasets?datasetType=" + url.QueryEscape(s),
			"/v1/datasets?name=" + url.QueryEscape(s) + "&type=embed-input",
		} {
			method := "GET"
			if strings.Contains(target, "name=") {
				method = "POST"
			}
			req := httptest.NewRequest(method, target, strings.NewReader(""))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "multipart/form-data; boundary=b")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s %q: %d %s", method, target, rec.Code, rec.Body)
			}
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				if rec.Code != 400 && rec.Code != 404 {
					t.Fatalf("%s %q with bad bytes: %d %s", method, target, rec.Code, rec.Body)
				}
			}
		}
	})
}

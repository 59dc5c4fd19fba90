package api_test

import (
	"bufio"
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
)

// rawConn opens a TCP connection to the server, for requests that
// net/http's client will not send (half a body, a stalled header).
func rawConn(t *testing.T, e *silotest.Env) net.Conn {
	t.Helper()
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// writeConn writes a raw request, or part of one, on a test connection.
func writeConn(t testing.TB, c net.Conn, format string, args ...any) {
	t.Helper()
	if _, err := fmt.Fprintf(c, format, args...); err != nil {
		t.Fatalf("writing to the server: %v", err)
	}
}

func readResponse(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	b := mustReadAll(t, resp.Body)
	return resp, string(b)
}

func getKey(t *testing.T, e *silotest.Env, key, path string) (int, http.Header) {
	t.Helper()
	req := newRequest(t, "GET", e.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	discard(t, resp)
	return resp.StatusCode, resp.Header
}

// TestRateLimit: a key past its bucket gets 429 with Retry-After in whole
// seconds and a JSON message; another key is not affected; an
// unauthenticated request is 401, never 429.
func TestRateLimit(t *testing.T) {
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		s.RateLimit, s.RateBurst = rate.Every(20*time.Second), 3
	}})
	_, a := e.Org(t, "a", 0, silo.RoleReader)
	_, b := e.Org(t, "b", 0, silo.RoleReader)
	for i := 0; i < 3; i++ {
		if st, _ := getKey(t, e, a, "/v1/datasets/usage"); st != 200 {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	st, h := getKey(t, e, a, "/v1/datasets/usage")
	ra, err := strconv.Atoi(h.Get("Retry-After"))
	if st != 429 || err != nil || ra < 1 || ra > 20 {
		t.Fatalf("4th request: %d Retry-After %q, want 429 with 1..20", st, h.Get("Retry-After"))
	}
	if st, _ := getKey(t, e, b, "/v1/datasets/usage"); st != 200 {
		t.Fatalf("other key: %d", st)
	}
	if st, _ := getKey(t, e, "silo_never_existed", "/v1/datasets/usage"); st != 401 {
		t.Fatalf("unknown key: %d", st)
	}
}

// TestShedBeforeBody: with one request in flight and a cap of one, the next
// gets 503 + Retry-After at once, though its 10 MB body was never sent;
// health checks are not shed.
func TestShedBeforeBody(t *testing.T) {
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.MaxInFlight = 1 }})
	orgID, key := e.Org(t, "a", 0, silo.RoleWriter)
	hold := rawConn(t, e)
	writeConn(t, hold, "POST /v1/datasets?name=x&type=embed-input HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n--b\r\n"+
		"Content-Disposition: form-data; name=\"data\"; filename=\"d.jsonl\"\r\n\r\n{\"text\":\"a\"}\n", key)
	waitFor(t, func() bool { return e.Usage(t, orgID).ReservedBytes > 0 })

	c := rawConn(t, e)
	writeConn(t, c, "POST /v1/datasets?name=y&type=embed-input HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n", key)
	resp, body := readResponse(t, c)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, `"message"`) {
		t.Fatalf("over the cap: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if st, _ := getKey(t, e, "", "/healthz"); st != 200 {
		t.Fatalf("healthz shed: %d", st)
	}
	hold.Close()
	waitFor(t, func() bool { return e.Usage(t, orgID).ReservedBytes == 0 })
	if st, _ := getKey(t, e, key, "/v1/datasets/usage"); st != 200 {
		t.Fatalf("after the first ended: %d", st)
	}
}

// TestStoreDeadline504: while another process holds SQLite's write lock, a
// delete waits for it until the request's deadline and gets 504.
func TestStoreDeadline504(t *testing.T) {
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.RequestTimeout = 300 * time.Millisecond }})
	_, key := e.Org(t, "a", 0, silo.RoleWriter)
	// A busy timeout: the server may be committing (the org and key just
	// made, a sweep) just as the lock is taken (SQLITE_BUSY, seen in CI).
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.Dir, "silo.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	req := newRequest(t, "DELETE", e.URL+"/v1/datasets/some-id", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	st, out := do(t, req)
	if st != 504 || time.Since(start) > 5*time.Second {
		t.Fatalf("delete under a held lock: %d %v after %v, want 504 soon after 300ms", st, out, time.Since(start))
	}
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if st, _ := getKey(t, e, key, "/v1/datasets/usage"); st != 200 {
		t.Fatalf("after the lock: %d", st)
	}
}

// syncBuf is a log sink tests read while the server writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClientGoneMidUpload: a client sends half of a create's body and
// closes the connection. The request is logged as 499, its reservation is
// released, its temp blob removed, and fsck finds the stores clean.
func TestClientGoneMidUpload(t *testing.T) {
	logs := &syncBuf{}
	e := silotest.Start(t, silotest.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	orgID, key := e.Org(t, "a", 0, silo.RoleWriter)
	for _, withLength := range []bool{true, false} {
		c := rawConn(t, e)
		head := "Content-Length: 300000"
		if !withLength {
			head = "Transfer-Encoding: chunked"
		}
		writeConn(t, c, "POST /v1/datasets?name=x&type=embed-input HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: multipart/form-data; boundary=b\r\n%s\r\n\r\n", key, head)
		part := "--b\r\nContent-Disposition: form-data; name=\"data\"; filename=\"d.jsonl\"\r\n\r\n" + rows(150_000)
		if !withLength {
			part = fmt.Sprintf("%x\r\n%s\r\n", len(part), part)
		}
		writeConn(t, c, "%s", part)
		waitFor(t, func() bool { return tempFiles(t, e) > 0 })
		c.Close()
		waitFor(t, func() bool {
			return strings.Count(logs.String(), "status=499") == map[bool]int{true: 1, false: 2}[withLength]
		})
		waitFor(t, func() bool { return e.Usage(t, orgID).ReservedBytes == 0 && tempFiles(t, e) == 0 })
	}
	if !strings.Contains(logs.String(), `route="POST /v1/datasets"`) {
		t.Fatalf("499 not logged for the create route:\n%s", logs.String())
	}
	if u := e.Usage(t, orgID); u.UsedBytes != 0 {
		t.Fatalf("usage %d after two abandoned uploads", u.UsedBytes)
	}
	fsckClean(t, e)
}

func tempFiles(t *testing.T, e *silotest.Env) int {
	ents, err := os.ReadDir(filepath.Join(e.Dir, "blobs", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestSizeLimits: a dataset over the per-dataset cap is 400 with and
// without Content-Length and stores nothing; an admin body over 1 MB is
// 400; headers over 64 KB are 431.
func TestSizeLimits(t *testing.T) {
	e := silotest.Start(t, silotest.Options{MaxDatasetSize: 10_000})
	orgID, key := e.Org(t, "a", 0, silo.RoleWriter)
	for _, chunked := range []bool{false, true} {
		body, ctype := multipartBody(t, [2]string{"data", rows(20_000)})
		if chunked {
			body = struct{ io.Reader }{body} // hides the length
		}
		st, out := create(t, e, key, "name=big&type=embed-input", body, ctype)
		if st != 400 || !strings.Contains(fmt.Sprint(out["message"]), "too large") {
			t.Fatalf("chunked=%v: %d %v", chunked, st, out)
		}
	}
	fits, ctype := multipartBody(t, [2]string{"data", rows(9_000)})
	if st, out := create(t, e, key, "name=fits&type=embed-input", fits, ctype); st != 200 {
		t.Fatalf("under the cap: %d %v", st, out)
	}
	if u := e.Usage(t, orgID); u.UsedBytes != 9_000 {
		t.Fatalf("usage %d, want only the dataset under the cap", u.UsedBytes)
	}

	c := rawConn(t, e)
	writeConn(t, c, "POST /v1/admin/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n", e.AdminKey)
	if resp, body := readResponse(t, c); resp.StatusCode != 400 || !strings.Contains(body, "too large") {
		t.Fatalf("2 MB admin body: %d %s", resp.StatusCode, body)
	}
	req := newRequest(t, "GET", e.URL+"/v1/datasets/usage", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("X-Padding", strings.Repeat("p", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 431 {
		t.Fatalf("100 KB header: %d, want 431", resp.StatusCode)
	}
	fsckClean(t, e)
}

// TestSlowHeaders: a client that starts a request and stalls is cut off
// after ReadHeaderTimeout; one that stays idle after a request, after
// IdleTimeout.
func TestSlowHeaders(t *testing.T) {
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		s.ReadHeaderTimeout, s.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond
	}})
	for _, first := range []string{"GET /healthz HTTP/1.1\r\nHost: x\r\n", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"} {
		c := rawConn(t, e)
		writeConn(t, c, "%s", first)
		start := time.Now()
		if err := c.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		// Until the server closes the connection; how (EOF or a reset) is
		// not the point, how soon is.
		io.Copy(io.Discard, c)
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%q: connection held for %v", first, d)
		}
	}
}

// TestDrainAnswers503: once shutdown begins, new connections are refused
// and a request arriving on an open keep-alive connection gets 503,
// Retry-After and Connection: close, while the upload in flight finishes.
func TestDrainAnswers503(t *testing.T) {
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.DrainDelay = 3 * time.Second }})
	orgID, key := e.Org(t, "a", 0, silo.RoleWriter)
	data := rows(5_000)
	up := rawConn(t, e)
	part := "--b\r\nContent-Disposition: form-data; name=\"data\"; filename=\"d.jsonl\"\r\n\r\n" + data + "\r\n--b--\r\n"
	writeConn(t, up, "POST /v1/datasets?name=x&type=embed-input HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: %d\r\n\r\n%s", key, len(part), part[:100])
	waitFor(t, func() bool { return e.Usage(t, orgID).ReservedBytes > 0 })
	open := rawConn(t, e)
	usage := fmt.Sprintf("GET /v1/datasets/usage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", key)
	writeConn(t, open, "%s", usage)
	br := bufio.NewReader(open)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("before the drain: %v %v", resp, err)
	} else {
		discard(t, resp)
	}
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	u, err := url.Parse(e.URL)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	writeConn(t, open, "%s", usage)
	if err := open.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := mustReadAll(t, resp.Body)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !resp.Close || !strings.Contains(string(body), "shutting down") {
		t.Fatalf("request while draining: %d Retry-After %q close %v %s", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Close, body)
	}
	writeConn(t, up, "%s", part[100:])
	if resp, body := readResponse(t, up); resp.StatusCode != 200 {
		t.Fatalf("the upload in flight: %d %s", resp.StatusCode, body)
	}
	<-closed
}

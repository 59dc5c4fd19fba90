package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
)

// silo runs the silo binary with args and env, and returns its output.
func runSilo(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(siloproc.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mustSilo runs the silo binary and fails the test unless it exits 0.
func mustSilo(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, err := runSilo(t, env, args...)
	if err != nil {
		t.Fatalf("silo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// upload creates a dataset with the given query parameters and data, and
// returns its id.
func upload(t *testing.T, base, key, query, name, data string) string {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, _ := mw.CreateFormFile("data", name+".jsonl")
	io.WriteString(w, data)
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/v1/datasets?name="+url.QueryEscape(name)+"&"+query, &buf)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-Client-Name", "move-test")
	st, out := send(req)
	if st != 200 {
		t.Fatalf("create %s: %d %v", name, st, out)
	}
	return out["id"].(string)
}

// view is what an organisation's key sees through the API: every answer
// of list, get, usage, breakdown and history, with signed URLs (which name
// the host and expire) left out, and the SHA-256 of every file its signed
// URLs serve.
type view struct {
	Answers map[string]any
	Files   map[string]string // dataset/part/kind -> SHA-256
}

func viewOf(t *testing.T, base, key string) view {
	t.Helper()
	v := view{Answers: map[string]any{}, Files: map[string]string{}}
	get := func(path string) map[string]any {
		st, out := call(t, "GET", base+path, key, nil)
		if st != 200 {
			t.Fatalf("GET %s: %d %v", path, st, out)
		}
		return out
	}
	for _, p := range []string{"/v1/datasets", "/v1/datasets/usage", "/v1/datasets/usage/breakdown", "/v1/datasets/usage/history"} {
		v.Answers[p] = stripURLs(get(p))
	}
	for _, d := range listAll(t, base, key) {
		id := d["id"].(string)
		full := get("/v1/datasets/" + id)
		v.Answers["/v1/datasets/"+id] = stripURLs(full)
		collectURLs(full, "", func(path, u string) {
			v.Files[id+path] = download(t, u)
		})
	}
	return v
}

// download fetches a signed URL and returns the SHA-256 of the body.
func download(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	h := sha256.New()
	if _, err := io.Copy(h, resp.Body); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

func stripURLs(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if k != "as_of" { // the time of the answer
				out[k] = stripURLs(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripURLs(e)
		}
		return out
	case string:
		if isURL(x) {
			return "<url>"
		}
	}
	return v
}

func collectURLs(v any, path string, fn func(path, u string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			collectURLs(e, path+"/"+k, fn)
		}
	case []any:
		for i, e := range x {
			collectURLs(e, path+"/"+string(rune('0'+i)), fn)
		}
	case string:
		if isURL(x) {
			fn(path, x)
		}
	}
}

func sameView(t *testing.T, what string, got, want view) {
	t.Helper()
	if !reflect.DeepEqual(got.Answers, want.Answers) {
		g, _ := json.MarshalIndent(got.Answers, "", " ")
		w, _ := json.MarshalIndent(want.Answers, "", " ")
		t.Fatalf("%s: the API answers differ:\n got %s\nwant %s", what, g, w)
	}
	if !reflect.DeepEqual(got.Files, want.Files) {
		t.Fatalf("%s: the files differ:\n got %v\nwant %v", what, got.Files, want.Files)
	}
}

// slowProxy forwards TCP connections to target, at most rate bytes a
// second each way: an object store that a migration outruns.
func slowProxy(t *testing.T, target string, rate int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	pipe := func(dst, src net.Conn) {
		defer dst.Close()
		buf := make([]byte, 4096)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, err := dst.Write(buf[:n]); err != nil {
					return
				}
				time.Sleep(time.Duration(n) * time.Second / time.Duration(rate))
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return ln.Addr().String()
}

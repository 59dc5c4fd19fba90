package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// call makes an API request and decodes the JSON answer; status 0 means
// the request itself failed (safe to use from goroutines).
func call(t testing.TB, method, u, key string, body any) (int, map[string]any) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return failed(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		return failed(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	return send(req)
}

func send(req *http.Request) (int, map[string]any) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return failed(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		// The answer was cut off (the server died while sending it): its
		// outcome is as unknown as that of a request that got no answer.
		return failed(err)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		out = map[string]any{"message": "not JSON: " + string(raw)}
	}
	return resp.StatusCode, out
}

// failed is call's answer to a request that got no (whole) answer.
func failed(err error) (int, map[string]any) {
	return 0, map[string]any{"message": err.Error()}
}

// newOrg creates an organisation (quota 0: the default) and a writer key.
func newOrg(t *testing.T, base, name string, quota int64) (string, string) {
	t.Helper()
	body := map[string]any{"name": name}
	if quota > 0 {
		body["quota_bytes"] = quota
	}
	st, org := call(t, "POST", base+"/v1/admin/orgs", adminKey, body)
	if st != 201 {
		t.Fatalf("create org: %d %v", st, org)
	}
	st, k := call(t, "POST", base+"/v1/admin/keys", adminKey, map[string]any{"org_id": org["id"], "role": "writer", "name": "e2e"})
	if st != 201 {
		t.Fatalf("create key: %d %v", st, k)
	}
	return org["id"].(string), k["key"].(string)
}

// createDataset uploads r as the data part. With withLength the body is
// built first and sent with a Content-Length; otherwise it streams
// chunked, as large uploads do.
func createDataset(t testing.TB, base, key, name string, r io.Reader, withLength bool) (int, map[string]any) {
	return createDatasetHdr(base, key, name, r, withLength, nil)
}

// createDatasetWith is createDataset with a Content-Length and the headers
// of hdr (an Idempotency-Key).
func createDatasetWith(base, key, name string, r io.Reader, hdr http.Header) (int, map[string]any) {
	return createDatasetHdr(base, key, name, r, true, hdr)
}

func createDatasetHdr(base, key, name string, r io.Reader, withLength bool, hdr http.Header) (int, map[string]any) {
	u := base + "/v1/datasets?type=embed-input&name=" + url.QueryEscape(name)
	if strings.HasPrefix(name, "big") {
		u = base + "/v1/datasets?type=chat-finetune-input&name=" + url.QueryEscape(name)
	}
	var body io.Reader
	var ctype string
	if withLength {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		if err := writeDataPart(mw, name, r); err != nil {
			return failed(err)
		}
		if err := mw.Close(); err != nil {
			return failed(err)
		}
		body, ctype = &buf, mw.FormDataContentType()
	} else {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			// The pipe's reader sees any error: the request fails, as when
			// the server dies (never a write to a nil part writer).
			if err := writeDataPart(mw, name, r); err != nil {
				pw.CloseWithError(err)
				return
			}
			pw.CloseWithError(mw.Close())
		}()
		body, ctype = pr, mw.FormDataContentType()
	}
	req, err := http.NewRequest("POST", u, body)
	if err != nil {
		return failed(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ctype)
	return send(req)
}

func writeDataPart(mw *multipart.Writer, name string, r io.Reader) error {
	w, err := mw.CreateFormFile("data", name+".jsonl")
	if err != nil {
		return err
	}
	_, err = io.Copy(w, r)
	return err
}

func usageAnswer(t *testing.T, base, key string) map[string]any {
	t.Helper()
	st, out := call(t, "GET", base+"/v1/datasets/usage", key, nil)
	if st != 200 {
		t.Fatalf("usage: %d %v", st, out)
	}
	return out
}

func usage(t *testing.T, base, key string) int64 {
	return int64(usageAnswer(t, base, key)["organization_usage"].(float64))
}

func reserved(t *testing.T, base, key string) int64 {
	return int64(usageAnswer(t, base, key)["reserved_bytes"].(float64))
}

func status(t *testing.T, base, key, id string) string {
	t.Helper()
	st, out := call(t, "GET", base+"/v1/datasets/"+id, key, nil)
	if st != 200 {
		t.Fatalf("get %s: %d %v", id, st, out)
	}
	return out["dataset"].(map[string]any)["validation_status"].(string)
}

func waitStatus(t *testing.T, base, key, id string, done func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for s := status(t, base, key, id); !done(s); s = status(t, base, key, id) {
		if time.Now().After(deadline) {
			t.Fatalf("dataset %s still %s after 90s", id, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// jsonlRows returns embed-input JSONL of exactly n bytes.
func jsonlRows(n int) string {
	var b strings.Builder
	for b.Len() < n-40 {
		fmt.Fprintf(&b, "{\"text\":\"row number %d\"}\n", b.Len())
	}
	b.WriteString(`{"text":"` + strings.Repeat("x", n-b.Len()-12) + "\"}\n")
	return b.String()
}

// chatRows returns chat-finetune JSONL of about n bytes.
func chatRows(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"messages":[{"role":"System","content":"You are helpful."},{"role":"User","content":"Question %d: what is %d plus %d?"},{"role":"Chatbot","content":"It is %d, as anyone can check."}]}`+"\n", i, i, i, 2*i)
	}
	return b.String()
}

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
)

// TestServeTokenizer: `silo serve --tokenizer FILE` makes validation count
// tokens with the tokenizer.json it names, with no code change. The file is
// made here: a byte-level BPE without merges, so every byte is one token.
// A conversation whose turn has 20,000 ASCII characters is about 5,000
// tokens by the default estimate (kept) and 20,000 tokens by this tokenizer
// (over Cohere's 16,384, dropped).
func TestServeTokenizer(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "tokenizer.json")
	spec := `{"version":"1.0","normalizer":null,"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},` +
		`"model":{"type":"BPE","vocab":{"a":0},"merges":[]}}`
	if err := os.WriteFile(tok, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	conv := func(user, bot string) string {
		b, err := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "User", "content": user}, {"role": "Chatbot", "content": bot}}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b) + "\n"
	}
	data := conv("hi", "hello") + conv(strings.Repeat("x", 20000), "ok") + conv("bye", "goodbye")

	for _, tc := range []struct {
		args []string
		rows float64
		warn string
	}{
		{nil, 3, ""},
		{[]string{"--tokenizer", tok}, 2, "conversations with too many tokens. conversation number: number of turns with too many tokens is as follows, 1:1"},
	} {
		key := "silo_tokenizer_test_key_0123456789"
		p := siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=" + key}, append([]string{"--data", t.TempDir()}, tc.args...)...)
		d := createAndWait(t, p.URL, key, "chat-finetune-input", data)
		parts, _ := d["dataset_parts"].([]any)
		if d["validation_status"] != "validated" || len(parts) != 1 || parts[0].(map[string]any)["num_rows"] != tc.rows {
			t.Fatalf("%v: dataset %v", tc.args, d)
		}
		warnings := fmt.Sprint(d["validation_warnings"])
		if tc.warn != "" && !strings.Contains(warnings, tc.warn) || tc.warn == "" && strings.Contains(warnings, "too many tokens") {
			t.Fatalf("%v: warnings %s", tc.args, warnings)
		}
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// createAndWait creates a dataset over plain HTTP and polls it until its
// validation ends.
func createAndWait(t *testing.T, base, key, typ, data string) map[string]any {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("data", "data.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(fw, data); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req := newRequest(t, "POST", base+"/v1/datasets?name=tok&type="+typ, &body)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var created struct{ ID string }
	if st := doJSON(t, req, &created); st != 200 {
		t.Fatalf("create: %d", st)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		req := newRequest(t, "GET", base+"/v1/datasets/"+created.ID, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		var got struct{ Dataset map[string]any }
		if st := doJSON(t, req, &got); st != 200 {
			t.Fatalf("get: %d", st)
		}
		if s := got.Dataset["validation_status"]; s == "validated" || s == "failed" {
			return got.Dataset
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v after 30s", got.Dataset["validation_status"])
		}
		time.Sleep(50 * time.Millisecond) // polling, as the SDKs' wait does
	}
}

func doJSON(t *testing.T, req *http.Request, v any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return resp.StatusCode
}

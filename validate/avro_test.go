package validate

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
)

// avscInstall is the command that installs the independent reader.
const avscInstall = "npm ci --prefix validate/testdata/avsc"

// avroCases cover every Avro type the schemas use: strings, string arrays,
// message records, nullable strings, metadata columns typed long, double,
// boolean and nullable double, and non-ASCII text.
var avroCases = []corpusCase{
	{"embed_keep_fields", embed, params("keep", "wiki_id,url,views,title", "optional", "langs"), "embed_keep.jsonl", "", ""},
	{"metadata_types", embed, params("keep", "n,f,b,obj,big", "optional", "opt,mix"), "embed_meta_types.jsonl", "", ""},
	{"embed_csv_quoted", embed, params(), "embed_valid.csv", "", ""},
	{"multilabel", multi, params(), "multilabel_valid.jsonl", "", ""},
	{"rerank", rerank, params(), "rerank_valid.jsonl", "", ""},
	{"chat", chat, params(), "chat_valid.jsonl", "chat_eval.jsonl", ""},
	{"batch_embed", batchV2, params(), "batch_embed_valid.jsonl", "", ""},
	{"generic", silo.TypeBatchOpenAIChatInput, params("optional", "custom_id,nothing"), "generic_batch_chat.jsonl", "", ""},
}

// unicodeRows is a dataset of awkward strings: multi-byte runes, escapes,
// an empty optional, a long row that spans Avro blocks.
func unicodeRows() string {
	rows := []map[string]any{
		{"text": "héllo wörld ✓ 日本語 🎉", "note": "ok"},
		{"text": "tab\tquote\" backslash\\ nul\u0000"},
		{"text": strings.Repeat("long ", 50000), "note": ""},
	}
	var b strings.Builder
	for _, r := range rows {
		b.Write(mustJSON(r))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestAvroRoundTrip decodes each part with hamba/avro and checks it holds
// exactly the kept rows, in order, for both codecs.
func TestAvroRoundTrip(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		opts := Options{Deflate: deflate, AvroBlockBytes: 1 << 10}
		v, avros := validate(t, opts, embed, params("optional", "note"),
			upload{data: strings.NewReader(unicodeRows()), format: silo.FormatJSONL})
		if !v.OK {
			t.Fatalf("error %q", v.Report.Error)
		}
		rows, _ := decodeAvro(t, avros[0].Bytes())
		want := []map[string]any{
			{"text": "héllo wörld ✓ 日本語 🎉", "note": "ok"},
			{"text": "tab\tquote\" backslash\\ nul\u0000", "note": nil},
			{"text": strings.Repeat("long ", 50000), "note": ""},
		}
		if !bytes.Equal(mustJSON(rows), mustJSON(want)) {
			t.Fatalf("deflate=%v: rows differ:\n%.300s\n%.300s", deflate, mustJSON(rows), mustJSON(want))
		}
	}
}

// TestAvroAvsc reads the parts back with avsc, an Avro implementation
// independent of the one that wrote them and the one real JavaScript Cohere
// clients use, and compares rows and schema with hamba/avro's reading.
func TestAvroAvsc(t *testing.T) {
	script := requireAvsc(t)
	dir := t.TempDir()
	cases := append(avroCases, corpusCase{name: "unicode"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v *silo.Validation
			var avros []*bytes.Buffer
			if c.name == "unicode" {
				v, avros = validate(t, Options{Deflate: true}, embed, params("optional", "note"),
					upload{data: strings.NewReader(unicodeRows()), format: silo.FormatJSONL})
			} else {
				ups := []upload{corpus(t, c.train, false)}
				if c.eval != "" {
					ups = append(ups, corpus(t, c.eval, true))
				}
				v, avros = validate(t, Options{}, c.typ, c.params, ups...)
			}
			if !v.OK {
				t.Fatalf("error %q", v.Report.Error)
			}
			for i, a := range avros {
				path := filepath.Join(dir, c.name+string(rune('0'+i))+".avro")
				if err := os.WriteFile(path, a.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				compareAvsc(t, script, path, a.Bytes(), v.Report.Schema)
			}
		})
	}
}

func compareAvsc(t *testing.T, script, path string, part []byte, schema string) {
	t.Helper()
	out, err := exec.Command("node", script, path).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node %s: %v\n%s", script, err, stderr)
	}
	var got struct {
		Schema json.RawMessage  `json:"schema"`
		Rows   []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("avsc output: %v\n%.500s", err, out)
	}
	want, _ := decodeAvro(t, part)
	if len(want) == 0 {
		want = []map[string]any{}
	}
	if !bytes.Equal(mustJSON(got.Rows), mustJSON(want)) {
		t.Fatalf("avsc rows differ from hamba's:\n%.500s\n%.500s", mustJSON(got.Rows), mustJSON(want))
	}
	var a, b any
	if err := json.Unmarshal(got.Schema, &a); err != nil {
		t.Fatalf("avsc schema %s: %v", got.Schema, err)
	}
	if err := json.Unmarshal([]byte(schema), &b); err != nil {
		t.Fatalf("report schema %s: %v", schema, err)
	}
	if !bytes.Equal(mustJSON(a), mustJSON(b)) {
		t.Fatalf("avsc schema %s, report schema %s", got.Schema, schema)
	}
}

// requireAvsc returns the decode script, or skips the test when node or
// avsc is missing, except under CI, where a missing reader must not pass
// unnoticed.
func requireAvsc(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "avsc"))
	if err != nil {
		t.Fatal(err)
	}
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not installed"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "avsc")); err != nil {
		missing = "avsc is not installed"
	}
	if missing != "" {
		msg := missing + "; from the repository root run: " + avscInstall
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return filepath.Join(dir, "decode.js")
}

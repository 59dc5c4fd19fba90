package api_test

// End-to-end checks of validation's Cohere fidelity (issue 15) through the
// real Cohere Go SDK: create, wait, then what a user reads back (num_rows,
// validation_warnings, the Avro part behind dataset_parts[].url).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	cohere "github.com/cohere-ai/cohere-go/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

func TestCohereSDKValidationFidelity(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	co := sdk(e, key)

	// create, then wait as co.wait does, then read the dataset through the SDK.
	createWait := func(t *testing.T, typ cohere.DatasetType, data string, keep, optional []string) *cohere.Dataset {
		t.Helper()
		req := &cohere.DatasetsCreateRequest{Name: "fidelity", Type: typ, Data: namedReader{strings.NewReader(data), "data.jsonl"}}
		for _, f := range keep {
			req.KeepFields = append(req.KeepFields, ptr(f))
		}
		for _, f := range optional {
			req.OptionalFields = append(req.OptionalFields, ptr(f))
		}
		created, err := co.Datasets.Create(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		e.WaitValidated(t, orgID, *created.Id)
		got, err := co.Datasets.Get(t.Context(), *created.Id)
		if err != nil {
			t.Fatal(err)
		}
		d := got.GetDataset()
		if d.ValidationStatus != cohere.DatasetValidationStatusValidated {
			t.Fatalf("status %s, error %v, warnings %q", d.ValidationStatus, d.ValidationError, d.ValidationWarnings)
		}
		return d
	}
	hasWarning := func(t *testing.T, d *cohere.Dataset, w string) {
		t.Helper()
		if !strings.Contains(strings.Join(d.ValidationWarnings, "\n"), w) {
			t.Fatalf("no warning %q in %q", w, d.ValidationWarnings)
		}
	}

	t.Run("classification filters an invalid example", func(t *testing.T) {
		var data strings.Builder
		for i := range 60 {
			fmt.Fprintf(&data, `{"text":"review %d","label":%q}`+"\n", i, []string{"positive", "negative"}[i%2])
		}
		data.WriteString(`{"text":"","label":"positive"}` + "\n")
		d := createWait(t, cohere.DatasetTypeSingleLabelClassificationFinetuneInput, data.String(), nil, nil)
		if *d.DatasetParts[0].NumRows != 60 {
			t.Fatalf("num_rows %d", *d.DatasetParts[0].NumRows)
		}
		hasWarning(t, d, "1 example was removed: field text is empty (line: 61)")
	})

	t.Run("chat drops a conversation with a long turn", func(t *testing.T) {
		conv := func(user, bot string) string {
			b, err := json.Marshal(map[string]any{"messages": []map[string]string{{"role": "User", "content": user}, {"role": "Chatbot", "content": bot}}})
			if err != nil {
				t.Fatal(err)
			}
			return string(b) + "\n"
		}
		long := strings.Repeat("x", 60000) // 15,000 tokens each, 30,000 in the turn
		d := createWait(t, cohere.DatasetTypeChatFinetuneInput, conv("a", "b")+conv("c", "d")+conv(long, long)+conv("e", "f"), nil, nil)
		if *d.DatasetParts[0].NumRows != 3 {
			t.Fatalf("num_rows %d", *d.DatasetParts[0].NumRows)
		}
		hasWarning(t, d, "train dataset has conversations with too many tokens. conversation number: "+
			"number of turns with too many tokens is as follows, 2:1")
	})

	t.Run("batch-embed-v2-input keeps a repeated custom_id", func(t *testing.T) {
		row := func(id string) string {
			return fmt.Sprintf(`{"custom_id":%q,"body":{"input_type":"search_document","inputs":[{"content":[{"type":"text","text":"t"}]}]}}`+"\n", id)
		}
		d := createWait(t, cohere.DatasetType(silo.TypeBatchEmbedV2Input), row("a")+row("b")+row("a"), nil, nil)
		if *d.DatasetParts[0].NumRows != 3 {
			t.Fatalf("num_rows %d", *d.DatasetParts[0].NumRows)
		}
		hasWarning(t, d, `1 row has a custom_id that an earlier row already has ("a" (row 3))`)
	})

	t.Run("kept metadata keeps its JSON type in the Avro part", func(t *testing.T) {
		data := `{"text":"Deaths in 2022","wiki_id":69407798,"views":5674.4492597435465,"title":"Deaths","langs":38,"mix":1}` + "\n" +
			`{"text":"YouTube","wiki_id":3524766,"views":5409.5609619796405,"title":"YouTube","mix":"one"}` + "\n"
		d := createWait(t, cohere.DatasetTypeEmbedInput, data, []string{"wiki_id", "views", "title"}, []string{"langs", "mix"})
		hasWarning(t, d, "field mix holds values of several JSON types (number, string)")
		part := download(t, *d.DatasetParts[0].Url)
		want := `[{"langs":38,"mix":"1","text":"Deaths in 2022","title":"Deaths","views":5674.4492597435465,"wiki_id":69407798},` +
			`{"langs":null,"mix":"one","text":"YouTube","title":"YouTube","views":5409.5609619796405,"wiki_id":3524766}]`
		if got := hambaRows(t, part); got != want {
			t.Fatalf("hamba/avro read\n%s\nwant\n%s", got, want)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "part.avro")
		if err := os.WriteFile(path, part, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := avscRows(t, path); got != want {
			t.Fatalf("avsc read\n%s\nwant\n%s", got, want)
		}
		if got, ok := pythonAvroRows(t, path); ok && got != want {
			t.Fatalf("python3-avro read\n%s\nwant\n%s", got, want)
		}
	})
}

func download(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url) // signed: no Authorization, as Cohere's SDKs read parts
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET part: %d %v", resp.StatusCode, err)
	}
	return b
}

// canonical re-marshals decoded rows with sorted keys, for comparison.
func canonical(t *testing.T, rows any) string {
	t.Helper()
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	b, err = json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func hambaRows(t *testing.T, part []byte) string {
	t.Helper()
	dec, err := ocf.NewDecoder(bytes.NewReader(part))
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	for dec.HasNext() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, m)
	}
	if err := dec.Error(); err != nil {
		t.Fatal(err)
	}
	return canonical(t, rows)
}

// avscRows reads a part with npm avsc (validate/testdata/avsc), the reader
// JavaScript clients of Cohere use.
func avscRows(t *testing.T, path string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "validate", "testdata", "avsc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "avsc")); err != nil {
		msg := "avsc is not installed; from the repository root run: npm ci --prefix validate/testdata/avsc"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	out, err := exec.Command("node", filepath.Join(dir, "decode.js"), path).Output()
	if err != nil {
		t.Fatalf("avsc: %v", err)
	}
	var got struct{ Rows []map[string]any }
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	return canonical(t, got.Rows)
}

// pythonAvroRows reads a part with Debian's python3-avro (Apache Avro), an
// implementation close to the fastavro of Cohere's Python SDK, when it is
// installed (scripts/install-test-deps.sh installs it); ok is false, and the
// test says so, when it is not, except under CI, where that fails.
func pythonAvroRows(t *testing.T, path string) (string, bool) {
	t.Helper()
	const script = `import avro.datafile, avro.io, json, sys
r = avro.datafile.DataFileReader(open(sys.argv[1], "rb"), avro.io.DatumReader())
print(json.dumps([row for row in r]))`
	out, err := exec.Command("/usr/bin/python3", "-c", script, path).Output()
	if err != nil {
		msg := fmt.Sprintf("python3-avro did not read the part (apt-get install python3-avro to check it too): %v", err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Log(msg)
		return "", false
	}
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatal(err)
	}
	return canonical(t, rows), true
}

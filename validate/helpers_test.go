package validate

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hamba/avro/v2/ocf"
	"github.com/silo-datasets/silo"
)

// upload is one file of a dataset under test.
type upload struct {
	name   string // for messages, and the format by extension
	data   io.Reader
	format silo.Format
	eval   bool
}

func corpus(t testing.TB, name string, eval bool) upload {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "corpus", name))
	if err != nil {
		t.Fatal(err)
	}
	return upload{name: name, data: bytes.NewReader(b), format: formatOf(name), eval: eval}
}

func formatOf(name string) silo.Format {
	switch filepath.Ext(name) {
	case ".csv":
		return silo.FormatCSV
	case ".txt":
		return silo.FormatTXT
	}
	return silo.FormatJSONL
}

// validate runs a Validator over uploads and returns its verdict and the
// Avro parts it wrote.
func validate(t testing.TB, opts Options, typ silo.DatasetType, params silo.CreateParams, ups ...upload) (*silo.Validation, []*bytes.Buffer) {
	t.Helper()
	d := &silo.Dataset{ID: "test-abc123", Type: typ, Params: params}
	var files []silo.ValidationFile
	var avros []*bytes.Buffer
	for i, u := range ups {
		kind := silo.PartTrain
		if u.eval {
			kind = silo.PartEval
		}
		p := &silo.Part{ID: "p", Index: i, Kind: kind, Format: u.format}
		d.Parts = append(d.Parts, *p)
		buf := &bytes.Buffer{}
		avros = append(avros, buf)
		files = append(files, silo.ValidationFile{Part: p, Data: u.data, Avro: buf})
	}
	v, err := New(opts).Validate(context.Background(), d, files)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(v.Parts) != len(ups) {
		t.Fatalf("got %d part stats for %d files", len(v.Parts), len(ups))
	}
	return v, avros
}

// decodeAvro reads an Avro part back with hamba/avro's OCF decoder and
// returns its rows and its schema.
func decodeAvro(t testing.TB, b []byte) ([]map[string]any, string) {
	t.Helper()
	dec, err := ocf.NewDecoder(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("ocf.NewDecoder: %v", err)
	}
	var rows []map[string]any
	for dec.HasNext() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("decode row %d: %v", len(rows), err)
		}
		rows = append(rows, m)
	}
	if err := dec.Error(); err != nil {
		t.Fatalf("decoder: %v", err)
	}
	return rows, string(dec.Metadata()["avro.schema"])
}

func params(kv ...string) silo.CreateParams {
	var p silo.CreateParams
	for i := 0; i+1 < len(kv); i += 2 {
		switch kv[i] {
		case "keep":
			p.KeepFields = strings.Split(kv[i+1], ",")
		case "optional":
			p.OptionalFields = strings.Split(kv[i+1], ",")
		case "sep":
			p.TextSeparator = kv[i+1]
		case "delim":
			p.CSVDelimiter = kv[i+1]
		case "skip":
			p.SkipMalformedInput = kv[i+1] == "true"
		}
	}
	return p
}

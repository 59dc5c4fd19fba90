package api_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/silotest"
)

// filePart is one part of a create body; filename "" sends none (as the
// Go SDK does for a plain reader).
type filePart struct {
	field, filename, content string
}

func filesBody(t testing.TB, parts ...filePart) (*bytes.Buffer, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name=%q`, p.field)
		if p.filename != "" {
			cd += fmt.Sprintf(`; filename=%q`, p.filename)
		}
		h.Set("Content-Disposition", cd)
		h.Set("Content-Type", "application/octet-stream")
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, p.content); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func gzipped(t testing.TB, s string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := io.WriteString(zw, s); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// nothingStored fails unless the organisation holds no dataset, no usage,
// no reservation, and the blob store holds no blob and no temp file.
func nothingStored(t *testing.T, e *silotest.Env, orgID string) {
	t.Helper()
	if u := e.Usage(t, orgID); u.UsedBytes != 0 || u.ReservedBytes != 0 {
		t.Fatalf("usage %d, reserved %d after a refused create", u.UsedBytes, u.ReservedBytes)
	}
	if n := countDatasets(t, e, orgID); n != 0 {
		t.Fatalf("%d datasets after a refused create", n)
	}
	var blobs []string
	if err := e.Blobs.List(t.Context(), func(key string, _ int64) error { blobs = append(blobs, key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 0 {
		t.Fatalf("blobs left after a refused create: %v", blobs)
	}
}

// TestRefuseUnreadableFiles: a file silo cannot read (by its extension or
// its first bytes) or whose format the dataset type does not accept is
// refused at create with 400 naming the accepted formats, with and without
// Content-Length, and nothing of it is stored, reserved or counted. By its
// name it is refused before the quota is even asked: the org's quota is
// smaller than any of these files.
func TestRefuseUnreadableFiles(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 50, silo.RoleWriter)
	bigOrg, bigKey := e.Org(t, "big", 0, silo.RoleWriter)
	chat := `{"messages":[{"role":"User","content":"hi"},{"role":"Chatbot","content":"hello"}]}` + "\n"
	for _, tc := range []struct {
		name  string
		typ   string
		parts []filePart
		big   bool // the org with room: refused by content, after the quota
		want  []string
	}{
		{"gz by name", "embed-input", []filePart{{"data", "train.jsonl.gz", gzipped(t, rows(500))}}, false,
			[]string{`"train.jsonl.gz" cannot be read`, "not .gz", "embed-input accepts jsonl, csv or txt files"}},
		{"parquet", "chat-finetune-input", []filePart{{"data", "train.parquet", "PAR1\x15\x00" + rows(500)}}, false,
			[]string{"not .parquet", "chat-finetune-input accepts jsonl files"}},
		{"zip", "embed-input", []filePart{{"file", "data.zip", "PK\x03\x04" + rows(500)}}, false,
			[]string{"not .zip"}},
		{"csv for chat", "chat-finetune-input", []filePart{{"data", "train.csv", "messages\n" + rows(500)}}, false,
			[]string{`The data file "train.csv" is csv, but the dataset type chat-finetune-input accepts only jsonl files.`}},
		{"txt for classification", "single-label-classification-finetune-input", []filePart{{"data", "t.TXT", rows(500)}}, false,
			[]string{"is txt, but the dataset type single-label-classification-finetune-input accepts only jsonl or csv files."}},
		{"csv eval for chat", "chat-finetune-input", []filePart{{"data", "train.jsonl", chat}, {"eval_data", "eval.csv", "a,b\n" + rows(500)}}, true,
			[]string{`The eval_data file "eval.csv" is csv`}},
		{"gzip named jsonl", "embed-input", []filePart{{"data", "train.jsonl", gzipped(t, rows(500))}}, true,
			[]string{`The data file "train.jsonl" is gzip-compressed`, "accepts jsonl, csv or txt files"}},
		{"no name, not jsonl, for chat", "chat-finetune-input", []filePart{{"data", "", "role,content\nUser,hi\n" + rows(500)}}, true,
			[]string{"does not start like JSONL", "accepts only jsonl files"}},
	} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/chunked=%v", tc.name, chunked), func(t *testing.T) {
				org, k := orgID, key
				if tc.big {
					org, k = bigOrg, bigKey
				}
				buf, ct := filesBody(t, tc.parts...)
				var body io.Reader = buf
				if chunked {
					body = struct{ io.Reader }{buf} // hides the length
				}
				st, out := create(t, e, k, "name=x&type="+tc.typ, body, ct)
				msg := fmt.Sprint(out["message"])
				if st != 400 {
					t.Fatalf("status %d %q, want 400", st, msg)
				}
				for _, w := range tc.want {
					if !strings.Contains(msg, w) {
						t.Errorf("message %q lacks %q", msg, w)
					}
				}
				if strings.Contains(msg, "[") || strings.Contains(msg, "exceeded capacity") {
					t.Errorf("message %q: a Go slice or a quota refusal", msg)
				}
				nothingStored(t, e, org)
			})
		}
	}
	fsckClean(t, e)
}

// TestAcceptedNamesStillWork: the formats silo reads, in any case, and a
// file without a name are not refused.
func TestAcceptedNamesStillWork(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 0, silo.RoleWriter)
	for _, p := range []filePart{
		{"data", "a.jsonl", `{"text":"a"}` + "\n"},
		{"data", "B.JSON", `{"text":"b"}` + "\n"},
		{"data", "c.csv", "text\nc\n"},
		{"data", "d.txt", "d\n"},
		{"data", "", "text\ne\n"},
		{"data", "", `{"text":"f"}` + "\n"},
	} {
		buf, ct := filesBody(t, p)
		if st, out := create(t, e, key, "name=x&type=embed-input", buf, ct); st != 200 {
			t.Errorf("%q: %d %v", p.filename, st, out)
		}
	}
	if n := countDatasets(t, e, orgID); n != 6 {
		t.Fatalf("%d datasets, want 6", n)
	}
}

// TestQuotaMessageInFileTerms: an over-quota create is refused before its
// body is stored, with a message in the file's own size and human units:
// with a Content-Length the size of the file exactly (not the length less
// the framing slack), without one what was read when it went over.
func TestQuotaMessageInFileTerms(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 1_000_000, silo.RoleWriter)
	line := `{"text":"a row of the training file"}` + "\n"
	data := strings.Repeat(line, 1_500_000/len(line)-1)
	data += `{"text":"` + strings.Repeat("x", 1_500_000-len(data)-len(`{"text":""}`)-1) + "\"}\n"
	if len(data) != 1_500_000 {
		t.Fatalf("test file of %d bytes", len(data))
	}
	for _, chunked := range []bool{false, true} {
		buf, ct := filesBody(t, filePart{"data", "train.jsonl", data})
		var body io.Reader = buf
		if chunked {
			body = struct{ io.Reader }{buf}
		}
		st, out := create(t, e, key, "name=x&type=embed-input", body, ct)
		msg := fmt.Sprint(out["message"])
		want := "You have exceeded capacity: the organization uses 0 bytes (0 B) of its 1,000,000 byte (1 MB) limit; this upload needs at least "
		if st != 400 || !strings.HasPrefix(msg, want) {
			t.Fatalf("chunked=%v: %d %q", chunked, st, msg)
		}
		if !chunked && !strings.Contains(msg, "needs at least 1,500,000 bytes (1.5 MB).") {
			t.Errorf("with Content-Length: %q does not name the file's 1,500,000 bytes", msg)
		}
		var n int64
		if _, err := fmt.Sscanf(strings.ReplaceAll(strings.TrimPrefix(msg, want), ",", ""), "%d bytes", &n); err != nil || n <= 1_000_000 || n > 1_500_000 {
			t.Errorf("chunked=%v: requested %d (%v) in %q", chunked, n, err, msg)
		}
		nothingStored(t, e, orgID)
	}
	fsckClean(t, e)
}

package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
)

// bigLine is a 20 MB row, generated at test time: the corpus stays small.
func bigLine() string { return strings.Repeat("x", 20<<20) }

func TestRowOverCapFailsWithItsLine(t *testing.T) {
	big := bigLine()
	cases := []struct {
		name, data string
		format     silo.Format
		want       string
	}{
		{"jsonl", `{"text":"ok"}` + "\n" + `{"text":"` + big + `"}` + "\n" + `{"text":"after"}`, silo.FormatJSONL,
			"row is longer than the limit of 16777216 bytes (line: 2)"},
		{"csv", "text\nok\n\"" + big + "\"\nafter\n", silo.FormatCSV,
			"row is longer than the limit of 16777216 bytes (line: 3)"},
		{"txt", "ok\n" + big + "\nafter", silo.FormatTXT,
			"row is longer than the limit of 16777216 bytes (line: 2)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, _ := validate(t, Options{}, embed, params(),
				upload{data: strings.NewReader(c.data), format: c.format})
			if v.OK || v.Report.Error != c.want {
				t.Fatalf("got OK=%v error %q, want %q", v.OK, v.Report.Error, c.want)
			}
		})
	}
}

// With skip_malformed_input a JSONL or TXT row over the cap is dropped and
// reading goes on after it; CSV cannot resynchronise inside a quoted field,
// so there it still fails.
func TestRowOverCapSkipped(t *testing.T) {
	data := `{"text":"ok"}` + "\n" + `{"text":"` + bigLine() + `"}` + "\n" + `{"text":"after"}`
	v, avros := validate(t, Options{}, embed, params("skip", "true"),
		upload{data: strings.NewReader(data), format: silo.FormatJSONL})
	if !v.OK || v.Parts[0].NumRows != 2 {
		t.Fatalf("got OK=%v rows %d error %q", v.OK, v.Parts[0].NumRows, v.Report.Error)
	}
	rows, _ := decodeAvro(t, avros[0].Bytes())
	if rows[1]["text"] != "after" {
		t.Fatalf("rows %v", rows)
	}
	if len(v.Report.Warnings) != 1 || !strings.Contains(v.Report.Warnings[0], "(line: 2)") {
		t.Fatalf("warnings %q", v.Report.Warnings)
	}
}

func TestWarningsCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"text":"ok"}` + "\n")
	for range 120 {
		b.WriteString("{}\n")
	}
	v, _ := validate(t, Options{MaxWarnings: 10}, embed, params("skip", "true"),
		upload{data: strings.NewReader(b.String()), format: silo.FormatJSONL})
	w := v.Report.Warnings
	if !v.OK || len(w) != 11 || w[10] != "... and 110 more warnings (120 in total)" {
		t.Fatalf("OK=%v warnings (%d) %q", v.OK, len(w), w)
	}
}

func TestSkipMalformedStillNeedsEnoughRows(t *testing.T) {
	data := `{"messages":[{"role":"User","content":"a"},{"role":"Chatbot","content":"b"}]}` + "\n{}\n[]\n"
	v, _ := validate(t, Options{}, chat, params("skip", "true"),
		upload{data: strings.NewReader(data), format: silo.FormatJSONL})
	want := "not enough valid examples: found only 1 valid train examples of 3 received (2 incorrectly encoded, 0 duplicated, 0 too many tokens)"
	if v.OK || !strings.HasPrefix(v.Report.Error, want) {
		t.Fatalf("got OK=%v error %q", v.OK, v.Report.Error)
	}
}

func TestChatTooManyTokensDropped(t *testing.T) {
	long := strings.Repeat("word ", 4*chatMaxTurnTokens/5+10) // > 16384 tokens at 4 runes each
	conv := func(u, c string) string {
		return fmt.Sprintf(`{"messages":[{"role":"User","content":%q},{"role":"Chatbot","content":%q}]}`+"\n", u, c)
	}
	data := conv("a", "b") + conv(long, "c") + conv("d", "e") + conv("f", "g")
	v, _ := validate(t, Options{}, chat, params(), upload{data: strings.NewReader(data), format: silo.FormatJSONL})
	if !v.OK || v.Parts[0].NumRows != 3 {
		t.Fatalf("OK=%v rows=%d error %q", v.OK, v.Parts[0].NumRows, v.Report.Error)
	}
	want := "train dataset has conversations with too many tokens. conversation number: number of turns with too many tokens is as follows, 1:1" // 0-based, as Cohere's
	if !contains(v.Report.Warnings, want) {
		t.Fatalf("warnings %q", v.Report.Warnings)
	}
}

func TestChatPreambleTooLong(t *testing.T) {
	pre := strings.Repeat("p", 4*chatMaxPreamble+8)
	data := fmt.Sprintf(`{"messages":[{"role":"System","content":%q},{"role":"User","content":"a"},{"role":"Chatbot","content":"b"}]}`, pre)
	for _, eval := range []bool{false, true} {
		ups := []upload{{data: strings.NewReader(data), format: silo.FormatJSONL}}
		want := "train preambles are too long:"
		if eval {
			ups = []upload{corpus(t, "chat_valid.jsonl", false), {data: strings.NewReader(data), format: silo.FormatJSONL, eval: true}}
			want = "invalid eval file: preambles are too long:"
		}
		v, _ := validate(t, Options{}, chat, params(), ups...)
		if v.OK || !strings.HasPrefix(v.Report.Error, want) {
			t.Fatalf("eval=%v: got OK=%v error %q", eval, v.OK, v.Report.Error)
		}
	}
}

func TestUnknownType(t *testing.T) {
	v, _ := validate(t, Options{}, "prompt-completion-finetune-input", params(), corpus(t, "embed_valid.jsonl", false))
	if v.OK || !strings.Contains(v.Report.Error, "The dataset type is invalid") {
		t.Fatalf("got OK=%v error %q", v.OK, v.Report.Error)
	}
}

// Every type of the enum has rules; the generic ones say so in a warning.
func TestEveryTypeHasRules(t *testing.T) {
	for _, typ := range silo.DatasetTypes {
		spec := specFor(typ)
		if spec == nil {
			t.Fatalf("no rules for %s", typ)
		}
		if spec.generic {
			v, _ := validate(t, Options{}, typ, params(), corpus(t, "generic_batch_chat.jsonl", false))
			if !v.OK || len(v.Report.Warnings) != 1 || !strings.Contains(v.Report.Warnings[0], "no documented format") {
				t.Errorf("%s: OK=%v warnings %q error %q", typ, v.OK, v.Report.Warnings, v.Report.Error)
			}
		}
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := &silo.Dataset{Type: embed}
	f := silo.ValidationFile{Part: &silo.Part{Format: silo.FormatJSONL},
		Data: strings.NewReader(`{"text":"a"}`), Avro: io.Discard}
	_, err := New(Options{}).Validate(ctx, d, []silo.ValidationFile{f})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

type failingReader struct {
	row string
	n   int
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		r.n--
		return copy(p, r.row), nil
	}
	return 0, errors.New("disk on fire")
}

// An I/O error is the caller's problem (an error), not a verdict.
func TestReadErrorIsAnError(t *testing.T) {
	for format, row := range map[silo.Format]string{
		silo.FormatJSONL: `{"text":"a"}` + "\n", silo.FormatCSV: "text\n", silo.FormatTXT: "a\n",
	} {
		d := &silo.Dataset{Type: embed}
		f := silo.ValidationFile{Part: &silo.Part{Format: format},
			Data: &failingReader{row: row, n: 3}, Avro: &bytes.Buffer{}}
		v, err := New(Options{}).Validate(context.Background(), d, []silo.ValidationFile{f})
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("%s: got %v, %+v; want the read error", format, err, v)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// One Validator serves concurrent validations (run with -race).
func TestConcurrentValidations(t *testing.T) {
	v := New(Options{})
	done := make(chan error)
	for i := range 4 {
		go func() {
			b, err := os.ReadFile("testdata/corpus/chat_valid.jsonl")
			if err != nil {
				done <- err
				return
			}
			d := &silo.Dataset{Type: chat}
			f := silo.ValidationFile{Part: &silo.Part{Format: silo.FormatJSONL}, Data: bytes.NewReader(b), Avro: io.Discard}
			res, err := v.Validate(context.Background(), d, []silo.ValidationFile{f})
			if err == nil && !res.OK {
				err = fmt.Errorf("validation %d: %s", i, res.Report.Error)
			}
			done <- err
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

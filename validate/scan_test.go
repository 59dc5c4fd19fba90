package validate

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var scanSeeds = []string{
	`{}`, `[]`, `""`, `0`, `-0`, `1.5e-3`, `-12E+4`, `true`, `false`, `null`,
	`{"a":[1,2,{"b":null}],"c":"d\"e\\f\/g\b\f\n\r\t\u00e9\uD83D\uDE00"}`,
	`"\ud800"`, `"\u12"`, `"\x"`, "\"a\tb\"", "\"\xff\"", "\"\xed\xa0\x80\"", `"é ü 日本語 😀"`,
	`01`, `1.`, `.5`, `1e`, `+1`, `-`, `tru`, `nul`, `[1,]`, `{"a":1,}`, `{"a"}`, `{"a":}`, `[`, `{`,
	` [ 1 , "x" , { } ] `, `"0123456789abcdef0123456789abcdef"`, `"0123456789abcdef0123456789abcd"ef`,
}

// FuzzScanner checks the scanner against encoding/json: it accepts a
// value exactly when encoding/json finds it valid and it is valid UTF-8
// (the one difference allowed: nesting deeper than maxScanDepth, which it
// leaves to the slow path).
func FuzzScanner(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := scanner{b: b}
		got := s.value(0)
		if got {
			s.space()
			got = s.i == len(b)
		}
		want := json.Valid(b) && utf8.Valid(b)
		switch {
		case got && !want:
			t.Fatalf("scanner accepts %q, which encoding/json or UTF-8 refuses", b)
		case !got && want && len(b) < maxScanDepth:
			t.Fatalf("scanner refuses %q, which is valid", b)
		}
	})
}

// TestScannerStrings: the strings the SWAR scan must stop in (each kind of
// special byte at each position of an 8-byte word, and past its end).
func TestScannerStrings(t *testing.T) {
	for n := range 20 {
		pad := make([]byte, n)
		for i := range pad {
			pad[i] = 'x'
		}
		for _, tc := range []struct {
			mid  string
			ok   bool
			esc  bool
			body string
		}{
			{``, true, false, ``},
			{`\n`, true, true, `\n`},
			{`\u00e9`, true, true, `\u00e9`},
			{"é", true, false, "é"},
			{"\x1f", false, false, ""},
			{"\xff", false, false, ""},
			{`\q`, false, false, ""},
		} {
			in := `"` + string(pad) + tc.mid + string(pad) + `"rest`
			s := scanner{b: []byte(in)}
			body, esc, ok := s.str()
			if ok != tc.ok || ok && (esc != tc.esc || string(body) != string(pad)+tc.body+string(pad) || s.i != len(in)-4) {
				t.Errorf("%q: body %q esc %v ok %v at %d", in, body, esc, ok, s.i)
			}
		}
	}
}

// BenchmarkScannerString scans the string of a chat reply (gen.ChatRow's
// longest), the bulk of a chat row's bytes.
func BenchmarkScannerString(b *testing.B) {
	in := []byte(`"Answer: ` + strings.Repeat("lorem ipsum dolor sit amet ", 24) + `"`)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		s := scanner{b: in}
		if _, _, ok := s.str(); !ok {
			b.Fatal("refused")
		}
	}
}

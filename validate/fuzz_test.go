package validate

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
)

// seedCorpus adds every corpus file with the extension as a fuzz seed.
func seedCorpus(f *testing.F, ext string) {
	paths, err := filepath.Glob(filepath.Join("testdata", "corpus", "*"+ext))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no %s corpus files: %v", ext, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(0))
	}
}

// fuzzTypes are the types a fuzzed file is validated as, picked by a byte.
var fuzzTypes = []silo.DatasetType{embed, single, multi, rerank, chat, batchV2, silo.TypeBatchChatInput}

// fuzzValidate validates data as one of the types, with a small row cap so
// that the cap's paths are reached, and checks what must always hold: no
// panic, no error on in-memory input, and a validated dataset's Avro part
// decodes to as many rows as it reports.
func fuzzValidate(t *testing.T, data []byte, pick uint8, format silo.Format, p silo.CreateParams) {
	typ := fuzzTypes[int(pick)%len(fuzzTypes)]
	p.SkipMalformedInput = pick&0x80 != 0
	opts := Options{MaxRowBytes: 256, MaxWarnings: 3, SampleBytes: 64}
	v, avros := validate(t, opts, typ, p, upload{data: bytes.NewReader(data), format: format})
	if v.OK == (v.Report.Error != "") {
		t.Fatalf("OK=%v with error %q", v.OK, v.Report.Error)
	}
	if len(v.Report.Warnings) > opts.MaxWarnings+1 {
		t.Fatalf("%d warnings over a cap of %d", len(v.Report.Warnings), opts.MaxWarnings)
	}
	if !v.OK {
		return
	}
	rows, _ := decodeAvro(t, avros[0].Bytes())
	if int64(len(rows)) != v.Parts[0].NumRows {
		t.Fatalf("%d Avro rows, NumRows %d", len(rows), v.Parts[0].NumRows)
	}
	for _, s := range v.Parts[0].Samples {
		if len(s) > opts.SampleBytes {
			t.Fatalf("sample of %d bytes over a cap of %d", len(s), opts.SampleBytes)
		}
	}
}

func FuzzJSONL(f *testing.F) {
	seedCorpus(f, ".jsonl")
	f.Add([]byte("{\"text\":\"\xff\"}\n\r\n{\"text\":1}"), uint8(0x80))
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		fuzzValidate(t, data, pick, silo.FormatJSONL, params("optional", "title,n,b"))
	})
}

func FuzzCSV(f *testing.F) {
	seedCorpus(f, ".csv")
	f.Add([]byte("text,label\n\"a\nb\",c\n\"unterminated"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		delim := []string{"", ";", "\t", "|"}[int(pick>>4)%4]
		fuzzValidate(t, data, pick, silo.FormatCSV, params("delim", delim))
	})
}

func FuzzTXT(f *testing.F) {
	seedCorpus(f, ".txt")
	f.Add([]byte("a\n\nb\r\n\n\n"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, pick uint8) {
		sep := []string{"", "\n\n", "---", "\r\n"}[int(pick>>4)%4]
		fuzzValidate(t, data, 0, silo.FormatTXT, params("sep", sep))
	})
}

// FuzzChunker compares the chunker with bytes.Split on whole inputs: same
// chunks, same line numbers, and over-long chunks flagged, never returned.
func FuzzChunker(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), "\n", 2)
	f.Add([]byte("x--y----z--"), "--", 1)
	f.Add([]byte("abc"), "abcd", 0)
	f.Fuzz(func(t *testing.T, data []byte, sep string, max int) {
		if sep == "" || max < 0 || max > 1<<10 {
			t.Skip()
		}
		want := bytes.Split(data, []byte(sep))
		if len(want[len(want)-1]) == 0 { // a trailing separator ends the last chunk
			want = want[:len(want)-1]
		}
		br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(data)), 16)
		c := newChunker(br, []byte(sep), max)
		var line int64 = 1
		for i := 0; ; i++ {
			chunk, l, tooLong, err := c.next()
			if err == io.EOF {
				if i != len(want) {
					t.Fatalf("%d chunks, want %d", i, len(want))
				}
				return
			}
			if i >= len(want) {
				t.Fatalf("more chunks than %d", len(want))
			}
			if l != line {
				t.Fatalf("chunk %d on line %d, want %d", i, l, line)
			}
			line += int64(strings.Count(string(want[i])+sep, "\n"))
			if tooLong != (len(want[i]) > max) || !tooLong && !bytes.Equal(chunk, want[i]) {
				t.Fatalf("chunk %d = %q (tooLong %v), want %q with max %d", i, chunk, tooLong, want[i], max)
			}
		}
	})
}

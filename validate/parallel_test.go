package validate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/silo-datasets/silo/internal/gen"
)

// parallelInput is a few MB of chat rows with every kind of line the
// sources treat specially, spread over many batches: blank lines, CRLF,
// rows over the cap, invalid UTF-8 and JSON, rows that take the slow path.
func parallelInput() []byte {
	var b []byte
	for i := range 3000 {
		switch i % 97 {
		case 3:
			b = append(b, "\n  \n"...)
		case 5:
			b = append(b, `{"messages":[{"Role":"User","content":"slow path"}]}`+"\r\n"...)
		case 7:
			b = append(b, bytes.Repeat([]byte("x"), 3000)...)
			b = append(b, '\n')
		case 11:
			b = append(b, "{\"messages\":\"\xff\"}\n"...)
		case 13:
			b = append(b, `{"messages":[}`+"\n"...)
		default:
			b = gen.ChatRow(b, i)
		}
	}
	return append(b, `{"messages":[{"role":"User","content":"no final newline"}]}`...)
}

type sourceRow struct {
	fields     string
	line, size int64
	err        string
}

func drain(t *testing.T, src source) ([]sourceRow, error) {
	var out []sourceRow
	for {
		f, line, size, rerr, err := src.next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return out, err
		}
		r := sourceRow{line: line, size: size}
		if f != nil {
			r.fields = fmt.Sprintf("%q %q %q %v", f.json, f.kv, f.line, f.msgs)
		}
		if rerr != nil {
			r.err = rerr.text(line)
		}
		out = append(out, r)
	}
}

// TestParallelMatchesSequential checks that the parallel JSONL source
// yields exactly the rows of the sequential one, in order, with the same
// lines, sizes and errors, and the same I/O error at the end.
func TestParallelMatchesSequential(t *testing.T) {
	data := parallelInput()
	const max = 2048
	rd := rowDecoder{messages: true, tok: CharEstimate{}}
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(data) }},
		{"one byte at a time", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data[:600<<10])) }},
		{"I/O error", func() io.Reader {
			return io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(errors.New("disk gone")))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, werr := drain(t, newJSONLSource(bufio.NewReaderSize(tc.r(), bufSize), max, rd))
			for _, workers := range []int{2, 4} {
				p := newParallelJSONL(newChunker(bufio.NewReaderSize(tc.r(), bufSize), newline, max), max, rd, workers)
				got, gerr := drain(t, p)
				p.close()
				if fmt.Sprint(gerr) != fmt.Sprint(werr) {
					t.Fatalf("%d workers: error %v, sequential %v", workers, gerr, werr)
				}
				if len(got) != len(want) {
					t.Fatalf("%d workers: %d rows, sequential %d", workers, len(got), len(want))
				}
				for i := range want {
					if got[i] != want[i] {
						t.Fatalf("%d workers, row %d: %+v, sequential %+v", workers, i, got[i], want[i])
					}
				}
			}
			if len(want) < 2500 && tc.name == "whole" {
				t.Fatalf("only %d rows", len(want))
			}
		})
	}
}

// TestParallelStopsEarly checks that a validation that stops reading (a
// cancelled context) leaves no goroutine reading the file.
func TestParallelStopsEarly(t *testing.T) {
	data := parallelInput()
	p := newParallelJSONL(newChunker(bufio.NewReaderSize(bytes.NewReader(data), bufSize), newline, 2048),
		2048, rowDecoder{}, 2)
	for range 10 {
		if _, _, _, _, err := p.next(); err != nil {
			t.Fatal(err)
		}
	}
	p.close() // returns only once the reader and the workers have
}

package disk

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// countingWriter records the size of each write.
type countingWriter struct {
	bytes.Buffer
	writes []int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

// TestFillCopyWritesFullBuffers: small reads become buffer-sized writes,
// and every byte arrives in order.
func TestFillCopyWritesFullBuffers(t *testing.T) {
	src := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16,000 bytes
	var w countingWriter
	n, err := fillCopy(&w, iotest.HalfReader(bytes.NewReader(src)), make([]byte, 4096))
	if err != nil || n != int64(len(src)) || !bytes.Equal(w.Bytes(), src) {
		t.Fatalf("n=%d err=%v, copied %d bytes equal=%v", n, err, w.Len(), bytes.Equal(w.Bytes(), src))
	}
	want := []int{4096, 4096, 4096, 16000 - 3*4096}
	if len(w.writes) != len(want) {
		t.Fatalf("writes %v, want %v", w.writes, want)
	}
	for i := range want {
		if w.writes[i] != want[i] {
			t.Fatalf("writes %v, want %v", w.writes, want)
		}
	}
}

// TestFillCopyKeepsErrors: a body cut short (the multipart reader's
// io.ErrUnexpectedEOF) or any other read error fails the copy; only io.EOF
// ends it well.
func TestFillCopyKeepsErrors(t *testing.T) {
	boom := errors.New("boom")
	for _, e := range []error{io.ErrUnexpectedEOF, boom} {
		r := io.MultiReader(bytes.NewReader([]byte("partial")), iotest.ErrReader(e))
		var w bytes.Buffer
		n, err := fillCopy(&w, r, make([]byte, 1024))
		if !errors.Is(err, e) {
			t.Errorf("error %v, want %v", err, e)
		}
		if n != 7 || w.String() != "partial" {
			t.Errorf("copied %d %q before the error, want the 7 bytes read", n, w.String())
		}
	}
}

package logbuf

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf records each write to the underlying output.
type syncBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
	split  bool // a write ended inside a line
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	s.split = s.split || !bytes.HasSuffix(p, []byte("\n"))
	return s.b.Write(p)
}

func (s *syncBuf) snapshot() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String(), s.writes
}

// TestBatchesAndFlushesByTime: many lines become few writes, and a line
// reaches the output within the interval without any further write.
func TestBatchesAndFlushesByTime(t *testing.T) {
	out := &syncBuf{}
	w := New(out, 20*time.Millisecond)
	defer w.Close()
	for i := 0; i < 1000; i++ {
		w.Write([]byte("level=INFO msg=request status=200\n"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, writes := out.snapshot()
		if strings.Count(s, "\n") == 1000 {
			if writes > 10 {
				t.Fatalf("1000 lines took %d writes", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of 1000 lines out after 5 s", strings.Count(s, "\n"))
		}
		time.Sleep(5 * time.Millisecond) // the flusher's tick is what is tested
	}
}

// TestCloseFlushes: nothing written before Close is lost, and writes
// after it go straight out.
func TestCloseFlushes(t *testing.T) {
	out := &syncBuf{}
	w := New(out, time.Hour)
	w.Write([]byte("one\n"))
	if s, _ := out.snapshot(); s != "" {
		t.Fatalf("written before a flush: %q", s)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("two\n"))
	if s, _ := out.snapshot(); s != "one\ntwo\n" {
		t.Fatalf("got %q", s)
	}
}

// TestLinesStayWhole: a line that does not fit in what is left of the
// buffer is not split by a flush.
func TestLinesStayWhole(t *testing.T) {
	out := &syncBuf{}
	w := New(out, time.Hour)
	line := []byte(strings.Repeat("x", 1000) + "\n")
	for i := 0; i < 200; i++ {
		w.Write(line)
	}
	w.Close()
	s, writes := out.snapshot()
	if len(s) != 200*len(line) || strings.Count(s, "\n") != 200 || out.split || writes < 2 {
		t.Fatalf("got %d bytes, %d lines in %d writes, a line split: %v", len(s), strings.Count(s, "\n"), writes, out.split)
	}
}

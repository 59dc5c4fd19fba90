package disk

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestSyncerKeepsEveryByte: the file written through a syncer is the
// bytes written, in order, and it was fsynced in the background while
// it grew.
func TestSyncerKeepsEveryByte(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newSyncer(f, 4096)
	var want bytes.Buffer
	for i := range 50 {
		b := bytes.Repeat([]byte{byte(i)}, 1000+i)
		want.Write(b)
		if n, err := s.Write(b); n != len(b) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if s.syncs == 0 {
		t.Error("no background fsync while 50 KB were written with one due every 4 KiB")
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("file holds %d bytes, not the %d written", len(got), want.Len())
	}
}

// TestSyncerDropsOnlyWhatIsDurable: the syncer drops from the page cache
// only ranges that an fsync it waited for covered, each once and in
// order, and a failed fsync stops the dropping (its bytes may not be on
// disk).
func TestSyncerDropsOnlyWhatIsDurable(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := newSyncer(f, 4096)
	var dropped [][2]int64
	s.drop = func(off, n int64) { dropped = append(dropped, [2]int64{off, n}) }
	for range 100 {
		if _, err := s.Write(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if len(dropped) == 0 {
		t.Fatal("nothing was dropped after background fsyncs of 100 KB")
	}
	var next int64
	for _, r := range dropped {
		if r[0] != next || r[1] <= 0 {
			t.Fatalf("dropped ranges %v: not contiguous from 0", dropped)
		}
		next = r[0] + r[1]
	}
	if next > s.kicked.Load() {
		t.Fatalf("dropped up to %d, but fsyncs were asked for up to %d only", next, s.kicked.Load())
	}

	// A file that cannot be fsynced (a pipe): nothing may be dropped.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go io.Copy(io.Discard, r)
	s = newSyncer(w, 10)
	s.drop = func(off, n int64) { t.Errorf("dropped [%d, +%d) after a failed fsync", off, n) }
	s.Write(make([]byte, 100))
	s.stop()
	w.Close()
}

// TestSyncerReportsBackgroundError: a background fsync that fails fails
// the whole write (Linux reports a writeback error once per open file, so
// the final fsync might not see it again). A pipe cannot be fsynced.
func TestSyncerReportsBackgroundError(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go io.Copy(io.Discard, r)
	s := newSyncer(w, 10)
	if _, err := s.Write(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	err = s.stop()
	w.Close()
	if err == nil {
		t.Fatal("a failed background fsync was not reported")
	}
}

package silo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"testing"
)

// memBlobs keeps what Put read whole, only when the read ended cleanly, as
// a blob store that stores nothing on error does.
type memBlobs struct {
	BlobStore
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memBlobs) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[key] = b
	return int64(len(b)), nil
}

// TestAvroOut: what the validator writes through an avroOut, in pieces of
// any size, is stored byte for byte with its size and SHA-256; a part
// closed with an error stores nothing.
func TestAvroOut(t *testing.T) {
	blobs := &memBlobs{data: map[string][]byte{}}
	s := &Service{Blobs: blobs}
	var want bytes.Buffer
	o := s.startPut(context.Background(), "ok")
	for i := range 3000 {
		b := bytes.Repeat([]byte{byte(i)}, i%1500+i%7*1000) // up to ~7.5 KB, some empty
		want.Write(b)
		if n, err := o.Write(b); n != len(b) || err != nil {
			t.Fatalf("write %d: %d, %v", i, n, err)
		}
	}
	big := bytes.Repeat([]byte("x"), 3*avroBufSize+17) // spans several buffers
	want.Write(big)
	if n, err := o.Write(big); n != len(big) || err != nil {
		t.Fatalf("write of %d bytes: %d, %v", len(big), n, err)
	}
	o.close(nil)
	if err := o.wait(); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(want.Bytes())
	switch got := blobs.data["ok"]; {
	case !bytes.Equal(got, want.Bytes()):
		t.Fatalf("stored %d bytes, not the %d written", len(got), want.Len())
	case o.n != int64(want.Len()):
		t.Fatalf("counted %d bytes, wrote %d", o.n, want.Len())
	case o.sum() != hex.EncodeToString(sum[:]):
		t.Fatalf("sum %s, want %x", o.sum(), sum)
	}

	o = s.startPut(context.Background(), "failed")
	if n, err := o.Write(big); n != len(big) || err != nil {
		t.Fatalf("write of %d bytes: %d, %v", len(big), n, err)
	}
	o.close(errors.New("the validation failed"))
	if err := o.wait(); err == nil {
		t.Fatal("a part closed with an error was stored")
	}
	if _, ok := blobs.data["failed"]; ok {
		t.Fatal("a part closed with an error was stored")
	}
}

// TestAvroWriter: the exported writer stores what is written as avroOut
// does, and nothing when it is ended with an error.
func TestAvroWriter(t *testing.T) {
	blobs := &memBlobs{data: map[string][]byte{}}
	s := &Service{Blobs: blobs}
	data := bytes.Repeat([]byte("avro"), avroBufSize/2+3)
	w, done := s.AvroWriter(context.Background(), "ok")
	if n, err := w.Write(data); n != len(data) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if err := done(nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(blobs.data["ok"], data) {
		t.Fatalf("stored %d bytes, not the %d written", len(blobs.data["ok"]), len(data))
	}
	w, done = s.AvroWriter(context.Background(), "failed")
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := done(errors.New("the work failed")); err == nil {
		t.Fatal("a blob ended with an error was stored")
	}
	if _, ok := blobs.data["failed"]; ok {
		t.Fatal("a blob ended with an error was stored")
	}
}

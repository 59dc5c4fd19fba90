package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/silo-datasets/silo"
)

// OpenBlobStore returns a fresh, empty blob store.
type OpenBlobStore func(t *testing.T) silo.BlobStore

// TestBlobStore runs the blob store conformance suite.
func TestBlobStore(t *testing.T, open OpenBlobStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, silo.BlobStore)
	}{
		{"PutOpen", testPutOpen},
		{"Ranges", testRanges},
		{"Delete", testDelete},
		{"FailedPut", testFailedPut},
		{"CancelledPut", testCancelledPut},
		{"BadKeys", testBadKeys},
		{"List", testListBlobs},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
	if _, ok := open(t).(silo.Appender); ok {
		t.Run("Appender", func(t *testing.T) { TestAppender(t, open) })
	}
	if _, ok := open(t).(silo.Joiner); ok {
		t.Run("Join", func(t *testing.T) { testJoin(t, open(t)) })
	}
}

// testJoin: a Joiner makes one blob of others, in order, whatever their
// sizes (S3 copies parts of 5 MiB or more inside the store, and takes a
// shorter one only as the last); the sources stay; a missing source
// leaves nothing under the key.
func testJoin(t *testing.T, b silo.BlobStore) {
	j := b.(silo.Joiner)
	put := func(data []byte) string {
		key := silo.NewBlobKey()
		_, err := b.Put(ctx(t), key, bytes.NewReader(data))
		must(t, err)
		return key
	}
	for _, sizes := range [][]int{
		{6 << 20, 5 << 20, 7<<20 + 3, 100}, // every part copied in the store
		{6 << 20, 100, 5 << 20},            // a short one in the middle
		{0, 6 << 20, 0},                    // empty ones
		{0},
		{3},
	} {
		var want []byte
		var srcs []string
		for _, n := range sizes {
			data := randomBytes(n)
			want = append(want, data...)
			srcs = append(srcs, put(data))
		}
		key := silo.NewBlobKey()
		n, err := j.Join(ctx(t), key, srcs)
		must(t, err)
		if n != int64(len(want)) {
			t.Fatalf("sizes %v: Join returned %d, want %d", sizes, n, len(want))
		}
		if got := readAll(t, b, key, 0, -1); !bytes.Equal(got, want) {
			t.Fatalf("sizes %v: joined blob differs (%d bytes, want %d)", sizes, len(got), len(want))
		}
		var off int64
		for i, src := range srcs {
			if got := readAll(t, b, src, 0, -1); !bytes.Equal(got, want[off:off+int64(sizes[i])]) {
				t.Fatalf("sizes %v: source %d changed", sizes, i)
			}
			off += int64(sizes[i])
			must(t, b.Delete(ctx(t), src))
		}
		must(t, b.Delete(ctx(t), key))
	}
	key := silo.NewBlobKey()
	src := put(randomBytes(6 << 20))
	_, err := j.Join(ctx(t), key, []string{src, silo.NewBlobKey()})
	wantCode(t, err, silo.ENOTFOUND)
	must(t, b.Delete(ctx(t), src))
	if l := listed(t, b); len(l) != 0 {
		t.Fatalf("after a failed Join: %v", l)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func readAll(t *testing.T, b silo.BlobStore, key string, off, n int64) []byte {
	t.Helper()
	rc, err := b.Open(ctx(t), key, off, n)
	must(t, err)
	defer rc.Close()
	got, err := io.ReadAll(rc)
	must(t, err)
	return got
}

func testPutOpen(t *testing.T, b silo.BlobStore) {
	for _, size := range []int{0, 1, 5 << 20, 17<<20 + 3} { // empty, tiny, one part, several parts
		data := randomBytes(size)
		key := silo.NewBlobKey()
		n, err := b.Put(ctx(t), key, bytes.NewReader(data))
		must(t, err)
		if n != int64(size) {
			t.Fatalf("Put returned %d, want %d", n, size)
		}
		// A reader that hides its size, as an upload's is.
		key2 := silo.NewBlobKey()
		_, err = b.Put(ctx(t), key2, io.MultiReader(bytes.NewReader(data)))
		must(t, err)
		for _, k := range []string{key, key2} {
			if got := readAll(t, b, k, 0, -1); !bytes.Equal(got, data) {
				t.Fatalf("size %d: read back %d bytes, different", size, len(got))
			}
		}
	}
	_, err := b.Open(ctx(t), silo.NewBlobKey(), 0, -1)
	wantCode(t, err, silo.ENOTFOUND)
	must(t, b.Ping(ctx(t)))
}

func testRanges(t *testing.T, b silo.BlobStore) {
	data := randomBytes(100_000)
	key := silo.NewBlobKey()
	_, err := b.Put(ctx(t), key, bytes.NewReader(data))
	must(t, err)
	for _, r := range []struct{ off, n int64 }{{0, 10}, {10, 1}, {99_990, 10}, {50_000, -1}, {0, 100_000}} {
		want := data[r.off:]
		if r.n >= 0 {
			want = want[:r.n]
		}
		if got := readAll(t, b, key, r.off, r.n); !bytes.Equal(got, want) {
			t.Fatalf("range %+v: got %d bytes, want %d", r, len(got), len(want))
		}
	}
}

func testDelete(t *testing.T, b silo.BlobStore) {
	key := silo.NewBlobKey()
	_, err := b.Put(ctx(t), key, bytes.NewReader([]byte("hello")))
	must(t, err)
	must(t, b.Delete(ctx(t), key))
	_, err = b.Open(ctx(t), key, 0, -1)
	wantCode(t, err, silo.ENOTFOUND)
	must(t, b.Delete(ctx(t), key))               // twice
	must(t, b.Delete(ctx(t), silo.NewBlobKey())) // never there
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func listed(t *testing.T, b silo.BlobStore) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	must(t, b.List(ctx(t), func(k string, n int64) error { m[k] = n; return nil }))
	return m
}

func testFailedPut(t *testing.T, b silo.BlobStore) {
	boom := errors.New("client went away")
	for _, size := range []int{100, 12 << 20} {
		key := silo.NewBlobKey()
		_, err := b.Put(ctx(t), key, &failingReader{bytes.NewReader(randomBytes(size)), boom})
		if err == nil {
			t.Fatal("Put of a failing reader succeeded")
		}
		if _, err := b.Open(ctx(t), key, 0, -1); silo.ErrorCode(err) != silo.ENOTFOUND {
			t.Fatalf("a failed Put left a readable blob (err %v)", err)
		}
		must(t, b.Delete(ctx(t), key))
		if _, ok := listed(t, b)[key]; ok {
			t.Fatal("Delete left a failed Put's leftover listed")
		}
	}
}

func testCancelledPut(t *testing.T, b silo.BlobStore) {
	c, cancel := context.WithCancel(ctx(t))
	pr, pw := io.Pipe()
	go func() {
		pw.Write(randomBytes(1 << 20))
		cancel()
		pw.Write(randomBytes(1 << 20))
		pw.Close()
	}()
	key := silo.NewBlobKey()
	if _, err := b.Put(c, key, pr); err == nil {
		t.Fatal("a cancelled Put succeeded")
	}
	pr.Close()
	if _, err := b.Open(ctx(t), key, 0, -1); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("a cancelled Put left a readable blob (err %v)", err)
	}
	must(t, b.Delete(ctx(t), key))
}

func testBadKeys(t *testing.T, b silo.BlobStore) {
	for _, key := range []string{"", "../etc/passwd", "b/../../x", "B", "bABC", "b..", "b" + string(make([]byte, 100))} {
		if _, err := b.Put(ctx(t), key, bytes.NewReader(nil)); err == nil {
			t.Errorf("Put(%q) accepted a bad key", key)
		}
		if _, err := b.Open(ctx(t), key, 0, -1); err == nil {
			t.Errorf("Open(%q) accepted a bad key", key)
		}
		if err := b.Delete(ctx(t), key); err == nil {
			t.Errorf("Delete(%q) accepted a bad key", key)
		}
	}
}

func testListBlobs(t *testing.T, b silo.BlobStore) {
	want := map[string]int64{}
	for i := 0; i < 5; i++ {
		key := silo.NewBlobKey()
		_, err := b.Put(ctx(t), key, bytes.NewReader(randomBytes(i*10)))
		must(t, err)
		want[key] = int64(i * 10)
	}
	got := listed(t, b)
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("List: %s has size %d, want %d (listed %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("List has %d blobs, want %d", len(got), len(want))
	}
}

package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/s3"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// open returns a store on a fresh bucket with the smallest part size, so
// that multipart uploads are cheap to test.
func open(t *testing.T) (*s3.Store, testenv.S3Server) {
	t.Helper()
	srv := testenv.S3(t)
	st, err := s3.New(context.Background(), s3.Config{
		Bucket: srv.Bucket, Endpoint: srv.Endpoint, Region: srv.Region,
		AccessKey: srv.AccessKey, SecretKey: srv.Secret, PartSize: s3.MinPartSize,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, srv
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func listAll(t *testing.T, st *s3.Store) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	if err := st.List(context.Background(), func(k string, n int64) error {
		if _, dup := got[k]; dup {
			t.Errorf("List gave %s twice", k)
		}
		got[k] = n
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPutOpenSizes(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	for _, size := range []int{0, 1, 1000, 1 << 20, 1<<20 + 1, s3.MinPartSize - 1, s3.MinPartSize, s3.MinPartSize + 1, 2*s3.MinPartSize + 12345} {
		want := randomBytes(size)
		key := silo.NewBlobKey()
		// A reader without WriteTo/Len, as an HTTP body is.
		n, err := st.Put(ctx, key, io.MultiReader(bytes.NewReader(want)))
		if err != nil || n != int64(size) {
			t.Fatalf("Put %d bytes: %d, %v", size, n, err)
		}
		rc, err := st.Open(ctx, key, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: read back %d bytes (%v)", size, len(got), err)
		}
		if l := listAll(t, st); l[key] != int64(size) {
			t.Fatalf("List says %s has %d bytes, want %d", key, l[key], size)
		}
	}
}

func TestOpenRanges(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	data := randomBytes(1000)
	key := silo.NewBlobKey()
	if _, err := st.Put(ctx, key, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ off, n int64 }{
		{0, -1}, {0, 1}, {10, 20}, {999, -1}, {999, 5}, {500, 0}, {1000, -1}, {2000, 10}, {0, 5000},
	} {
		rc, err := st.Open(ctx, key, tc.off, tc.n)
		if err != nil {
			t.Fatalf("Open(%d, %d): %v", tc.off, tc.n, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := min(tc.off, 1000), int64(1000)
		if tc.n >= 0 {
			hi = min(lo+tc.n, 1000)
		}
		if !bytes.Equal(got, data[lo:hi]) {
			t.Errorf("Open(%d, %d) gave %d bytes, want %d", tc.off, tc.n, len(got), hi-lo)
		}
	}
	for _, n := range []int64{-1, 0, 10} {
		if _, err := st.Open(ctx, silo.NewBlobKey(), 0, n); silo.ErrorCode(err) != silo.ENOTFOUND {
			t.Errorf("Open of a missing blob (length %d): %v, want ENOTFOUND", n, err)
		}
	}
}

func TestInvalidKeys(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	for _, key := range []string{"", "../x", "b/../../etc", "Babc", "b abc", "bABC", "x" + silo.NewBlobKey()} {
		if _, err := st.Put(ctx, key, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) accepted", key)
		}
		if _, err := st.Open(ctx, key, 0, -1); err == nil {
			t.Errorf("Open(%q) accepted", key)
		}
		if err := st.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) accepted", key)
		}
	}
}

// failingReader gives n bytes and then fails, like a client that goes away.
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

func TestFailedPutLeavesNothing(t *testing.T) {
	st, srv := open(t)
	ctx := context.Background()
	boom := errors.New("client went away")
	for _, size := range []int{100, 3*s3.MinPartSize + 7} {
		key := silo.NewBlobKey()
		_, err := st.Put(ctx, key, &failingReader{bytes.NewReader(randomBytes(size)), boom})
		if !errors.Is(err, boom) {
			t.Fatalf("Put of %d bytes then an error: %v, want %v", size, err, boom)
		}
	}
	assertEmpty(t, st, srv)
}

// cancelReader cancels the Put's context once it has given n bytes.
type cancelReader struct {
	r      io.Reader
	n      int
	cancel context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
		return 0, context.Canceled
	}
	p = p[:min(len(p), c.n)]
	n, err := c.r.Read(p)
	c.n -= n
	return n, err
}

func TestCancelledPutLeavesNothing(t *testing.T) {
	st, srv := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := silo.NewBlobKey()
	data := randomBytes(4 * s3.MinPartSize)
	_, err := st.Put(ctx, key, &cancelReader{bytes.NewReader(data), 2*s3.MinPartSize + 100, cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Put: %v", err)
	}
	assertEmpty(t, st, srv)
}

func assertEmpty(t *testing.T, st *s3.Store, srv testenv.S3Server) {
	t.Helper()
	if l := listAll(t, st); len(l) != 0 {
		t.Errorf("List after failed puts: %v", l)
	}
	c := srv.Client(t)
	ctx := context.Background()
	for o := range c.ListObjects(ctx, srv.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		t.Errorf("object left in bucket: %q (%v)", o.Key, o.Err)
	}
	for u := range c.ListIncompleteUploads(ctx, srv.Bucket, "", true) {
		t.Errorf("multipart upload left: %q (%v)", u.Key, u.Err)
	}
}

// A node that crashed mid-upload leaves an incomplete multipart upload:
// List must show it and Delete must abort it.
func TestDeleteAbortsLeftoverUpload(t *testing.T) {
	st, srv := open(t)
	ctx := context.Background()
	core := minio.Core{Client: srv.Client(t)}
	key, live := silo.NewBlobKey(), silo.NewBlobKey()
	if _, err := st.Put(ctx, live, strings.NewReader("kept")); err != nil {
		t.Fatal(err)
	}
	id, err := core.NewMultipartUpload(ctx, srv.Bucket, key, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := randomBytes(s3.MinPartSize)
	if _, err := core.PutObjectPart(ctx, srv.Bucket, key, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	if l := listAll(t, st); len(l) != 2 || l[key] != int64(len(part)) || l[live] != 4 {
		t.Fatalf("List = %v, want %s with %d bytes and %s with 4", l, key, len(part), live)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, key); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if l := listAll(t, st); len(l) != 1 || l[live] != 4 {
		t.Fatalf("List after Delete = %v, want only %s", l, live)
	}
	if err := st.Delete(ctx, live); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Open(ctx, live, 0, -1); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("Open after Delete: %v", err)
	}
	assertEmpty(t, st, srv)
}

func TestOpenFailsFast(t *testing.T) {
	srv := testenv.S3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.Secret)
	ctx := context.Background()
	st, err := s3.Open(ctx, srv.URL)
	if err != nil {
		t.Fatalf("Open(%s): %v", srv.URL, err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	missing := strings.Replace(srv.URL, srv.Bucket, "no-such-bucket", 1)
	if _, err := s3.Open(ctx, missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Open of a missing bucket: %v", err)
	}
	for _, bad := range []string{
		"s3://", "s3://b", "file:///x", "s3://b?endpoint=ftp://h", "s3://b/path?endpoint=http://h",
		"s3://b?endpoint=http://h&colour=red", "s3://k:s@b?endpoint=http://h", "s3://b?endpoint=http://h&part_size=1MB",
	} {
		if _, err := s3.Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) accepted", bad)
		}
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	if _, err := s3.Open(ctx, srv.URL); err == nil {
		t.Errorf("Open with a wrong secret succeeded")
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "a")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "b")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	start := time.Now()
	_, err = s3.Open(context.Background(), "s3://bucket?endpoint=http://"+addr)
	if err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("Open of an unreachable endpoint: %v", err)
	}
	t.Logf("failed after %v: %v", time.Since(start), err)
}

// zeros is an endless stream of zeros that allocates nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// A large Put holds about one part in memory, whatever the file's size.
func TestPutMemoryBounded(t *testing.T) {
	st, _ := open(t)
	const size = 20 * s3.MinPartSize
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	n, err := st.Put(context.Background(), silo.NewBlobKey(), io.LimitReader(zeros{}, size))
	if err != nil || n != size {
		t.Fatalf("Put: %d, %v", n, err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("a %d MiB Put allocated %d MiB in all", size>>20, alloc>>20)
	if alloc > size/2 {
		t.Fatalf("a %d MiB Put allocated %d MiB: it holds more than a part at a time", size>>20, alloc>>20)
	}
}

// A Put cancelled while its body is on the wire, at any moment, leaves
// nothing: the payload is signed, so the server refuses a cut-off body
// rather than committing it truncated (as versitygw does with unsigned
// PUTs), and a multipart upload is aborted.
func TestCancelMidTransfer(t *testing.T) {
	st, srv := open(t)
	for _, size := range []int{s3.MinPartSize - 1, 3 * s3.MinPartSize} {
		data := randomBytes(size)
		for i, after := range []time.Duration{time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond} {
			ctx, cancel := context.WithTimeout(context.Background(), after)
			key := silo.NewBlobKey()
			_, err := st.Put(ctx, key, bytes.NewReader(data))
			cancel()
			if err == nil {
				// Finished in time: a whole blob is fine too.
				if got := listAll(t, st)[key]; got != int64(size) {
					t.Fatalf("finished Put %d lists %d bytes", i, got)
				}
				if err := st.Delete(context.Background(), key); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := st.Open(context.Background(), key, 0, -1); silo.ErrorCode(err) != silo.ENOTFOUND {
				t.Fatalf("Put of %d bytes cancelled after %v left a readable blob (%v)", size, after, err)
			}
		}
	}
	// Checked last, after the later Puts: a request the client gave up on
	// but the server went on with would have committed by now.
	assertEmpty(t, st, srv)
}

// Package disk is silo's embedded blob store: one file per blob in a local
// directory, written crash-safely (temp file, fsync, rename, fsync of the
// directory), as litestream does.
//
// Layout under the root:
//
//	blobs/<key>      finished blobs
//	tmp/<key>.part   a Put in progress (or one a crash interrupted)
//
// Keys are silo's own random names (silo.ValidBlobKey), never user input, so
// no path is ever built from what a client sent.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/silo-datasets/silo"
)

// Store is a blob store in a directory.
type Store struct {
	root string
}

var _ silo.BlobStore = (*Store)(nil)

// ParseURL returns the directory of a file:///path URL.
func ParseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" || u.Path == "" {
		return "", fmt.Errorf("invalid blob store URL %q: want file:///path/to/dir", raw)
	}
	return u.Host + u.Path, nil
}

// Open opens (creating) a blob directory.
func Open(root string) (*Store, error) {
	for _, d := range []string{"blobs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			return nil, fault(fmt.Errorf("disk: %w", err))
		}
	}
	return &Store{root: root}, nil
}

func (s *Store) final(key string) string { return filepath.Join(s.root, "blobs", key) }
func (s *Store) temp(key string) string  { return filepath.Join(s.root, "tmp", key+".part") }

func checkKey(key string) error {
	if !silo.ValidBlobKey(key) {
		return fmt.Errorf("disk: invalid blob key %q", key)
	}
	return nil
}

// copyBufSize is the buffer of a Put's copy: large enough that a 1 GiB
// upload takes few syscalls.
const copyBufSize = 1 << 20

// Put writes r to a temp file, fsyncs it, renames it into place and fsyncs
// the directory: when Put returns nil the blob survives a crash.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (n int64, err error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	tmp := s.temp(key)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, fault(fmt.Errorf("disk: %w", err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := newSyncer(f, syncEvery)
	if wc, ok := r.(wholeChunks); ok {
		// silo's upload pipeline: its chunks are large buffers already,
		// but a chunked request hands them on as the client framed them
		// (64 KiB from curl): those are gathered into writes of
		// copyBufSize (coalesce.go).
		n, err = writeCoalesced(wc, w)
	} else {
		n, err = fillCopy(w, ctxReader{ctx, r}, make([]byte, copyBufSize))
	}
	if serr := w.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return n, err
	}
	if err = f.Sync(); err != nil {
		return n, fault(fmt.Errorf("disk: fsync: %w", err))
	}
	dropCache(f, 0, 0) // all of it is durable now (cache.go)
	if err = f.Close(); err != nil {
		return n, fault(fmt.Errorf("disk: %w", err))
	}
	if err = os.Rename(tmp, s.final(key)); err != nil {
		return n, fault(fmt.Errorf("disk: %w", err))
	}
	return n, syncDir(filepath.Join(s.root, "blobs"))
}

// fillCopy copies r to w one full buffer at a time. An upload arrives
// through a multipart reader that returns at most a few KiB per Read, and
// io.Copy would write each as it came (and os.File.ReadFrom would copy
// through its own 32 KiB buffer): a write syscall per 4 KiB. Filling the
// buffer first makes it one per copyBufSize. Unlike io.ReadFull it passes
// every error on as it is: a truncated body (io.ErrUnexpectedEOF from the
// multipart reader) must fail the Put, not end it.
func fillCopy(w io.Writer, r io.Reader, buf []byte) (int64, error) {
	var total int64
	for {
		m := 0
		var rerr error
		for m < len(buf) && rerr == nil {
			var k int
			k, rerr = r.Read(buf[m:])
			m += k
		}
		if m > 0 {
			if _, err := w.Write(buf[:m]); err != nil {
				return total, fault(fmt.Errorf("disk: %w", err))
			}
			total += int64(m)
		}
		if rerr == io.EOF {
			return total, nil
		} else if rerr != nil {
			return total, rerr
		}
	}
}

// wholeChunks is a reader whose WriteTo writes large buffers as they
// come (and stops when its context ends): Put writes them without a copy.
type wholeChunks interface {
	io.WriterTo
	WholeChunks()
}

// ctxReader stops a copy when its context ends. It hides the reader's
// WriteTo so that the copy goes through the large buffer.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// fault classifies the disk's own errors (full, read-only, failing). Only
// those: an error of the reader a Put copies from is the client's and
// passes unchanged.
func fault(err error) error { return silo.Fault(silo.DepDisk, err) }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fault(fmt.Errorf("disk: %w", err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fault(fmt.Errorf("disk: fsync %s: %w", dir, err))
	}
	return nil
}

// Open reads part of a blob.
func (s *Store) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	f, err := os.Open(s.final(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, silo.Errorf(silo.ENOTFOUND, "blob %s not found", key)
	} else if err != nil {
		return nil, fault(fmt.Errorf("disk: %w", err))
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fault(fmt.Errorf("disk: %w", err))
		}
	}
	r := newSeqReader(f, offset)
	if length < 0 {
		return r, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(r, length), r}, nil
}

// Delete removes a blob and any temp file of it.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	for _, p := range []string{s.final(key), s.temp(key)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fault(fmt.Errorf("disk: %w", err))
		}
	}
	return nil
}

// List calls fn with every blob and every leftover temp file (by its key).
func (s *Store) List(ctx context.Context, fn func(key string, size int64) error) error {
	for _, dir := range []string{"blobs", "tmp"} {
		entries, err := os.ReadDir(filepath.Join(s.root, dir))
		if err != nil {
			return fault(fmt.Errorf("disk: %w", err))
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				continue // deleted meanwhile
			}
			if err := fn(strings.TrimSuffix(e.Name(), ".part"), info.Size()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Ping checks the directory takes a durable write: a few bytes written and
// fsynced to a new file (an empty file needs no space, so it would not
// notice a full disk). fsck skips a probe a crash left behind.
func (s *Store) Ping(ctx context.Context) error {
	f, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "ping-*")
	if err != nil {
		return fault(fmt.Errorf("disk: %w", err))
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString("silo ready probe\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fault(fmt.Errorf("disk: %w", err))
	}
	return nil
}

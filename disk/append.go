package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/silo-datasets/silo"
)

var _ silo.Appender = (*Store)(nil)

// Append writes r's bytes at offset in the blob's temp file (tmp/KEY.part,
// where a Put in progress would be: List shows it, Delete removes it),
// cutting off first whatever lies past offset (bytes a crash or a
// discarded piece left there, which no recorded offset covers). It fsyncs
// before returning, so every byte of the offset it returns is durable. The
// disk keeps no state of its own: the file is it.
func (s *Store) Append(ctx context.Context, key string, state []byte, offset, length int64, r io.Reader) ([]byte, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(s.temp(key), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, fault(fmt.Errorf("disk: %w", err))
	}
	defer f.Close()
	if offset == 0 {
		// A new file's directory entry must survive a crash too.
		if err := syncDir(filepath.Join(s.root, "tmp")); err != nil {
			return nil, 0, err
		}
	}
	if err := f.Truncate(offset); err != nil {
		return nil, 0, fault(fmt.Errorf("disk: %w", err))
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, 0, fault(fmt.Errorf("disk: %w", err))
	}
	// At most length-offset bytes: the caller refuses a longer body, and
	// the file never grows past the blob's size.
	// Written as Put writes: fsynced in the background as it goes (so the
	// fsync before the answer finds little left), the durable pages dropped.
	// Every 8 MiB rather than Put's 64: a piece is answered after its own
	// fsync, and a client sending 64 MiB pieces waited for the whole piece
	// to be flushed at the end of each (an fsync here costs about as much
	// as the bytes it flushes, writeback.go).
	sy := newSyncer(f, appendSyncEvery)
	sy.drop = func(off, n int64) { dropCache(f, offset+off, n) }
	w := &recordingWriter{w: sy}
	var n int64
	var rerr error
	if wc, ok := r.(wholeChunks); ok {
		// silo's pipeline: large buffers already, bounded by the caller.
		n, rerr = writeCoalesced(wc, w)
	} else {
		n, rerr = fillCopy(w, ctxReader{ctx, io.LimitReader(r, length-offset)}, make([]byte, copyBufSize))
	}
	serr := sy.stop()
	if w.err != nil || serr != nil {
		// The disk failed: nothing of this piece counts.
		if w.err != nil {
			return nil, 0, fault(fmt.Errorf("disk: %w", w.err))
		}
		return nil, 0, serr
	}
	if err := f.Sync(); err != nil {
		return nil, 0, fault(fmt.Errorf("disk: fsync: %w", err))
	}
	dropCache(f, offset, n)
	return nil, n, rerr
}

const appendSyncEvery = 8 << 20

// recordingWriter keeps its writer's error, so that Append tells the disk's
// failures from the reader's.
type recordingWriter struct {
	w   io.Writer
	err error
}

func (r *recordingWriter) Write(b []byte) (int, error) {
	n, err := r.w.Write(b)
	if err != nil {
		r.err = err
	}
	return n, err
}

// Seal moves the complete temp file into place, as Put's last step does.
func (s *Store) Seal(ctx context.Context, key string, state []byte, length int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	info, err := os.Stat(s.temp(key))
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(s.final(key)); err == nil {
			return nil // sealed already
		}
		if length == 0 {
			// An empty upload never received a PATCH: make its file now.
			if _, _, err := s.Append(ctx, key, nil, 0, 0, strings.NewReader("")); err != nil {
				return err
			}
			return s.Seal(ctx, key, state, length)
		}
		return silo.Errorf(silo.ENOTFOUND, "disk: upload %s has no bytes", key)
	} else if err != nil {
		return fault(fmt.Errorf("disk: %w", err))
	}
	if info.Size() < length {
		return fmt.Errorf("disk: upload %s holds %d bytes, not %d", key, info.Size(), length)
	}
	if info.Size() > length {
		if err := os.Truncate(s.temp(key), length); err != nil {
			return fault(fmt.Errorf("disk: %w", err))
		}
	}
	if err := os.Rename(s.temp(key), s.final(key)); err != nil {
		return fault(fmt.Errorf("disk: %w", err))
	}
	return syncDir(filepath.Join(s.root, "blobs"))
}

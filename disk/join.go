package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/silo-datasets/silo"
)

var _ silo.Joiner = (*Store)(nil)

// joinStep is how much of a blob Join copies between two looks at its
// context.
const joinStep = 64 << 20

// Join copies the blobs srcs into a temp file and renames it into place,
// as Put does. The copies are file to file, which Go does with
// copy_file_range(2): the kernel moves the bytes (or shares the extents,
// on a file system that can), and they never cross into silo's memory.
func (s *Store) Join(ctx context.Context, key string, srcs []string) (n int64, err error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	for _, src := range srcs {
		if err := checkKey(src); err != nil {
			return 0, err
		}
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
	for _, src := range srcs {
		m, err := s.joinOne(ctx, f, src)
		n += m
		if err != nil {
			return n, err
		}
		// Flushed as it goes, as Put's syncer does: the final fsync then
		// finds little left (writeback.go).
		if err := f.Sync(); err != nil {
			return n, fault(fmt.Errorf("disk: fsync: %w", err))
		}
		dropCache(f, 0, 0)
	}
	if err = f.Close(); err != nil {
		return n, fault(fmt.Errorf("disk: %w", err))
	}
	if err = os.Rename(tmp, s.final(key)); err != nil {
		return n, fault(fmt.Errorf("disk: %w", err))
	}
	return n, syncDir(filepath.Join(s.root, "blobs"))
}

// joinOne appends the blob src to f.
func (s *Store) joinOne(ctx context.Context, f *os.File, src string) (int64, error) {
	in, err := os.Open(s.final(src))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, silo.Errorf(silo.ENOTFOUND, "blob %s not found", src)
	} else if err != nil {
		return 0, fault(fmt.Errorf("disk: %w", err))
	}
	defer in.Close()
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		m, err := io.CopyN(f, in, joinStep)
		n += m
		if err == io.EOF {
			dropCache(in, 0, 0) // read once, not again soon
			return n, nil
		} else if err != nil {
			return n, fault(fmt.Errorf("disk: %w", err))
		}
	}
}

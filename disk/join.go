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

// joinStep is how much of a blob Join copies at a time: between two steps
// it looks at its context and drops the source's pages it read.
const joinStep = 8 << 20

// Join copies the blobs srcs into a temp file and renames it into place,
// as Put does. The copies are file to file, which Go does with
// copy_file_range(2): the kernel moves the bytes (or shares the extents,
// on a file system that can), and they never cross into silo's memory.
// The page cache is kept small as Put keeps it (cache.go): the sources'
// pages are dropped as they are read, the copy's once a background fsync
// made them durable.
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
	sy := newSyncer(f, syncEvery)
	for _, src := range srcs {
		m, err := s.joinOne(ctx, sy, src)
		n += m
		if err != nil {
			sy.stop()
			return n, err
		}
	}
	if err = sy.stop(); err != nil {
		return n, err
	}
	if err = f.Sync(); err != nil {
		return n, fault(fmt.Errorf("disk: fsync: %w", err))
	}
	dropCache(f, 0, 0)
	if err = f.Close(); err != nil {
		return n, fault(fmt.Errorf("disk: %w", err))
	}
	if err = os.Rename(tmp, s.final(key)); err != nil {
		return n, fault(fmt.Errorf("disk: %w", err))
	}
	return n, syncDir(filepath.Join(s.root, "blobs"))
}

// joinOne appends the blob src to sy's file.
func (s *Store) joinOne(ctx context.Context, sy *syncer, src string) (int64, error) {
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
		m, err := io.CopyN(sy.f, in, joinStep)
		sy.wrote(m)
		dropCache(in, n, m)
		n += m
		if err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, fault(fmt.Errorf("disk: %w", err))
		}
	}
}

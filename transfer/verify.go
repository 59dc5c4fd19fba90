// Package transfer moves a whole silo between stores: online backups of
// the embedded stores (a tar of one instant), restores of them into a new
// data directory, and migrations from any pair of stores to any other.
// It is built only on silo's store interfaces (silo.TransferStore for the
// metadata, silo.BlobStore for the files), so a new backend gets all three
// by passing the conformance suites.
//
// Every file is verified against the size and SHA-256 its dataset recorded
// while it streams through: memory stays flat whatever the sizes, and a
// corrupted file stops the transfer naming it instead of being copied.
package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"github.com/silo-datasets/silo"
)

// Progress is told the bytes of files as they are copied; nil: nobody.
type Progress func(n int64)

func (p Progress) add(n int64) {
	if p != nil && n > 0 {
		p(n)
	}
}

// verifier hashes and counts what is read through it and reports it.
type verifier struct {
	r        io.Reader
	h        hash.Hash
	n        int64
	progress Progress
}

func newVerifier(r io.Reader, p Progress) *verifier {
	return &verifier{r: r, h: sha256.New(), progress: p}
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if n > 0 {
		v.h.Write(p[:n])
		v.n += int64(n)
		v.progress.add(int64(n))
	}
	return n, err
}

// check compares what went through with the size and checksum recorded;
// name is how the error names the file.
func (v *verifier) check(name string, size int64, sum string) error {
	got := hex.EncodeToString(v.h.Sum(nil))
	if v.n != size {
		return fmt.Errorf("%s is corrupted: %d bytes, recorded %d", name, v.n, size)
	}
	if sum != "" && got != sum {
		return fmt.Errorf("%s is corrupted: SHA-256 %s, recorded %s", name, got, sum)
	}
	return nil
}

// copyBlob copies one blob from one store to another, verifying it as it
// streams; on any error nothing stays under the key in to.
func copyBlob(ctx context.Context, from, to silo.BlobStore, b silo.LiveBlob, p Progress) error {
	r, err := from.Open(ctx, b.Key, 0, -1)
	if err != nil {
		return fmt.Errorf("reading blob %s: %w", b.Key, err)
	}
	defer r.Close()
	return putVerified(ctx, to, b, r, "blob "+b.Key, p)
}

// putVerified stores r under b.Key, and deletes it again unless its bytes
// are the ones b records.
func putVerified(ctx context.Context, to silo.BlobStore, b silo.LiveBlob, r io.Reader, name string, p Progress) error {
	v := newVerifier(r, p)
	if _, err := to.Put(ctx, b.Key, v); err != nil {
		to.Delete(context.WithoutCancel(ctx), b.Key)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := v.check(name, b.Size, b.SHA256); err != nil {
		if derr := to.Delete(context.WithoutCancel(ctx), b.Key); derr != nil {
			return fmt.Errorf("%w (and removing the copy failed: %v)", err, derr)
		}
		return err
	}
	return nil
}

package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// cleanupTimeout bounds the clean-up after a failed Put. It runs on a
// context of its own: the usual reason for the failure is that the
// request's context was cancelled.
const cleanupTimeout = time.Minute

// requestTimeout bounds one request of a Put (a part at most).
const requestTimeout = 2 * time.Minute

// LandingDelay: a request that the client gave up on (it timed out, or its
// node died with the whole body sent) may still be committed by the server
// for a while; an upload's blobs stay in the ledger that long after their
// last request was sent (silo.LateLander). Its bound is the request's own
// timeout, with a margin for the server's clock and queue.
func (s *Store) LandingDelay() time.Duration { return 2 * requestTimeout }

// detach returns the context for one request of a Put. A request is not
// cut off when ctx ends, only bounded in time: a server that has received a
// whole body goes on to commit it even if the client hangs up, and would
// then do so after the clean-up had run, leaving a blob behind. Put checks
// ctx between requests instead, so it still stops within one part.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), requestTimeout)
}

// smallSize is the buffer a Put starts with. Most files are small, and many
// uploads run at once: only a file larger than this takes a full part's
// buffer.
const smallSize = 1 << 20

// Put streams r to the object key. A file that fits in one part goes in one
// PUT; a larger one in a multipart upload, one part at a time, so a Put
// holds at most one part in memory. On any error the multipart upload is
// aborted and whatever the server may have kept under key is deleted. A
// cancelled ctx stops Put at the next request, so that no request is in
// flight when it cleans up (see detach).
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (n int64, err error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			if derr := s.Delete(cctx, key); derr != nil {
				err = errors.Join(err, fmt.Errorf("s3: clean up after failed put: %w", derr))
			}
		}
	}()

	sp := s.small.Get().(*[]byte)
	defer s.small.Put(sp)
	small := *sp
	m, rerr := io.ReadFull(r, small)
	if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
		return s.putSingle(ctx, key, small[:m])
	} else if rerr != nil {
		return 0, rerr
	}

	bp := s.parts.Get().(*[]byte)
	defer s.parts.Put(bp)
	buf := *bp
	copy(buf, small)
	m, rerr = io.ReadFull(r, buf[len(small):])
	m += len(small)
	if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
		return s.putSingle(ctx, key, buf[:m])
	} else if rerr != nil {
		return 0, rerr
	}
	return s.putMultipart(ctx, key, r, buf)
}

// putSingle stores b, a whole file, with one signed PUT.
func (s *Store) putSingle(ctx context.Context, key string, b []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	rctx, cancel := detach(ctx)
	defer cancel()
	if _, err := s.core.PutObject(rctx, s.bucket, key, bytes.NewReader(b), int64(len(b)),
		"", sha256Hex(b), minio.PutObjectOptions{}); err != nil {
		return 0, fault(fmt.Errorf("s3: put %s: %w", key, err))
	}
	// Cancelled meanwhile: the caller will not record the blob, so the
	// clean-up removes it.
	return int64(len(b)), ctx.Err()
}

// putMultipart uploads buf (a full first part) and then the rest of r.
func (s *Store) putMultipart(ctx context.Context, key string, r io.Reader, buf []byte) (int64, error) {
	rctx, cancel := detach(ctx)
	uploadID, err := s.core.NewMultipartUpload(rctx, s.bucket, key, minio.PutObjectOptions{})
	cancel()
	if err != nil {
		return 0, fault(fmt.Errorf("s3: start upload of %s: %w", key, err))
	}
	// The caller's clean-up (Delete) aborts this upload on error: it lists
	// the key's uploads, which also covers an upload whose id we never got.
	var (
		parts []minio.CompletePart
		total int64
		m     = len(buf)
	)
	for num := 1; ; num++ {
		if num > maxParts {
			return total, fmt.Errorf("s3: %s: more than %d parts of %d bytes", key, maxParts, s.partSize)
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
		part := buf[:m]
		rctx, cancel := detach(ctx)
		p, err := s.core.PutObjectPart(rctx, s.bucket, key, uploadID, num, bytes.NewReader(part), int64(m),
			minio.PutObjectPartOptions{Sha256Hex: sha256Hex(part)})
		cancel()
		if err != nil {
			return total, fault(fmt.Errorf("s3: upload part %d of %s: %w", num, key, err))
		}
		parts = append(parts, minio.CompletePart{PartNumber: num, ETag: p.ETag})
		total += int64(m)
		if m < len(buf) {
			break // a short part is the last one
		}
		var rerr error
		m, rerr = io.ReadFull(r, buf)
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			return total, rerr
		}
	}
	if err := ctx.Err(); err != nil {
		return total, err
	}
	rctx, cancel = detach(ctx)
	defer cancel()
	if _, err := s.core.CompleteMultipartUpload(rctx, s.bucket, key, uploadID, parts, minio.PutObjectOptions{}); err != nil {
		return total, fault(fmt.Errorf("s3: complete upload of %s: %w", key, err))
	}
	return total, ctx.Err()
}

// sha256Hex is the payload hash that goes into the request's signature, so
// that the server refuses a body that was cut off instead of storing it.
func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

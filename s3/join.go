package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/minio/minio-go/v7"

	"github.com/silo-datasets/silo"
)

var _ silo.Joiner = (*Store)(nil)

const (
	minCopyPart = 5 << 20 // S3's smallest part but the last
	maxCopyPart = 5 << 30 // and its largest
)

// Join makes the object key of the objects srcs with one multipart upload
// whose parts are server-side copies (UploadPartCopy): the bytes stay in
// the object store. S3 takes a part shorter than 5 MiB only as the last
// one, so srcs with a short one before the last are read and written
// through silo instead (Put of them one after another). On any error
// nothing stays under key, as after a failed Put.
func (s *Store) Join(ctx context.Context, key string, srcs []string) (n int64, err error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	sizes := make([]int64, len(srcs))
	var total int64
	for i, src := range srcs {
		if err := checkKey(src); err != nil {
			return 0, err
		}
		rctx, cancel := detach(ctx)
		info, err := s.client.StatObject(rctx, s.bucket, src, minio.StatObjectOptions{})
		cancel()
		if err != nil {
			return 0, s.readError(src, err)
		}
		sizes[i], total = info.Size, total+info.Size
		if info.Size < minCopyPart && i < len(srcs)-1 {
			return s.Put(ctx, key, silo.JoinedReader(ctx, s, srcs))
		}
	}
	if total == 0 {
		return s.Put(ctx, key, bytes.NewReader(nil))
	}
	defer func() {
		if err != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			if derr := s.Delete(cctx, key); derr != nil {
				err = errors.Join(err, fmt.Errorf("s3: clean up after failed join: %w", derr))
			}
		}
	}()
	rctx, cancel := detach(ctx)
	uploadID, err := s.core.NewMultipartUpload(rctx, s.bucket, key, minio.PutObjectOptions{})
	cancel()
	if err != nil {
		return 0, fault(fmt.Errorf("s3: start upload of %s: %w", key, err))
	}
	var parts []minio.CompletePart
	for i, src := range srcs {
		// A source over S3's largest part goes in equal parts, so that
		// none but the last is short.
		k := (sizes[i] + maxCopyPart - 1) / maxCopyPart
		for off := int64(0); off < sizes[i]; {
			if err := ctx.Err(); err != nil {
				return n, err
			}
			if len(parts) >= maxParts {
				return n, fmt.Errorf("s3: %s: more than %d parts", key, maxParts)
			}
			m := min(sizes[i]-off, (sizes[i]+k-1)/k)
			rctx, cancel := detach(ctx)
			p, err := s.core.CopyObjectPart(rctx, s.bucket, src, s.bucket, key, uploadID, len(parts)+1, off, m, nil)
			cancel()
			if err != nil {
				return n, fault(fmt.Errorf("s3: copy %s into part %d of %s: %w", src, len(parts)+1, key, err))
			}
			parts = append(parts, p)
			n, off = n+m, off+m
		}
	}
	rctx, cancel = detach(ctx)
	defer cancel()
	if _, err := s.core.CompleteMultipartUpload(rctx, s.bucket, key, uploadID, parts, minio.PutObjectOptions{}); err != nil {
		return n, fault(fmt.Errorf("s3: complete upload of %s: %w", key, err))
	}
	return n, ctx.Err()
}

package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"

	"github.com/silo-datasets/silo"
)

var _ silo.Appender = (*Store)(nil)

// A resumable upload is one S3 multipart upload under the blob's key, as
// tusd's s3store maps it: each piece goes in as parts of the store's part
// size, so completing it copies nothing. S3 takes a part shorter than 5 MiB
// only as the last one, so a piece that ends short of the upload's end
// parks its last few bytes in a tail object (KEY.tail-RANDOM) that the next
// piece reads back and sends at the front of its first part. Tails are
// never overwritten (a piece that is not recorded must not change what the
// recorded state names); Seal and Delete remove them all.

// appendState is the store's record of an upload's pieces, kept by the
// metadata store with the upload's offset.
type appendState struct {
	UploadID string      `json:"upload_id"`
	Parts    []statePart `json:"parts,omitempty"`
	Tail     string      `json:"tail,omitempty"`
	TailSize int64       `json:"tail_size,omitempty"`
}

type statePart struct {
	N    int    `json:"n"`
	ETag string `json:"etag"`
	Size int64  `json:"size"`
}

func decodeState(b []byte) (appendState, error) {
	var st appendState
	if len(b) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("s3: upload state: %w", err)
	}
	return st, nil
}

func tailPrefix(key string) string { return key + ".tail-" }

// Append sends r's bytes as parts of the key's multipart upload (starting
// one for the first piece).
func (s *Store) Append(ctx context.Context, key string, state []byte, offset, length int64, r io.Reader) ([]byte, int64, error) {
	if err := checkKey(key); err != nil {
		return nil, 0, err
	}
	st, err := decodeState(state)
	if err != nil {
		return nil, 0, err
	}
	if st.UploadID == "" {
		rctx, cancel := detach(ctx)
		st.UploadID, err = s.core.NewMultipartUpload(rctx, s.bucket, key, minio.PutObjectOptions{})
		cancel()
		if err != nil {
			return nil, 0, fault(fmt.Errorf("s3: start upload of %s: %w", key, err))
		}
	}
	bp := s.parts.Get().(*[]byte)
	defer s.parts.Put(bp)
	buf := *bp
	fill := 0
	if st.Tail != "" {
		if err := s.readTail(ctx, st, buf); err != nil {
			return nil, 0, err
		}
		fill = int(st.TailSize)
	}
	var n int64
	body := io.LimitReader(r, length-offset)
	var rerr error
	for {
		m, err := io.ReadFull(body, buf[fill:])
		fill += m
		n += int64(m)
		if err == nil { // a full part, and maybe more to come
			if err := s.appendPart(ctx, key, &st, buf[:fill]); err != nil {
				return nil, 0, err
			}
			fill = 0
			continue
		}
		if err != io.EOF && err != io.ErrUnexpectedEOF {
			rerr = err // the client's; what arrived is kept
		}
		break
	}
	st.Tail, st.TailSize = "", 0
	switch {
	case fill == 0:
	case offset+n == length || fill >= MinPartSize:
		err = s.appendPart(ctx, key, &st, buf[:fill])
	default:
		err = s.putTail(ctx, key, &st, buf[:fill])
	}
	if err != nil {
		return nil, 0, err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, 0, err
	}
	return b, n, rerr
}

func (s *Store) readTail(ctx context.Context, st appendState, buf []byte) error {
	rctx, cancel := detach(ctx)
	defer cancel()
	body, _, _, err := s.core.GetObject(rctx, s.bucket, st.Tail, minio.GetObjectOptions{})
	if err != nil {
		return fault(fmt.Errorf("s3: read tail %s: %w", st.Tail, err))
	}
	defer body.Close()
	if _, err := io.ReadFull(body, buf[:st.TailSize]); err != nil {
		return fault(fmt.Errorf("s3: read tail %s: %w", st.Tail, err))
	}
	return nil
}

func (s *Store) appendPart(ctx context.Context, key string, st *appendState, part []byte) error {
	num := len(st.Parts) + 1
	if num > maxParts {
		return fmt.Errorf("s3: %s: more than %d parts", key, maxParts)
	}
	rctx, cancel := detach(ctx)
	defer cancel()
	p, err := s.core.PutObjectPart(rctx, s.bucket, key, st.UploadID, num, bytes.NewReader(part), int64(len(part)),
		minio.PutObjectPartOptions{Sha256Hex: sha256Hex(part)})
	if err != nil {
		return fault(fmt.Errorf("s3: upload part %d of %s: %w", num, key, err))
	}
	st.Parts = append(st.Parts, statePart{N: num, ETag: p.ETag, Size: int64(len(part))})
	return nil
}

func (s *Store) putTail(ctx context.Context, key string, st *appendState, b []byte) error {
	tail := tailPrefix(key) + silo.NewBlobKey()
	rctx, cancel := detach(ctx)
	defer cancel()
	if _, err := s.core.PutObject(rctx, s.bucket, tail, bytes.NewReader(b), int64(len(b)), "", sha256Hex(b), minio.PutObjectOptions{}); err != nil {
		return fault(fmt.Errorf("s3: put tail of %s: %w", key, err))
	}
	st.Tail, st.TailSize = tail, int64(len(b))
	return nil
}

// Seal completes the multipart upload: the object appears under key, its
// bytes where the parts put them.
func (s *Store) Seal(ctx context.Context, key string, state []byte, length int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	st, err := decodeState(state)
	if err != nil {
		return err
	}
	if st.Tail != "" {
		return fmt.Errorf("s3: upload %s still has a tail of %d bytes", key, st.TailSize)
	}
	rctx, cancel := detach(ctx)
	defer cancel()
	if st.UploadID == "" {
		// Nothing was appended: a blob stored whole (a concatenation's
		// Put), or an empty file, which S3 completes no upload for.
		info, err := s.client.StatObject(rctx, s.bucket, key, minio.StatObjectOptions{})
		if err == nil && info.Size == length {
			return nil
		}
		if length != 0 {
			return fmt.Errorf("s3: upload %s has no parts and no blob of %d bytes", key, length)
		}
		if _, err := s.core.PutObject(rctx, s.bucket, key, bytes.NewReader(nil), 0, "", sha256Hex(nil), minio.PutObjectOptions{}); err != nil {
			return fault(fmt.Errorf("s3: put %s: %w", key, err))
		}
	} else {
		parts := make([]minio.CompletePart, len(st.Parts))
		for i, p := range st.Parts {
			parts[i] = minio.CompletePart{PartNumber: p.N, ETag: p.ETag}
		}
		if _, err := s.core.CompleteMultipartUpload(rctx, s.bucket, key, st.UploadID, parts, minio.PutObjectOptions{}); err != nil {
			if minio.ToErrorResponse(err).Code != "NoSuchUpload" {
				return fault(fmt.Errorf("s3: complete upload of %s: %w", key, err))
			}
			// Completed before (a Seal whose answer was lost), or gone.
			info, serr := s.client.StatObject(rctx, s.bucket, key, minio.StatObjectOptions{})
			if serr != nil || info.Size != length {
				return fault(fmt.Errorf("s3: complete upload of %s: %w", key, err))
			}
		}
	}
	return s.removeTails(rctx, key)
}

// removeTails deletes every tail object of key's upload.
func (s *Store) removeTails(ctx context.Context, key string) error {
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: tailPrefix(key)}) {
		if obj.Err != nil {
			return fault(fmt.Errorf("s3: list tails of %s: %w", key, obj.Err))
		}
		if err := s.client.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil &&
			minio.ToErrorResponse(err).Code != "NoSuchKey" {
			return fault(fmt.Errorf("s3: delete tail %s: %w", obj.Key, err))
		}
	}
	return nil
}

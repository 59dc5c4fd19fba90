// Package s3 is silo's blob store on an S3-compatible object store (AWS,
// MinIO, Ceph RGW, versitygw...), for nodes that share their blobs.
//
// Blobs are objects named by their key at the top of one bucket. Uploads
// stream in parts of a fixed size, so a Put holds one part in memory however
// large the file; every part is sent with its SHA-256 in the signature, so a
// server can never commit a body that was cut off (versitygw commits a
// truncated unsigned PUT). A Put that fails or is cancelled aborts its
// multipart upload; Delete aborts any that a crashed node left; List shows
// them, so that sweeps and fsck can find them.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/silo-datasets/silo"
)

// Part sizes. S3 wants parts of at least 5 MiB (but the last) and at most
// 10,000 of them.
const (
	DefaultPartSize = 16 << 20
	MinPartSize     = 5 << 20
	maxParts        = 10000
)

// Config says where the bucket is and how to reach it.
type Config struct {
	Bucket    string
	Endpoint  string // scheme://host[:port], e.g. http://127.0.0.1:7070
	Region    string
	AccessKey string
	SecretKey string
	// SessionToken is for temporary credentials; usually empty.
	SessionToken string
	// PartSize is the size of the parts of an upload, and so the memory one
	// Put holds. 0 means DefaultPartSize.
	PartSize int64
}

// ParseURL reads a blob store URL of the form
//
//	s3://BUCKET?endpoint=http://127.0.0.1:7070&region=us-east-1[&part_size=16MiB]
//
// and takes the credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// (and AWS_SESSION_TOKEN, if set): secrets never sit in a URL that may be
// logged or shown in a process list.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return Config{}, fmt.Errorf("invalid blob store URL %q: want s3://BUCKET?endpoint=http://HOST:PORT&region=REGION", raw)
	}
	if u.User != nil {
		return Config{}, fmt.Errorf("invalid blob store URL: credentials go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, not in the URL")
	}
	if u.Path != "" && u.Path != "/" {
		return Config{}, fmt.Errorf("invalid blob store URL %q: a path after the bucket is not supported", raw)
	}
	q := u.Query()
	for name := range q {
		switch name {
		case "endpoint", "region", "part_size":
		default:
			return Config{}, fmt.Errorf("invalid blob store URL %q: unknown parameter %q (known: endpoint, region, part_size)", raw, name)
		}
	}
	cfg := Config{
		Bucket:       u.Host,
		Endpoint:     q.Get("endpoint"),
		Region:       q.Get("region"),
		AccessKey:    os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey:    os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN"),
	}
	if cfg.Endpoint == "" {
		return Config{}, fmt.Errorf("invalid blob store URL %q: missing endpoint, e.g. endpoint=https://HOST or endpoint=http://127.0.0.1:7070", raw)
	}
	if s := q.Get("part_size"); s != "" {
		if cfg.PartSize, err = silo.ParseSize(s); err != nil {
			return Config{}, fmt.Errorf("invalid blob store URL: part_size: %w", err)
		}
	}
	return cfg, nil
}

// Store is a blob store in one S3 bucket.
type Store struct {
	client   *minio.Client
	core     minio.Core // the multipart calls, which Put drives itself
	bucket   string
	endpoint string
	partSize int64
	small    sync.Pool // of *[]byte of smallSize: where every Put starts
	parts    sync.Pool // of *[]byte of partSize: one part in flight per large Put
}

var _ silo.BlobStore = (*Store)(nil)

// Open parses rawURL (see ParseURL) and connects. It fails, with a message
// that says what to fix, when the server cannot be reached, the credentials
// are refused or the bucket does not exist.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	cfg, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg)
}

// New connects to the bucket cfg names and checks that it is there.
func New(ctx context.Context, cfg Config) (*Store, error) {
	ep, err := url.Parse(cfg.Endpoint)
	if err != nil || (ep.Scheme != "http" && ep.Scheme != "https") || ep.Host == "" || (ep.Path != "" && ep.Path != "/") {
		return nil, fmt.Errorf("s3: invalid endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", cfg.Endpoint)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize || cfg.PartSize > 1<<30 {
		return nil, fmt.Errorf("s3: part size %d out of range: S3 wants 5 MiB to 5 GiB (and silo at most 1 GiB, as it is held in memory)", cfg.PartSize)
	}
	client, err := minio.New(ep.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure: ep.Scheme == "https",
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	s := &Store{
		client:   client,
		core:     minio.Core{Client: client},
		bucket:   cfg.Bucket,
		endpoint: cfg.Endpoint,
		partSize: cfg.PartSize,
	}
	s.small.New = func() any { b := make([]byte, smallSize); return &b }
	s.parts.New = func() any { b := make([]byte, s.partSize); return &b }
	// Fail fast: a node that cannot reach its blobs must not start. The
	// client retries network errors; bound how long that may take.
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Ping checks that the bucket is reachable with the store's credentials.
func (s *Store) Ping(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		if code := minio.ToErrorResponse(err).Code; code != "" {
			return fault(fmt.Errorf("s3: bucket %q at %s: %s (%w)", s.bucket, s.endpoint, code, err))
		}
		return fault(fmt.Errorf("s3: cannot reach %s: %w", s.endpoint, err))
	}
	if !ok {
		return fmt.Errorf("s3: bucket %q does not exist at %s; create it first", s.bucket, s.endpoint)
	}
	return s.probeWrite(ctx)
}

// probeWrite stores and removes a tiny object, so that a bucket that can be
// listed but not written (a full or read-only server) fails Ping. Its key is
// not a blob key: List, and so fsck, never see it.
func (s *Store) probeWrite(ctx context.Context) error {
	key := "ready-probe-" + silo.NewBlobKey()
	body := []byte("silo ready probe\n")
	if _, err := s.core.PutObject(ctx, s.bucket, key, bytes.NewReader(body), int64(len(body)), "", sha256Hex(body), minio.PutObjectOptions{}); err != nil {
		return fault(fmt.Errorf("s3: probe write to bucket %q: %w", s.bucket, err))
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fault(fmt.Errorf("s3: probe delete in bucket %q: %w", s.bucket, err))
	}
	return nil
}

func checkKey(key string) error {
	if !silo.ValidBlobKey(key) {
		return fmt.Errorf("s3: invalid blob key %q", key)
	}
	return nil
}

// Open reads length bytes of the blob from offset (length < 0: to the end)
// with one ranged GET. Reading from past the end gives no bytes.
func (s *Store) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, fmt.Errorf("s3: negative offset %d", offset)
	}
	if length == 0 {
		// No range means zero bytes; only the blob's existence matters.
		if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
			return nil, s.readError(key, err)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		opts.SetRange(offset, offset+length-1)
	case offset > 0:
		opts.SetRange(offset, 0)
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, key, opts)
	if err == nil {
		return body, nil
	}
	if minio.ToErrorResponse(err).Code == "InvalidRange" {
		// The range starts past the end: like reading a file there, that
		// is no bytes, as long as the blob exists at all.
		if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
			return nil, s.readError(key, err)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	return nil, s.readError(key, err)
}

// fault classifies an error of the S3 server or of the way to it: a 5xx
// answer, throttling, a timeout or a failed connection is the blob store's
// fault and may pass (503); anything else is returned unchanged.
func fault(err error) error {
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch {
		case er.StatusCode >= 500, er.StatusCode == 429,
			er.Code == "SlowDown", er.Code == "ServiceUnavailable", er.Code == "InternalError", er.Code == "RequestTimeout":
			return silo.Unavailable(silo.DepBlobs, err)
		}
	}
	return silo.Fault(silo.DepBlobs, err)
}

func (s *Store) readError(key string, err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound {
		return silo.Errorf(silo.ENOTFOUND, "blob %s not found", key)
	}
	return fault(fmt.Errorf("s3: get %s: %w", key, err))
}

// Delete aborts any multipart upload under key, then removes the object.
// In that order: an upload that completes between the two is removed too.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	resumable := false
	err := s.uploads(ctx, key, func(u minio.ObjectMultipartInfo) error {
		if u.Key != key {
			return nil // another key that starts with this one
		}
		resumable = true // or a Put's leftover: a listing of tails tells
		if err := s.core.AbortMultipartUpload(ctx, s.bucket, key, u.UploadID); err != nil &&
			minio.ToErrorResponse(err).Code != "NoSuchUpload" {
			return fault(fmt.Errorf("s3: abort upload of %s: %w", key, err))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if resumable {
		// A resumable upload's tails (append.go) go with it.
		if err := s.removeTails(ctx, key); err != nil {
			return err
		}
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil &&
		minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return fault(fmt.Errorf("s3: delete %s: %w", key, err))
	}
	return nil
}

// uploads calls fn with every incomplete multipart upload whose key starts
// with prefix.
func (s *Store) uploads(ctx context.Context, prefix string, fn func(minio.ObjectMultipartInfo) error) error {
	var keyMarker, idMarker string
	for {
		res, err := s.core.ListMultipartUploads(ctx, s.bucket, prefix, keyMarker, idMarker, "", 1000)
		if err != nil {
			return fault(fmt.Errorf("s3: list multipart uploads: %w", err))
		}
		for _, u := range res.Uploads {
			if err := fn(u); err != nil {
				return err
			}
		}
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			return nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// uploadSize sums the parts an incomplete upload has received so far.
func (s *Store) uploadSize(ctx context.Context, key, uploadID string) (int64, error) {
	var size int64
	marker := 0
	for {
		res, err := s.core.ListObjectParts(ctx, s.bucket, key, uploadID, marker, 1000)
		if err != nil {
			if minio.ToErrorResponse(err).Code == "NoSuchUpload" {
				return size, nil // completed or aborted meanwhile
			}
			return 0, fault(fmt.Errorf("s3: list parts of %s: %w", key, err))
		}
		for _, p := range res.ObjectParts {
			size += p.Size
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			return size, nil
		}
		marker = res.NextPartNumberMarker
	}
}

// List calls fn with every blob, and with every key that has only an
// incomplete multipart upload (with the bytes it holds so far), so that
// sweeps and fsck see what a crashed Put left. Objects whose names are not
// blob keys are not silo's and are left out. Each key comes once.
func (s *Store) List(ctx context.Context, fn func(key string, size int64) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine if fn fails
	// Incomplete uploads are few (each is a Put in flight or a crash's
	// leftover), so they are gathered first and the objects streamed.
	pending := map[string]int64{}
	var order []string
	err := s.uploads(ctx, "", func(u minio.ObjectMultipartInfo) error {
		if !silo.ValidBlobKey(u.Key) {
			return nil
		}
		n, err := s.uploadSize(ctx, u.Key, u.UploadID)
		if err != nil {
			return err
		}
		if _, ok := pending[u.Key]; !ok {
			order = append(order, u.Key)
		}
		pending[u.Key] += n
		return nil
	})
	if err != nil {
		return err
	}
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			return fault(fmt.Errorf("s3: list objects: %w", obj.Err))
		}
		if !silo.ValidBlobKey(obj.Key) {
			continue
		}
		if _, ok := pending[obj.Key]; ok {
			delete(pending, obj.Key)
		}
		if err := fn(obj.Key, obj.Size); err != nil {
			return err
		}
	}
	for _, key := range order {
		if n, ok := pending[key]; ok {
			if err := fn(key, n); err != nil {
				return err
			}
		}
	}
	return nil
}

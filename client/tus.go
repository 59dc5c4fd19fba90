package client

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Resumable uploads (tus 1.0.0, silo's /v1/uploads): a large file goes in
// chunks, each with its SHA-256, and a dropped connection or a server
// that answers 5xx costs only the chunk in flight: the client asks the
// server where to go on (HEAD) and goes on from there. The upload's URL is
// kept in a small state file, so a client that was killed resumes it when
// run again on the same file.

// Tus is one resumable upload's state on the server, as a HEAD or PATCH
// answers it.
type Tus struct {
	URL       string
	Offset    int64
	Length    int64
	DatasetID string // Silo-Dataset-Id, once the upload became a dataset
}

func (c *Client) tusRequest(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := c.newRequest(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	return req, nil
}

// tusDo sends a tus request; an answer of 400 or more is an *Error.
func (c *Client) tusDo(req *http.Request) (*http.Response, error) {
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach silo at %s: %w", c.URL, unwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 400 {
		return nil, errorOf(resp, raw)
	}
	return resp, nil
}

func tusState(url string, resp *http.Response) (*Tus, error) {
	t := &Tus{URL: url, DatasetID: resp.Header.Get("Silo-Dataset-Id"), Length: -1}
	var err error
	if t.Offset, err = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64); err != nil {
		return nil, fmt.Errorf("the server's answer has no Upload-Offset")
	}
	if l := resp.Header.Get("Upload-Length"); l != "" {
		t.Length, _ = strconv.ParseInt(l, 10, 64)
	}
	return t, nil
}

// CreateTus opens an upload of length bytes with metadata (the dataset's
// name and type, its filename, create parameters).
func (c *Client) CreateTus(ctx context.Context, length int64, meta map[string]string) (*Tus, error) {
	return c.createTus(ctx, map[string]string{"Upload-Length": strconv.FormatInt(length, 10)}, length, meta)
}

// CreateTusPartial opens a partial upload (concatenation), to be joined by
// ConcatTus.
func (c *Client) CreateTusPartial(ctx context.Context, length int64) (*Tus, error) {
	return c.createTus(ctx, map[string]string{"Upload-Length": strconv.FormatInt(length, 10), "Upload-Concat": "partial"}, length, nil)
}

// ConcatTus joins complete partial uploads, in order, into a final upload
// with metadata (a dataset's name and type make it one at once).
func (c *Client) ConcatTus(ctx context.Context, urls []string, meta map[string]string) (*Tus, error) {
	return c.createTus(ctx, map[string]string{"Upload-Concat": "final;" + strings.Join(urls, " ")}, -1, meta)
}

func (c *Client) createTus(ctx context.Context, hdr map[string]string, length int64, meta map[string]string) (*Tus, error) {
	req, err := c.tusRequest(ctx, http.MethodPost, "/v1/uploads", nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if len(meta) > 0 {
		req.Header.Set("Upload-Metadata", EncodeTusMetadata(meta))
	}
	resp, err := c.tusDo(req)
	if err != nil {
		return nil, err
	}
	t, err := tusState(resp.Header.Get("Location"), resp)
	if err != nil {
		return nil, err
	}
	t.Length = length
	return t, nil
}

// EncodeTusMetadata renders Upload-Metadata, keys in order.
func EncodeTusMetadata(meta map[string]string) string {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + " " + base64.StdEncoding.EncodeToString([]byte(meta[k]))
	}
	return strings.Join(pairs, ",")
}

// HeadTus asks where an upload stands.
func (c *Client) HeadTus(ctx context.Context, url string) (*Tus, error) {
	req, err := c.tusRequest(ctx, http.MethodHead, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.tusDo(req)
	if err != nil {
		return nil, err
	}
	return tusState(url, resp)
}

// PatchTus sends n bytes of body at offset, with their SHA-256 (sum).
func (c *Client) PatchTus(ctx context.Context, url string, offset int64, body io.Reader, n int64, sum []byte) (*Tus, error) {
	req, err := c.tusRequest(ctx, http.MethodPatch, url, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = n
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(offset, 10))
	req.Header.Set("Upload-Checksum", "sha256 "+base64.StdEncoding.EncodeToString(sum))
	resp, err := c.tusDo(req)
	if err != nil {
		return nil, err
	}
	return tusState(url, resp)
}

// ResumableFile is a file to send as a resumable upload.
type ResumableFile struct {
	Path      string
	Metadata  map[string]string
	ChunkSize int64         // bytes per PATCH
	RetryFor  time.Duration // how long to keep retrying a failing upload
	// StateDir keeps the URL of the file's upload between runs (one small
	// file per upload, removed once it is done); "" keeps none.
	StateDir string
	// Progress, if set, is told the offset the server holds: first the
	// one the upload resumes from, then after each chunk.
	Progress func(offset, length int64)
	// Resumed, if set, is told the offset a resumed upload goes on from.
	Resumed func(offset int64)
}

// UploadResumable sends a file as a resumable upload and returns its final
// state (with DatasetID if the metadata asked for a dataset). A chunk that
// fails on the way (a dropped connection, a 5xx, a 423 of a lock still held,
// a checksum the server saw differ) is retried from the server's offset,
// with backoff, for RetryFor; any other refusal ends it.
func (c *Client) UploadResumable(ctx context.Context, f ResumableFile) (*Tus, error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	statePath := ""
	if f.StateDir != "" {
		statePath = filepath.Join(f.StateDir, c.stateName(f, st))
	}
	t, err := c.resumeOrCreate(ctx, statePath, size, f)
	if err != nil {
		return nil, err
	}
	if f.Progress != nil {
		f.Progress(t.Offset, size)
	}
	deadline := time.Now().Add(f.RetryFor)
	wait := 500 * time.Millisecond
	var ahead *chunkSum // the next chunk's SHA-256, computed while this one is sent
	for t.Offset < size {
		n := min(f.ChunkSize, size-t.Offset)
		sum := ahead.take(t.Offset, n)
		if sum == nil {
			sum = (&chunkSum{off: t.Offset, n: n}).hash(fh)
		}
		if end := t.Offset + n; end < size {
			ahead = startChunkSum(fh, end, min(f.ChunkSize, size-end))
		}
		next, err := c.patchChunk(ctx, fh, t, n, sum)
		if err == nil {
			t, wait = next, 500*time.Millisecond
			if f.Progress != nil {
				f.Progress(t.Offset, size)
			}
			continue
		}
		if !retryable(err) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 15*time.Second)
		if head, herr := c.HeadTus(ctx, t.URL); herr == nil {
			t = head
			if f.Resumed != nil {
				f.Resumed(t.Offset)
			}
		} else if !retryable(herr) {
			return nil, herr
		}
	}
	if t.DatasetID == "" && f.Metadata["name"] != "" {
		// The last answer was lost: the HEAD says what became of it.
		if head, err := c.HeadTus(ctx, t.URL); err == nil {
			t = head
		}
	}
	if statePath != "" {
		os.Remove(statePath)
	}
	return t, nil
}

// resumeOrCreate goes on with the upload the state file names, if the
// server still has it for a file of this size; otherwise it opens one.
func (c *Client) resumeOrCreate(ctx context.Context, statePath string, size int64, f ResumableFile) (*Tus, error) {
	if statePath != "" {
		if b, err := os.ReadFile(statePath); err == nil {
			var saved struct{ URL string }
			if json.Unmarshal(b, &saved) == nil && saved.URL != "" {
				t, err := c.HeadTus(ctx, saved.URL)
				if err == nil && t.Length == size {
					if f.Resumed != nil {
						f.Resumed(t.Offset)
					}
					return t, nil
				}
			}
		}
	}
	t, err := c.CreateTus(ctx, size, f.Metadata)
	if err != nil {
		return nil, err
	}
	if statePath != "" {
		if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err == nil {
			b, _ := json.Marshal(map[string]string{"URL": t.URL})
			os.WriteFile(statePath, b, 0o600)
		}
	}
	return t, nil
}

// stateName names an upload's state file by what makes it the same upload:
// the server, the key, the file (path, size, modification time) and what
// it is sent as.
func (c *Client) stateName(f ResumableFile, st os.FileInfo) string {
	abs, _ := filepath.Abs(f.Path)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%d\n%d\n%s", c.URL, c.Key, abs, st.Size(), st.ModTime().UnixNano(), EncodeTusMetadata(f.Metadata))
	return fmt.Sprintf("upload-%x.json", h.Sum(nil)[:12])
}

// patchChunk sends n bytes of fh at the upload's offset with their SHA-256.
func (c *Client) patchChunk(ctx context.Context, fh *os.File, t *Tus, n int64, sum *chunkSum) (*Tus, error) {
	if sum.err != nil {
		return nil, sum.err
	}
	body, err := chunkBody(fh, t.Offset, n)
	if err != nil {
		return nil, err
	}
	defer body.Close() // the transport closes it too; a second Close does nothing
	next, err := c.PatchTus(ctx, t.URL, t.Offset, body, n, sum.sum)
	if err != nil {
		return nil, err
	}
	next.Length = t.Length
	return next, nil
}

// chunkBody is n bytes of the file fh from off, read through a file of
// its own. net/http sends a body that is a syscall.Conn with sendfile(2)
// (for at most the Content-Length), so the chunk goes from the page cache
// to the socket without a copy through the client's memory: the CLI
// shares the machine's cores with whatever else runs (the server too, when
// it is local).
func chunkBody(fh *os.File, off, n int64) (*fileChunk, error) {
	f, err := os.Open(fh.Name())
	if err != nil {
		return nil, err
	}
	a, aerr := fh.Stat()
	b, berr := f.Stat()
	if aerr != nil || berr != nil || !os.SameFile(a, b) {
		f.Close()
		return nil, fmt.Errorf("%s was replaced during its upload", fh.Name())
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &fileChunk{f: f, end: off + n}, nil
}

// fileChunk reads its file up to end. The end is told by the file's
// offset, which sendfile moves too: after sending the Content-Length,
// net/http reads on to make sure the body has no more, and a plain
// *os.File would have it read the rest of the file.
type fileChunk struct {
	f   *os.File
	end int64
}

func (c *fileChunk) Read(p []byte) (int, error) {
	off, err := c.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	if off >= c.end {
		return 0, io.EOF
	}
	if int64(len(p)) > c.end-off {
		p = p[:c.end-off]
	}
	return c.f.Read(p)
}

func (c *fileChunk) Close() error { return c.f.Close() }

// SyscallConn is what lets net/http send the chunk with sendfile(2).
func (c *fileChunk) SyscallConn() (syscall.RawConn, error) { return c.f.SyscallConn() }

// chunkSum is the SHA-256 of a chunk of the file, computed on its own
// goroutine while the chunk before is sent: with 64 MiB chunks, hashing
// each before sending it left the server idle for a tenth of the time.
type chunkSum struct {
	off, n int64
	sum    []byte
	err    error
	done   chan struct{}
}

// hash fills in the sum of the chunk.
func (cs *chunkSum) hash(fh *os.File) *chunkSum {
	h := sha256.New()
	// In 1 MiB reads: io.Copy's 32 KiB made 32,768 preads per GiB.
	_, cs.err = io.CopyBuffer(h, io.NewSectionReader(fh, cs.off, cs.n), make([]byte, 1<<20))
	cs.sum = h.Sum(nil)
	return cs
}

// startChunkSum hashes a chunk on its own goroutine; take waits for it.
func startChunkSum(fh *os.File, off, n int64) *chunkSum {
	cs := &chunkSum{off: off, n: n, done: make(chan struct{})}
	go func() { cs.hash(fh); close(cs.done) }()
	return cs
}

// take returns the sum if it is the one of the chunk at off of n bytes
// (a resumed upload may go on from elsewhere).
func (cs *chunkSum) take(off, n int64) *chunkSum {
	if cs == nil {
		return nil
	}
	<-cs.done
	if cs.off != off || cs.n != n {
		return nil
	}
	return cs
}

// retryable: what a resumable upload rides through.
func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status >= 500 || e.Status == http.StatusLocked || e.Status == http.StatusConflict || e.Status == 460 || e.Status == http.StatusTooManyRequests
	}
	return !errors.Is(err, context.Canceled) // the network
}

// CreateFromUploads makes a dataset of complete uploads (POST
// /v1/datasets?upload_id=...): the data file's, and the eval file's if
// evalURL is not "".
func (c *Client) CreateFromUploads(ctx context.Context, r UploadRequest, dataURL, evalURL string) (string, json.RawMessage, error) {
	q := urlValues(r)
	q.Set("upload_id", dataURL[strings.LastIndex(dataURL, "/")+1:])
	if evalURL != "" {
		q.Set("eval_upload_id", evalURL[strings.LastIndex(evalURL, "/")+1:])
	}
	var out struct {
		ID string `json:"id"`
	}
	raw, err := c.call(ctx, http.MethodPost, "/v1/datasets?"+q.Encode(), &out)
	return out.ID, raw, err
}

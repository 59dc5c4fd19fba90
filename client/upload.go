package client

import (
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
)

// File is a file to upload. Size is its length in bytes, or -1 when unknown;
// when every file's size is known the request carries a Content-Length, so
// that silo can refuse an upload over quota before it is sent.
type File struct {
	Name string // the filename sent; its extension tells silo the format
	Body io.Reader
	Size int64
}

// UploadRequest is a create: Cohere's query parameters and the files.
type UploadRequest struct {
	Name   string
	Type   string
	Data   File
	Eval   *File      // optional evaluation file
	Params url.Values // further query parameters (keep_original_file, csv_delimiter...)
	// IdempotencyKey, if set, makes a retried create return the first answer.
	IdempotencyKey string
}

// Upload creates a dataset and returns its id and the raw answer. The body
// is written through a pipe while it is sent: memory use does not grow with
// the files.
func (c *Client) Upload(ctx context.Context, r UploadRequest) (string, json.RawMessage, error) {
	q := urlValues(r)
	files := []formFile{{"data", r.Data}}
	if r.Eval != nil {
		files = append(files, formFile{"eval_data", *r.Eval})
	}
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	req, err := c.newRequest(ctx, http.MethodPost, "/v1/datasets?"+q.Encode(), pr)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.ContentLength = multipartLength(mw.Boundary(), files)
	if r.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.IdempotencyKey)
	}
	go func() { pw.CloseWithError(writeFiles(mw, files)) }()
	var out struct {
		ID string `json:"id"`
	}
	raw, err := c.do(req, &out)
	// The transport closes the body when it is done with it; closing here
	// too ends the writer goroutine on every path, even an early answer.
	pr.Close()
	return out.ID, raw, err
}

// urlValues are a create's query parameters.
func urlValues(r UploadRequest) url.Values {
	q := url.Values{}
	for k, v := range r.Params {
		q[k] = v
	}
	q.Set("name", r.Name)
	q.Set("type", r.Type)
	return q
}

type formFile struct {
	field string
	file  File
}

func writeFiles(mw *multipart.Writer, files []formFile) error {
	for _, f := range files {
		w, err := mw.CreateFormFile(f.field, f.file.Name)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, f.file.Body); err != nil {
			return err
		}
	}
	return mw.Close()
}

// multipartLength is the exact length of the multipart body, computed by
// writing its framing to a counter; -1 (chunked) if a size is unknown.
func multipartLength(boundary string, files []formFile) int64 {
	var n counter
	mw := multipart.NewWriter(&n)
	mw.SetBoundary(boundary)
	for _, f := range files {
		if f.file.Size < 0 {
			return -1
		}
		mw.CreateFormFile(f.field, f.file.Name)
		n += counter(f.file.Size)
	}
	mw.Close()
	return int64(n)
}

type counter int64

func (c *counter) Write(p []byte) (int, error) {
	*c += counter(len(p))
	return len(p), nil
}

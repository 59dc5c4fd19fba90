package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Dataset is the API's Dataset object (Cohere's fields and silo's).
type Dataset struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name"`
	CreatedAt          time.Time       `json:"created_at"`
	UpdatedAt          time.Time       `json:"updated_at"`
	DatasetType        string          `json:"dataset_type"`
	ValidationStatus   string          `json:"validation_status"`
	ValidationError    string          `json:"validation_error,omitempty"`
	ValidationWarnings []string        `json:"validation_warnings,omitempty"`
	DatasetParts       []Part          `json:"dataset_parts"`
	Metrics            json.RawMessage `json:"metrics,omitempty"`
	SizeBytes          int64           `json:"size_bytes"`
	ClientName         string          `json:"client_name,omitempty"`
	ExpiresAt          *time.Time      `json:"expires_at,omitempty"`
	ProjectID          *string         `json:"project_id,omitempty"` // nil outside projects
}

// Part is one file of a dataset.
type Part struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Index       int    `json:"index"`
	Kind        string `json:"kind"` // train or eval
	SizeBytes   int64  `json:"size_bytes"`
	NumRows     int64  `json:"num_rows"`
	URL         string `json:"url,omitempty"`          // the Avro rendering, once validated
	OriginalURL string `json:"original_url,omitempty"` // the uploaded file, unless not kept
	SHA256      string `json:"sha256"`
}

// Final reports whether validation has ended.
func (d *Dataset) Final() bool {
	switch d.ValidationStatus {
	case "validated", "failed", "skipped":
		return true
	}
	return false
}

// Rows is the number of rows kept in all parts.
func (d *Dataset) Rows() int64 {
	var n int64
	for _, p := range d.DatasetParts {
		n += p.NumRows
	}
	return n
}

// Part returns the training part, or with eval the evaluation part.
func (d *Dataset) Part(eval bool) (*Part, error) {
	want := "train"
	if eval {
		want = "eval"
	}
	for i := range d.DatasetParts {
		if d.DatasetParts[i].Kind == want {
			return &d.DatasetParts[i], nil
		}
	}
	if eval {
		return nil, fmt.Errorf("dataset %s has no evaluation file", d.ID)
	}
	return nil, fmt.Errorf("dataset %s has no data file", d.ID)
}

// DownloadURL picks the URL of a part to download: the uploaded file, or
// the Avro rendering with avro or when the upload was not kept.
func (p *Part) DownloadURL(avro bool) (string, error) {
	if !avro && p.OriginalURL != "" {
		return p.OriginalURL, nil
	}
	if p.URL == "" {
		if avro {
			return "", fmt.Errorf("part %s has no Avro file yet: it appears once validation succeeds", p.Name)
		}
		return "", fmt.Errorf("part %s has neither its original file nor an Avro file", p.Name)
	}
	return p.URL, nil
}

// ListOptions filter a list; zero values select everything.
type ListOptions struct {
	Type   string
	Status string
	Before time.Time
	After  time.Time
	Limit  int
	Offset int
}

func (o ListOptions) query() string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("datasetType", o.Type)
	set("validationStatus", o.Status)
	if !o.Before.IsZero() {
		q.Set("before", o.Before.UTC().Format(time.RFC3339Nano))
	}
	if !o.After.IsZero() {
		q.Set("after", o.After.UTC().Format(time.RFC3339Nano))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Offset > 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// List returns the datasets of the key's organisation, newest first, and
// the raw answer.
func (c *Client) List(ctx context.Context, o ListOptions) ([]Dataset, json.RawMessage, error) {
	var out struct {
		Datasets []Dataset `json:"datasets"`
	}
	raw, err := c.call(ctx, http.MethodGet, "/v1/datasets"+o.query(), &out)
	return out.Datasets, raw, err
}

// Get returns one dataset and the raw answer.
func (c *Client) Get(ctx context.Context, id string) (*Dataset, json.RawMessage, error) {
	var out struct {
		Dataset *Dataset `json:"dataset"`
	}
	raw, err := c.call(ctx, http.MethodGet, "/v1/datasets/"+url.PathEscape(id), &out)
	if err == nil && out.Dataset == nil {
		err = fmt.Errorf("the answer has no dataset")
	}
	return out.Dataset, raw, err
}

// Delete deletes a dataset.
func (c *Client) Delete(ctx context.Context, id string) error {
	_, err := c.call(ctx, http.MethodDelete, "/v1/datasets/"+url.PathEscape(id), nil)
	return err
}

// Wait polls a dataset every interval until its validation ends.
func (c *Client) Wait(ctx context.Context, id string, interval time.Duration) (*Dataset, json.RawMessage, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		d, raw, err := c.Get(ctx, id)
		if err != nil || d.Final() {
			return d, raw, err
		}
		select {
		case <-ctx.Done():
			return d, raw, ctx.Err()
		case <-t.C:
		}
	}
}

// Download opens a part's signed URL. The URL is the capability: no key is
// sent. size is -1 when the server does not say.
func (c *Client) Download(ctx context.Context, signedURL string) (body io.ReadCloser, size int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, signedURL, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot reach silo: %w", unwrapURLError(err))
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, 0, errorOf(resp, raw)
	}
	return resp.Body, resp.ContentLength, nil
}

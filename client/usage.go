package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Usage is the organisation's usage with silo's extensions.
type Usage struct {
	OrganizationUsage int64  `json:"organization_usage"`
	LimitBytes        int64  `json:"limit_bytes"`
	ReservedBytes     int64  `json:"reserved_bytes"`
	AsOf              string `json:"as_of"`
	// A project key's project (empty for a key of the whole
	// organisation); ProjectLimitBytes nil: no quota of its own.
	ProjectID            string `json:"project_id,omitempty"`
	ProjectUsage         int64  `json:"project_usage"`
	ProjectLimitBytes    *int64 `json:"project_limit_bytes"`
	ProjectReservedBytes int64  `json:"project_reserved_bytes"`
}

// Share is one line of a usage breakdown.
type Share struct {
	Key      string `json:"key"`
	Name     string `json:"name,omitempty"` // by key: the key's name, or "unknown"
	Datasets int64  `json:"datasets"`
	Bytes    int64  `json:"bytes"`
}

// Breakdown is the usage by dataset type, by client name and by the API
// key that created each dataset.
type Breakdown struct {
	ByType    []Share        `json:"by_type"`
	ByClient  []Share        `json:"by_client"`
	ByKey     []Share        `json:"by_key"`
	ByProject []ProjectShare `json:"by_project"`
}

// ProjectShare is one line of the split by project; ProjectID nil for the
// datasets of no project.
type ProjectShare struct {
	ProjectID *string `json:"project_id"`
	Name      string  `json:"name,omitempty"`
	Datasets  int64   `json:"datasets"`
	Bytes     int64   `json:"bytes"`
}

// Sample is the usage at one moment.
type Sample struct {
	At        time.Time `json:"at"`
	UsedBytes int64     `json:"used_bytes"`
}

// Usage returns the key's organisation's usage and the raw answer.
func (c *Client) Usage(ctx context.Context) (*Usage, json.RawMessage, error) {
	var u Usage
	raw, err := c.call(ctx, http.MethodGet, "/v1/datasets/usage", &u)
	return &u, raw, err
}

// Breakdown returns the usage by dataset type, by client name and by key.
func (c *Client) Breakdown(ctx context.Context) (*Breakdown, json.RawMessage, error) {
	var b Breakdown
	raw, err := c.call(ctx, http.MethodGet, "/v1/datasets/usage/breakdown", &b)
	return &b, raw, err
}

// History returns up to limit of the newest usage samples since a moment
// (zero: all), oldest first.
func (c *Client) History(ctx context.Context, since time.Time, limit int) ([]Sample, json.RawMessage, error) {
	q := url.Values{}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Samples []Sample `json:"samples"`
	}
	raw, err := c.call(ctx, http.MethodGet, "/v1/datasets/usage/history?"+q.Encode(), &out)
	return out.Samples, raw, err
}

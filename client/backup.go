package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Backup starts a backup of the whole service (admin keys): body is the
// tar, size its length. A body that ends before size bytes is a failed
// backup (reading it then fails).
func (c *Client) Backup(ctx context.Context) (body io.ReadCloser, size int64, err error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/admin/backup", nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("cannot reach silo at %s: %w", c.URL, unwrapURLError(err))
	}
	if resp.StatusCode >= 400 {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, 0, errorOf(resp, raw)
	}
	return resp.Body, resp.ContentLength, nil
}

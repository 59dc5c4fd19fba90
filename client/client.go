// Package client is a small Go client of silo's HTTP API: the Cohere
// datasets routes, silo's usage extensions and the admin API. The silo
// command line is built on it.
//
// Uploads stream: a file goes from its reader into the request through a
// pipe, so no file is ever held in memory whole. Downloads follow the
// signed URLs of a dataset's parts, which need no key.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to one silo server with one API key.
type Client struct {
	URL        string       // base URL, e.g. http://127.0.0.1:8080
	Key        string       // API key, sent as Authorization: Bearer
	ClientName string       // X-Client-Name; silo records it on created datasets
	HTTP       *http.Client // default http.DefaultClient
}

// New returns a client of the server at url.
func New(url, key string) *Client {
	return &Client{URL: strings.TrimRight(url, "/"), Key: key, ClientName: "silo-cli"}
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

// defaultHTTP is http.DefaultClient's transport with large buffers: the
// default 4 KiB write buffer made a write syscall per 4 KiB of an upload
// (a resumable upload's 64 MiB chunks ran at 0.65× of curl's single POST).
var defaultHTTP = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.WriteBufferSize, tr.ReadBufferSize = 256<<10, 64<<10
	return &http.Client{Transport: tr}
}()

// Error is an answer of the server with a status of 400 or more: its
// status and the message of its {"message"} body.
type Error struct {
	Status    int
	Message   string
	RequestID string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = strings.ToLower(http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s (HTTP %d)", strings.TrimSuffix(msg, "\n"), e.Status)
}

// newRequest builds an authenticated API request.
// path is under the server's URL, or (a resumable upload's Location) an
// absolute URL.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	if !strings.Contains(path, "://") {
		path = c.URL + path
	}
	req, err := http.NewRequestWithContext(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	if c.ClientName != "" {
		req.Header.Set("X-Client-Name", c.ClientName)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// do sends req and decodes a JSON answer into out (if not nil); it returns
// the raw body, which the command line prints for --json.
func (c *Client) do(req *http.Request, out any) (json.RawMessage, error) {
	resp, err := c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach silo at %s: %w", c.URL, unwrapURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode >= 400 {
		return nil, errorOf(resp, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s answered something that is not the JSON silo sends: %w", req.Method, req.URL.Path, err)
		}
	}
	return json.RawMessage(bytes.TrimSpace(raw)), nil
}

func errorOf(resp *http.Response, raw []byte) error {
	e := &Error{Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var body struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		e.Message = body.Message
	} else if len(raw) < 200 {
		e.Message = strings.TrimSpace(string(raw))
	}
	return e
}

// unwrapURLError drops net/url's "Get \"http://...\":" prefix: the
// caller already names the server.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// call is do for a request without a body.
func (c *Client) call(ctx context.Context, method, path string, out any) (json.RawMessage, error) {
	req, err := c.newRequest(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	return c.do(req, out)
}

// callJSON is do for a request with a JSON body.
func (c *Client) callJSON(ctx context.Context, method, path string, in, out any) (json.RawMessage, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := c.newRequest(ctx, method, path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, out)
}

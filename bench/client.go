package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// client talks to one silo as one API key.
type client struct {
	base string
	key  string
	http *http.Client
}

func newClient(base, key string) *client {
	// A large write buffer, as curl and the SDKs use: the client's
	// syscalls are not what is measured.
	tr := &http.Transport{MaxIdleConnsPerHost: 64, WriteBufferSize: 256 << 10, ReadBufferSize: 64 << 10, DisableCompression: true}
	return &client{base: base, key: key, http: &http.Client{Transport: tr}}
}

func (c *client) do(method, path string, body io.Reader, out any) error {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// newOrgKey creates an organisation with a quota and a writer key for it,
// through the admin API; it returns a client with that key.
func (c *client) newOrgKey(name string, quota int64) (*client, error) {
	var org struct{ ID string }
	body := fmt.Sprintf(`{"name":%q,"quota_bytes":%d}`, name, quota)
	if err := c.do("POST", "/v1/admin/orgs", bytes.NewBufferString(body), &org); err != nil {
		return nil, err
	}
	var key struct{ Key string }
	body = fmt.Sprintf(`{"org_id":%q,"role":"writer","name":"bench"}`, org.ID)
	if err := c.do("POST", "/v1/admin/keys", bytes.NewBufferString(body), &key); err != nil {
		return nil, err
	}
	return newClient(c.base, key.Key), nil
}

// upload creates a dataset from a file, streamed from disk in a multipart
// body (never read into memory), with a Content-Length as the SDKs send
// or, if !sized, chunked. It returns the id and how long until the 200.
func (c *client) upload(path, typ string, sized bool) (string, time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	const boundary = "silo-bench-boundary-7f3a9c"
	head := fmt.Sprintf("--%s\r\nContent-Disposition: form-data; name=\"data\"; filename=%q\r\nContent-Type: application/octet-stream\r\n\r\n",
		boundary, filepath.Base(path))
	tail := "\r\n--" + boundary + "--\r\n"
	var body io.Reader = io.MultiReader(bytes.NewReader([]byte(head)), f, bytes.NewReader([]byte(tail)))
	if !sized {
		body = struct{ io.Reader }{body} // unknown length: chunked
	}
	req, err := http.NewRequest("POST", c.base+"/v1/datasets?name=bench&type="+typ, body)
	if err != nil {
		return "", 0, err
	}
	if sized {
		req.ContentLength = int64(len(head)) + st.Size() + int64(len(tail))
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return "", 0, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return "", 0, fmt.Errorf("create: %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	var out struct{ ID string }
	if err := json.Unmarshal(b, &out); err != nil {
		return "", 0, err
	}
	return out.ID, took, nil
}

// waitFinal polls a dataset until validation ends; it returns the status.
func (c *client) waitFinal(id string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		var d struct {
			Dataset struct {
				ValidationStatus string `json:"validation_status"`
				ValidationError  string `json:"validation_error"`
			}
		}
		if err := c.do("GET", "/v1/datasets/"+id, nil, &d); err != nil {
			return "", err
		}
		switch s := d.Dataset.ValidationStatus; s {
		case "validated", "failed", "skipped":
			if s == "failed" {
				return s, fmt.Errorf("dataset %s failed validation: %s", id, d.Dataset.ValidationError)
			}
			return s, nil
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("dataset %s not validated within %v", id, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *client) delete(id string) error { return c.do("DELETE", "/v1/datasets/"+id, nil, nil) }

func (c *client) usage() (int64, error) {
	var u struct {
		OrganizationUsage int64 `json:"organization_usage"`
	}
	err := c.do("GET", "/v1/datasets/usage", nil, &u)
	return u.OrganizationUsage, err
}

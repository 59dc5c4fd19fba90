package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Project is a project of an organisation as the admin API shows it;
// QuotaBytes nil: no quota of its own (the organisation's caps it).
type Project struct {
	ID            string    `json:"id"`
	OrgID         string    `json:"org_id"`
	Name          string    `json:"name"`
	QuotaBytes    *int64    `json:"quota_bytes"`
	UsageBytes    int64     `json:"usage_bytes"`
	ReservedBytes int64     `json:"reserved_bytes"`
	CreatedAt     time.Time `json:"created_at"`
}

// CreateProject creates a project in an organisation; quota nil means none
// of its own.
func (c *Client) CreateProject(ctx context.Context, orgID, name string, quota *int64) (*Project, json.RawMessage, error) {
	var p Project
	raw, err := c.callJSON(ctx, http.MethodPost, "/v1/admin/projects", map[string]any{"org_id": orgID, "name": name, "quota_bytes": quota}, &p)
	return &p, raw, err
}

// Projects lists the projects of one organisation, or of all with orgID "".
func (c *Client) Projects(ctx context.Context, orgID string) ([]Project, json.RawMessage, error) {
	path := "/v1/admin/projects"
	if orgID != "" {
		path += "?org_id=" + url.QueryEscape(orgID)
	}
	var out struct {
		Projects []Project `json:"projects"`
	}
	raw, err := c.call(ctx, http.MethodGet, path, &out)
	return out.Projects, raw, err
}

// Project returns one project with its usage.
func (c *Client) Project(ctx context.Context, id string) (*Project, json.RawMessage, error) {
	var p Project
	raw, err := c.call(ctx, http.MethodGet, "/v1/admin/projects/"+url.PathEscape(id), &p)
	return &p, raw, err
}

// SetProjectQuota changes a project's quota; nil removes it (the
// organisation's quota still caps the project).
func (c *Client) SetProjectQuota(ctx context.Context, id string, quota *int64) (*Project, json.RawMessage, error) {
	var p Project
	raw, err := c.callJSON(ctx, http.MethodPatch, "/v1/admin/projects/"+url.PathEscape(id), map[string]*int64{"quota_bytes": quota}, &p)
	return &p, raw, err
}

// DeleteProject deletes a project and revokes its keys. The server refuses
// (409) while it holds datasets, unless purge, which deletes them too.
func (c *Client) DeleteProject(ctx context.Context, id string, purge bool) error {
	path := "/v1/admin/projects/" + url.PathEscape(id)
	if purge {
		path += "?purge=true"
	}
	_, err := c.call(ctx, http.MethodDelete, path, nil)
	return err
}

// CreateProjectKey creates an API key bound to a project of orgID: it sees
// that project's datasets only, and its creates count against the
// project's quota and the organisation's.
func (c *Client) CreateProjectKey(ctx context.Context, orgID, projectID, role, name string) (*Key, json.RawMessage, error) {
	var k Key
	raw, err := c.callJSON(ctx, http.MethodPost, "/v1/admin/keys", map[string]string{"org_id": orgID, "project_id": projectID, "role": role, "name": name}, &k)
	return &k, raw, err
}

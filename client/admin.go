package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Org is an organisation as the admin API shows it.
type Org struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	QuotaBytes    int64     `json:"quota_bytes"`
	UsageBytes    int64     `json:"usage_bytes"`
	ReservedBytes int64     `json:"reserved_bytes"`
	CreatedAt     time.Time `json:"created_at"`
}

// Key is an API key; Secret is set only by CreateKey.
type Key struct {
	ID        string     `json:"id"`
	OrgID     string     `json:"org_id"`
	ProjectID string     `json:"project_id,omitempty"`
	Role      string     `json:"role"`
	Name      string     `json:"name"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Secret    string     `json:"key,omitempty"`
}

// CreateOrg creates an organisation; quota nil means the server's default.
func (c *Client) CreateOrg(ctx context.Context, name string, quota *int64) (*Org, json.RawMessage, error) {
	var o Org
	raw, err := c.callJSON(ctx, http.MethodPost, "/v1/admin/orgs", map[string]any{"name": name, "quota_bytes": quota}, &o)
	return &o, raw, err
}

// Orgs lists every organisation with its usage.
func (c *Client) Orgs(ctx context.Context) ([]Org, json.RawMessage, error) {
	var out struct {
		Orgs []Org `json:"orgs"`
	}
	raw, err := c.call(ctx, http.MethodGet, "/v1/admin/orgs", &out)
	return out.Orgs, raw, err
}

// SetQuota changes an organisation's quota.
func (c *Client) SetQuota(ctx context.Context, id string, quota int64) (*Org, json.RawMessage, error) {
	var o Org
	raw, err := c.callJSON(ctx, http.MethodPatch, "/v1/admin/orgs/"+url.PathEscape(id), map[string]int64{"quota_bytes": quota}, &o)
	return &o, raw, err
}

// Me is the key making requests and its organisation.
type Me struct {
	Key Key `json:"key"`
	Org Org `json:"org"`
}

// Me returns who the client's key is: its id, name, role and organisation.
func (c *Client) Me(ctx context.Context) (*Me, json.RawMessage, error) {
	var m Me
	raw, err := c.call(ctx, http.MethodGet, "/v1/me", &m)
	return &m, raw, err
}

// DeleteOrg deletes an organisation and revokes its keys. The server
// refuses (409) while the org holds datasets, unless purge, which deletes
// them too.
func (c *Client) DeleteOrg(ctx context.Context, id string, purge bool) error {
	path := "/v1/admin/orgs/" + url.PathEscape(id)
	if purge {
		path += "?purge=true"
	}
	_, err := c.call(ctx, http.MethodDelete, path, nil)
	return err
}

// CreateKey creates an API key; the secret is in the result only.
func (c *Client) CreateKey(ctx context.Context, orgID, role, name string) (*Key, json.RawMessage, error) {
	var k Key
	raw, err := c.callJSON(ctx, http.MethodPost, "/v1/admin/keys", map[string]string{"org_id": orgID, "role": role, "name": name}, &k)
	return &k, raw, err
}

// Keys lists the keys of one organisation, or of all with orgID "".
func (c *Client) Keys(ctx context.Context, orgID string) ([]Key, json.RawMessage, error) {
	path := "/v1/admin/keys"
	if orgID != "" {
		path += "?org_id=" + url.QueryEscape(orgID)
	}
	var out struct {
		Keys []Key `json:"keys"`
	}
	raw, err := c.call(ctx, http.MethodGet, path, &out)
	return out.Keys, raw, err
}

// RevokeKey deny-lists a key.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	_, err := c.call(ctx, http.MethodDelete, "/v1/admin/keys/"+url.PathEscape(id), nil)
	return err
}

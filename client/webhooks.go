package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook is a webhook endpoint; Secret is set only by CreateWebhook.
type Webhook struct {
	ID          string    `json:"id"`
	OrgID       *string   `json:"org_id"`
	AllOrgs     bool      `json:"all_orgs"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	Secret      string    `json:"secret,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// WebhookRequest is what CreateWebhook asks for; OrgID and AllOrgs need an
// admin key.
type WebhookRequest struct {
	URL         string   `json:"url"`
	Events      []string `json:"events,omitempty"`
	Description string   `json:"description,omitempty"`
	OrgID       string   `json:"org_id,omitempty"`
	AllOrgs     bool     `json:"all_orgs,omitempty"`
}

// Delivery is one event's delivery to an endpoint.
type Delivery struct {
	EventID        string     `json:"event_id"`
	Type           string     `json:"type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      *string    `json:"last_error"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	CreatedAt      time.Time  `json:"created_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
}

// CreateWebhook creates an endpoint.
func (c *Client) CreateWebhook(ctx context.Context, req WebhookRequest) (*Webhook, json.RawMessage, error) {
	var w Webhook
	raw, err := c.callJSON(ctx, http.MethodPost, "/v1/webhooks", req, &w)
	return &w, raw, err
}

// Webhooks lists endpoints: the key's organisation's, or (admin keys)
// orgID's, or every one with all.
func (c *Client) Webhooks(ctx context.Context, orgID string, all bool) ([]Webhook, json.RawMessage, error) {
	q := url.Values{}
	if orgID != "" {
		q.Set("org_id", orgID)
	}
	if all {
		q.Set("all_orgs", "true")
	}
	path := "/v1/webhooks"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out struct {
		Webhooks []Webhook `json:"webhooks"`
	}
	raw, err := c.call(ctx, http.MethodGet, path, &out)
	return out.Webhooks, raw, err
}

// DeleteWebhook deletes an endpoint.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	_, err := c.call(ctx, http.MethodDelete, "/v1/webhooks/"+url.PathEscape(id), nil)
	return err
}

// Deliveries lists an endpoint's newest deliveries (limit 0: the server's
// default).
func (c *Client) Deliveries(ctx context.Context, id string, limit int) ([]Delivery, json.RawMessage, error) {
	path := "/v1/webhooks/" + url.PathEscape(id) + "/deliveries"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var out struct {
		Deliveries []Delivery `json:"deliveries"`
	}
	raw, err := c.call(ctx, http.MethodGet, path, &out)
	return out.Deliveries, raw, err
}

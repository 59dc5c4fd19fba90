package silo

import (
	"context"
	"net/url"
	"strings"
)

// Webhook endpoints: an organisation's writers manage its own; admin keys
// may manage another organisation's, or an operator's endpoint for every
// organisation (AllOrgs). Another organisation's endpoint is not found,
// exactly like a missing one.

// WebhookRequest is what a create asks for.
type WebhookRequest struct {
	URL         string
	Events      []EventType
	Description string
	OrgID       string // admin keys: another organisation's
	AllOrgs     bool   // admin keys: every organisation's events
}

// MaxWebhookDescription bounds an endpoint's description.
const MaxWebhookDescription = 500

// eventsCommitted tells the dispatcher there is something to send.
func (s *Service) eventsCommitted() {
	if s.EventsCommitted != nil {
		s.EventsCommitted()
	}
}

// CreateWebhook creates an endpoint; its secret is in the returned value
// only. It receives the events committed from then on.
func (s *Service) CreateWebhook(ctx context.Context, c *Caller, req WebhookRequest) (*Webhook, error) {
	if err := require(c, RoleWriter); err != nil {
		return nil, err
	}
	orgID := c.OrgID()
	if req.AllOrgs || (req.OrgID != "" && req.OrgID != orgID) {
		if err := require(c, RoleAdmin); err != nil {
			return nil, err
		}
		orgID = req.OrgID
	}
	switch {
	case req.AllOrgs && req.OrgID != "":
		return nil, Errorf(EUNPROCESSABLE, "give org_id or all_orgs, not both")
	case len(req.Description) > MaxWebhookDescription:
		return nil, Errorf(EUNPROCESSABLE, "description must be at most %d characters", MaxWebhookDescription)
	}
	events := []EventType{}
	seen := map[EventType]bool{}
	for _, e := range req.Events {
		if !e.Known() {
			return nil, Errorf(EUNPROCESSABLE, "unknown event type %q: want some of %s", e, eventTypeList())
		}
		if !seen[e] {
			seen[e] = true
			events = append(events, e)
		}
	}
	if err := s.checkWebhookURL(ctx, req.URL); err != nil {
		return nil, err
	}
	if req.AllOrgs {
		orgID = ""
	} else if _, err := s.Store.Org(ctx, orgID); ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(EUNPROCESSABLE, "organization %q does not exist", orgID)
	} else if err != nil {
		return nil, err
	}
	w := &Webhook{ID: NewID("wh_"), OrgID: orgID, AllOrgs: req.AllOrgs, URL: req.URL, Events: events,
		Description: req.Description, Secret: NewWebhookSecret(), CreatedAt: s.now()}
	if err := s.Store.CreateWebhook(ctx, w); ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(EUNPROCESSABLE, "organization %q does not exist", orgID)
	} else if err != nil {
		return nil, err
	}
	s.log().Info("webhook created", "webhook", w.ID, "org", w.OrgID, "all_orgs", w.AllOrgs, "by_key", c.Key.ID)
	return w, nil
}

func eventTypeList() string {
	var b strings.Builder
	for i, t := range EventTypes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(t))
	}
	return b.String()
}

func (s *Service) checkWebhookURL(ctx context.Context, raw string) error {
	if s.CheckWebhookURL != nil {
		return s.CheckWebhookURL(ctx, raw)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Errorf(EUNPROCESSABLE, "url must be an absolute http:// or https:// URL")
	}
	return nil
}

// Webhooks lists the caller's organisation's endpoints; an admin key may
// name another organisation, or ask for every endpoint (all).
func (s *Service) Webhooks(ctx context.Context, c *Caller, orgID string, all bool) ([]*Webhook, error) {
	if err := require(c, RoleWriter); err != nil {
		return nil, err
	}
	if all || (orgID != "" && orgID != c.OrgID()) {
		if err := require(c, RoleAdmin); err != nil {
			return nil, err
		}
	}
	if orgID == "" {
		orgID = c.OrgID()
	}
	return s.Store.Webhooks(ctx, orgID, all)
}

// webhookOf returns an endpoint the caller may manage: its organisation's,
// or any for an admin key.
func (s *Service) webhookOf(ctx context.Context, c *Caller, id string) (*Webhook, error) {
	if err := require(c, RoleWriter); err != nil {
		return nil, err
	}
	w, err := s.Store.Webhook(ctx, id)
	if err == nil && w.OrgID != c.OrgID() && !c.Key.Role.Includes(RoleAdmin) {
		err = Errorf(ENOTFOUND, "not found")
	}
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "The webhook with id '%s' was not found.", id)
	}
	return w, err
}

// DeleteWebhook deletes an endpoint; its pending deliveries are dropped.
func (s *Service) DeleteWebhook(ctx context.Context, c *Caller, id string) error {
	if _, err := s.webhookOf(ctx, c, id); err != nil {
		return err
	}
	err := s.Store.DeleteWebhook(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return Errorf(ENOTFOUND, "The webhook with id '%s' was not found.", id)
	}
	return err
}

// MaxDeliveries is the most deliveries a list shows.
const MaxDeliveries = 1000

// WebhookDeliveries lists an endpoint's newest deliveries.
func (s *Service) WebhookDeliveries(ctx context.Context, c *Caller, id string, limit int) ([]*Delivery, error) {
	if limit < 1 || limit > MaxDeliveries {
		return nil, Errorf(EUNPROCESSABLE, "limit must be between 1 and %d", MaxDeliveries)
	}
	if _, err := s.webhookOf(ctx, c, id); err != nil {
		return nil, err
	}
	return s.Store.Deliveries(ctx, id, limit)
}

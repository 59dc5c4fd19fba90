package silo

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"time"
)

// Events: what happened to datasets and quotas, told to other systems by
// signed webhooks (CONTRACT "Events: signed webhooks"). The transactional
// outbox: a store writes an Event row, and one Delivery per matching
// endpoint, inside the transaction that makes the change it reports, so an
// event exists exactly for what committed. Package webhook relays them.

// EventType names what happened.
type EventType string

// The event types.
const (
	EventDatasetCreated   EventType = "dataset.created"
	EventDatasetValidated EventType = "dataset.validated"
	EventDatasetFailed    EventType = "dataset.failed"
	EventDatasetDeleted   EventType = "dataset.deleted"
	EventUsageThreshold   EventType = "usage.threshold"
)

// EventTypes lists every event type.
var EventTypes = []EventType{EventDatasetCreated, EventDatasetValidated, EventDatasetFailed, EventDatasetDeleted, EventUsageThreshold}

// Known reports whether t is an event type.
func (t EventType) Known() bool {
	for _, k := range EventTypes {
		if t == k {
			return true
		}
	}
	return false
}

// Why a dataset.deleted event's dataset went.
const (
	ReasonDeleted    = "deleted"     // DELETE /v1/datasets/{id}
	ReasonExpired    = "expired"     // past --retention
	ReasonOrgDeleted = "org_deleted" // its organisation was purged
	// ReasonProjectDeleted: its project was purged (a silo extension of
	// the contract's reasons, as projects are).
	ReasonProjectDeleted = "project_deleted"
)

// Thresholds are the percentages of a quota whose upward crossing is a
// usage.threshold event, in ascending order.
var Thresholds = []int{80, 95, 100}

// ThresholdLevel is the highest threshold that used bytes reach of quota
// (0 if none; a quota of 0 is never reached).
func ThresholdLevel(used, quota int64) int {
	level := 0
	if quota <= 0 {
		return 0
	}
	for _, p := range Thresholds {
		// used/quota >= p/100, without overflow for any int64 sizes.
		if float64(used)*100 >= float64(p)*float64(quota) {
			level = p
		}
	}
	return level
}

// Event is one outbox row: what happened, as of the transaction that did
// it. Data is the domain snapshot (EventData); the webhook package renders
// it as the CloudEvents data the API's JSON shapes at delivery.
type Event struct {
	ID        string // the CloudEvents id and webhook-id: the same on every retry
	Seq       int64  `json:"-"` // commit order within the store (per dataset: the order of its changes)
	OrgID     string
	ProjectID string // "" outside projects
	Type      EventType
	Subject   string // the dataset's id, or the organisation's (project's) for usage.threshold
	DatasetID string // "" for events not about a dataset
	Time      time.Time
	Data      EventData
}

// EventData is what an event carries: the dataset as the change left it
// (for a delete: as it was), or a usage threshold crossed.
type EventData struct {
	Dataset   *Dataset        `json:"dataset,omitempty"`
	Reason    string          `json:"reason,omitempty"` // dataset.deleted
	Threshold *ThresholdEvent `json:"threshold,omitempty"`
}

// ThresholdEvent is a usage.threshold event's data, as sent.
type ThresholdEvent struct {
	OrgID            string  `json:"org_id"`
	ProjectID        *string `json:"project_id"` // null for an organisation's quota
	ThresholdPercent int     `json:"threshold_percent"`
	UsageBytes       int64   `json:"usage_bytes"`
	LimitBytes       int64   `json:"limit_bytes"`
}

// DatasetEvent is the event of a change to d.
func DatasetEvent(t EventType, d *Dataset, at time.Time, reason string) *Event {
	return &Event{ID: NewID("evt_"), OrgID: d.OrgID, ProjectID: d.ProjectID, Type: t, Subject: d.ID, DatasetID: d.ID, Time: at,
		Data: EventData{Dataset: d, Reason: reason}}
}

// Webhook is an endpoint that receives events: an organisation's, or an
// operator's for every organisation (OrgID "").
type Webhook struct {
	ID          string      `json:"id"`
	OrgID       string      `json:"org_id,omitempty"`
	AllOrgs     bool        `json:"all_orgs,omitempty"`
	URL         string      `json:"url"`
	Events      []EventType `json:"events"` // empty: every type
	Description string      `json:"description"`
	// Secret signs deliveries (whsec_ + base64); shown only when created.
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// DeliveryStatus is where a delivery is.
type DeliveryStatus string

const (
	DeliveryPending   DeliveryStatus = "pending"
	DeliveryDelivered DeliveryStatus = "delivered"
	DeliveryFailed    DeliveryStatus = "failed"
)

// Delivery is one event for one endpoint.
type Delivery struct {
	ID             int64          `json:"-"`
	EventID        string         `json:"event_id"`
	WebhookID      string         `json:"webhook_id"`
	Type           EventType      `json:"type"`
	Status         DeliveryStatus `json:"status"`
	Attempts       int            `json:"attempts"`
	LastStatusCode int            `json:"last_status_code,omitempty"`
	LastError      string         `json:"last_error,omitempty"`
	NextAttemptAt  *time.Time     `json:"next_attempt_at"` // nil once delivered or failed
	CreatedAt      time.Time      `json:"created_at"`
	DeliveredAt    *time.Time     `json:"delivered_at,omitempty"`
	Owner          string         `json:"-"` // who holds its lease while claimed
}

// ClaimedDelivery is a delivery taken for one attempt, with what sending
// it needs.
type ClaimedDelivery struct {
	Delivery
	Event   *Event
	Webhook *Webhook // with its secret
}

// Outcome is what one attempt of a delivery came to.
type Outcome struct {
	Status     DeliveryStatus // delivered, pending (try again at NextAttempt), or failed
	StatusCode int            // the receiver's answer; 0 if none
	Error      string         // why it was not delivered
	At         time.Time      // the caller's now (see LeaseStore for whose clock)
	Next       time.Time      // pending: when to try again
}

// Finished is one attempt's outcome, for FinishDeliveries.
type Finished struct {
	Delivery *ClaimedDelivery
	Outcome
}

// OutboxStore keeps webhook endpoints and the outbox. The event rows
// themselves are written by the change's own transactions (CreateDataset,
// FinishJob, DeleteDataset, ExpireDataset, DeleteOrg).
type OutboxStore interface {
	// CreateWebhook stores w. From its commit on, every event committed
	// after it that it subscribes to gets a delivery for it; none before.
	CreateWebhook(ctx context.Context, w *Webhook) error
	// Webhook returns an endpoint that is not deleted, with its secret;
	// ENOTFOUND otherwise.
	Webhook(ctx context.Context, id string) (*Webhook, error)
	// Webhooks lists the endpoints of orgID ("" with all: every endpoint),
	// without secrets, oldest first.
	Webhooks(ctx context.Context, orgID string, all bool) ([]*Webhook, error)
	// DeleteWebhook deletes an endpoint and its pending deliveries;
	// ENOTFOUND if there is none.
	DeleteWebhook(ctx context.Context, id string) error
	// Deliveries lists the newest deliveries of an endpoint, at most limit.
	Deliveries(ctx context.Context, webhookID string, limit int) ([]*Delivery, error)
	// ClaimDeliveries leases up to limit pending deliveries that are due by
	// now to owner until leaseUntil (see LeaseStore for whose clock),
	// counting an attempt for each: none of an endpoint in skip, and none
	// while an earlier delivery of the same dataset to the same endpoint
	// is still pending (events of a dataset go in order). Several nodes
	// claim at once without waiting on each other or taking the same one.
	ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, limit int, skip []string) ([]*ClaimedDelivery, error)
	// FinishDeliveries records attempts' outcomes in one transaction, each
	// only if its delivery is still that attempt's (same owner and
	// attempt), and returns how many were. The write need not survive a
	// crash: a lost outcome leaves the delivery leased until its lease
	// lapses, then it is sent again (at least once).
	FinishDeliveries(ctx context.Context, fs []Finished) (int, error)
	// PruneOutbox deletes up to limit finished (delivered or failed)
	// deliveries created before before, then up to limit events older
	// than before that no delivery refers to any more, and deleted
	// endpoints that none refers to; it returns how many rows went.
	PruneOutbox(ctx context.Context, before time.Time, limit int) (int, error)
	// ReleaseDeliveries ends the leases of every delivery not owned by owner
	// (the sole user's restart: see Service.Recover).
	ReleaseDeliveries(ctx context.Context, owner string) error
	// OldestPendingDelivery returns when the oldest pending delivery was
	// created; the zero time when there is none.
	OldestPendingDelivery(ctx context.Context) (time.Time, error)
	// ExpireDataset is DeleteDataset for the retention sweep: the same
	// change, its event saying "expired".
	ExpireDataset(ctx context.Context, orgID, id string) (*Dataset, error)
	// OutboxCheck reports what fsck finds wrong in the outbox: deliveries
	// of missing events or endpoints.
	OutboxCheck(ctx context.Context) ([]string, error)
}

// NewWebhookSecret returns a new endpoint secret as Standard Webhooks
// writes one: whsec_ and the base64 of 32 random bytes.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

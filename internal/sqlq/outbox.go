package sqlq

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/silo-datasets/silo"
)

// The outbox (silo.OutboxStore): the SQL that writes an event and its
// deliveries inside a change's own transaction, the same in both stores.

// Tx is a transaction of either store as the outbox's shared SQL uses it.
// Statements are written with ? placeholders; the PostgreSQL store's Tx
// rewrites them (Rebind).
type Tx interface {
	Exec(ctx context.Context, q string, args ...any) error
	QueryRow(ctx context.Context, q string, args ...any) Scanner
}

// Rebind rewrites the ? placeholders of q as $1, $2, ... (PostgreSQL). The
// outbox's statements hold no ? in literals.
func Rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// AddEvent writes ev into the outbox and one pending delivery for every
// endpoint that subscribes to it (of ev's organisation, or of every
// organisation), in tx: the transaction of the change ev reports. It sets
// ev.Seq.
func AddEvent(ctx context.Context, tx Tx, ev *silo.Event) error {
	body, err := json.Marshal(ev.Data)
	if err != nil {
		return err
	}
	err = tx.QueryRow(ctx, `INSERT INTO events (id, org_id, project_id, type, subject, dataset_id, time, body)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
		ev.ID, ev.OrgID, Nullable(ev.ProjectID), string(ev.Type), ev.Subject, Nullable(ev.DatasetID), ev.Time.UnixMicro(), string(body)).
		Scan(&ev.Seq)
	if err != nil {
		return err
	}
	return tx.Exec(ctx, `INSERT INTO deliveries (event_seq, event_id, webhook_id, dataset_id, type, created_at)
		SELECT ?, ?, id, ?, ?, ? FROM webhooks
		WHERE deleted = 0 AND (org_id = ? OR org_id IS NULL) AND (events = '[]' OR events LIKE ?)`,
		ev.Seq, ev.ID, Nullable(ev.DatasetID), string(ev.Type), ev.Time.UnixMicro(), ev.OrgID, `%"`+string(ev.Type)+`"%`)
}

// AddDatasetEvent is AddEvent of a change to d.
func AddDatasetEvent(ctx context.Context, tx Tx, t silo.EventType, d *silo.Dataset, at time.Time, reason string) error {
	return AddEvent(ctx, tx, silo.DatasetEvent(t, d, at, reason))
}

// FinishedEvent is the event of a validation's end: validated or failed.
func FinishedEvent(d *silo.Dataset) silo.EventType {
	if d.Status == silo.StatusValidated {
		return silo.EventDatasetValidated
	}
	return silo.EventDatasetFailed
}

// CheckThresholds is CheckThreshold of the org's row and, if projectID is
// set, of the project's: a create or delete in a project changed both.
func CheckThresholds(ctx context.Context, tx Tx, orgID, projectID string, at time.Time) error {
	if err := CheckThreshold(ctx, tx, "orgs", orgID, orgID, "", at); err != nil || projectID == "" {
		return err
	}
	return CheckThreshold(ctx, tx, "projects", projectID, orgID, projectID, at)
}

// CheckThreshold runs in a transaction that just changed the used bytes of
// row id of table (orgs; a project's row has the same columns, its quota
// NULL when it has none of its own: no thresholds then): it records
// a usage.threshold event when usage reached a threshold above the highest
// one recorded, and re-arms the thresholds usage fell below, so that each
// crossing upward is one event. The caller holds the row's lock.
func CheckThreshold(ctx context.Context, tx Tx, table, id, orgID, projectID string, at time.Time) error {
	var used, quota int64
	var last int
	if err := tx.QueryRow(ctx, `SELECT used_bytes, COALESCE(quota_bytes, 0), threshold_percent FROM `+table+` WHERE id = ?`, id).
		Scan(&used, &quota, &last); err != nil {
		return err
	}
	level := silo.ThresholdLevel(used, quota)
	if level == last {
		return nil
	}
	if err := tx.Exec(ctx, `UPDATE `+table+` SET threshold_percent = ? WHERE id = ?`, level, id); err != nil {
		return err
	}
	if level < last {
		return nil // fell back below: the higher thresholds may fire again
	}
	th := &silo.ThresholdEvent{OrgID: orgID, ThresholdPercent: level, UsageBytes: used, LimitBytes: quota}
	subject := orgID
	if projectID != "" {
		th.ProjectID, subject = &projectID, projectID
	}
	return AddEvent(ctx, tx, &silo.Event{ID: silo.NewID("evt_"), OrgID: orgID, ProjectID: projectID,
		Type: silo.EventUsageThreshold, Subject: subject, Time: at, Data: silo.EventData{Threshold: th}})
}

// Nullable stores "" as NULL.
func Nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// WebhookCols are the columns ScanWebhook reads, in its order.
const WebhookCols = `id, org_id, url, events, description, secret, created_at`

// ScanWebhook reads a webhook row selected with WebhookCols.
func ScanWebhook(row Scanner) (*silo.Webhook, error) {
	var w silo.Webhook
	var org *string
	var events string
	var created int64
	if err := row.Scan(&w.ID, &org, &w.URL, &events, &w.Description, &w.Secret, &created); err != nil {
		return nil, err
	}
	if org != nil {
		w.OrgID = *org
	} else {
		w.AllOrgs = true
	}
	if err := json.Unmarshal([]byte(events), &w.Events); err != nil {
		return nil, fmt.Errorf("webhook %s: events: %w", w.ID, err)
	}
	w.CreatedAt = time.UnixMicro(created).UTC()
	return &w, nil
}

// WebhookArgs are w's values for an INSERT of WebhookCols.
func WebhookArgs(w *silo.Webhook) []any {
	events := w.Events
	if events == nil {
		events = []silo.EventType{}
	}
	b, _ := json.Marshal(events)
	return []any{w.ID, Nullable(w.OrgID), w.URL, string(b), w.Description, w.Secret, w.CreatedAt.UnixMicro()}
}

// DeliveryCols are the columns ScanDelivery reads, in its order.
const DeliveryCols = `id, event_id, webhook_id, type, status, attempts, last_status_code, last_error, next_attempt_at, created_at, delivered_at, owner`

// ScanDelivery reads a delivery row selected with DeliveryCols.
func ScanDelivery(row Scanner) (*silo.Delivery, error) {
	var d silo.Delivery
	var next, created int64
	var delivered *int64
	var owner *string
	if err := row.Scan(&d.ID, &d.EventID, &d.WebhookID, &d.Type, &d.Status, &d.Attempts, &d.LastStatusCode, &d.LastError,
		&next, &created, &delivered, &owner); err != nil {
		return nil, err
	}
	if d.Status == silo.DeliveryPending {
		t := time.UnixMicro(next).UTC()
		d.NextAttemptAt = &t
	}
	if delivered != nil {
		t := time.UnixMicro(*delivered).UTC()
		d.DeliveredAt = &t
	}
	if owner != nil {
		d.Owner = *owner
	}
	d.CreatedAt = time.UnixMicro(created).UTC()
	return &d, nil
}

// EventCols are the columns ScanEvent reads, in its order.
const EventCols = `seq, id, org_id, project_id, type, subject, dataset_id, time, body`

// ScanEvent reads an event row selected with EventCols.
func ScanEvent(row Scanner) (*silo.Event, error) {
	var e silo.Event
	var project, dataset *string
	var at int64
	var body string
	if err := row.Scan(&e.Seq, &e.ID, &e.OrgID, &project, &e.Type, &e.Subject, &dataset, &at, &body); err != nil {
		return nil, err
	}
	if project != nil {
		e.ProjectID = *project
	}
	if dataset != nil {
		e.DatasetID = *dataset
	}
	e.Time = time.UnixMicro(at).UTC()
	if err := json.Unmarshal([]byte(body), &e.Data); err != nil {
		return nil, fmt.Errorf("event %s: %w", e.ID, err)
	}
	return &e, nil
}

// ClaimedCols select a claimed delivery with its event and endpoint, from
// deliveries d JOIN events e JOIN webhooks w; ScanClaimed reads them.
const ClaimedCols = `d.id, d.event_id, d.webhook_id, d.type, d.status, d.attempts, d.last_status_code, d.last_error, d.next_attempt_at, d.created_at, d.delivered_at, d.owner, ` +
	`e.seq, e.id, e.org_id, e.project_id, e.type, e.subject, e.dataset_id, e.time, e.body, ` +
	`w.id, w.org_id, w.url, w.events, w.description, w.secret, w.created_at`

// ScanClaimed reads a row selected with ClaimedCols.
func ScanClaimed(row Scanner) (*silo.ClaimedDelivery, error) {
	var c splitScan
	if err := row.Scan(c.dests()...); err != nil {
		return nil, err
	}
	d, err := ScanDelivery(&c.d)
	if err != nil {
		return nil, err
	}
	e, err := ScanEvent(&c.e)
	if err != nil {
		return nil, err
	}
	w, err := ScanWebhook(&c.w)
	if err != nil {
		return nil, err
	}
	return &silo.ClaimedDelivery{Delivery: *d, Event: e, Webhook: w}, nil
}

// splitScan scans one joined row and replays its parts to the scanners of
// each table.
type splitScan struct{ d, e, w replay }

type replay struct{ vals []any }

func (r *replay) Scan(dest ...any) error {
	for i, d := range dest {
		if err := assign(d, r.vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func (c *splitScan) dests() []any {
	c.d.vals = []any{new(int64), new(string), new(string), new(string), new(string), new(int), new(int), new(string), new(int64), new(int64), new(*int64), new(*string)}
	c.e.vals = []any{new(int64), new(string), new(string), new(*string), new(string), new(string), new(*string), new(int64), new(string)}
	c.w.vals = []any{new(string), new(*string), new(string), new(string), new(string), new(string), new(int64)}
	out := append(append(append([]any{}, c.d.vals...), c.e.vals...), c.w.vals...)
	return out
}

// assign copies *src (a pointer made by dests) into dest, a scan target
// of the same base type or a named type over it.
func assign(dest, src any) error {
	switch s := src.(type) {
	case *int64:
		*dest.(*int64) = *s
	case *int:
		*dest.(*int) = *s
	case *string:
		switch d := dest.(type) {
		case *string:
			*d = *s
		case *silo.EventType:
			*d = silo.EventType(*s)
		case *silo.DeliveryStatus:
			*d = silo.DeliveryStatus(*s)
		default:
			return fmt.Errorf("sqlq: cannot scan a string into %T", dest)
		}
	case **int64:
		*dest.(**int64) = *s
	case **string:
		*dest.(**string) = *s
	default:
		return fmt.Errorf("sqlq: cannot scan %T", src)
	}
	return nil
}

// OutboxCheckQuery lists what fsck finds wrong in the outbox, one problem
// per row: deliveries whose event or endpoint is missing.
const OutboxCheckQuery = `SELECT 'delivery ' || d.event_id || ' -> ' || d.webhook_id || ': its event is missing'
	FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = d.event_seq AND e.id = d.event_id)
	UNION ALL
	SELECT 'delivery ' || d.event_id || ' -> ' || d.webhook_id || ': its webhook is missing'
	FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM webhooks w WHERE w.id = d.webhook_id)`

// ScanProblem reads one row of OutboxCheckQuery.
func ScanProblem(row Scanner) (string, error) {
	var s string
	return s, row.Scan(&s)
}

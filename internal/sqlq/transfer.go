package sqlq

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/silo-datasets/silo"
)

// Export reads every record of a store whose schema is silo's (both SQL
// stores share it) through query, which must run inside one read
// transaction so that the records are of one instant, and calls fn with
// each, parents first. scanDataset is the store's own dataset reader.
func Export(query func(q string) (Rows, error), scanDataset func(Scanner) (*silo.Dataset, error), fn func(*silo.Record) error) error {
	steps := []struct {
		q    string
		scan func(Scanner) (*silo.Record, error)
	}{
		{`SELECT name, value FROM settings ORDER BY name`, scanSetting},
		{`SELECT id, name, quota_bytes, used_bytes, created_at FROM orgs ORDER BY created_at, id`, scanOrgRecord},
		{`SELECT ` + ProjectCols + ` FROM projects ORDER BY created_at, id`, func(row Scanner) (*silo.Record, error) {
			p, err := ScanProject(row)
			return &silo.Record{Project: p}, err
		}},
		{`SELECT id, '', threshold_percent FROM orgs WHERE threshold_percent > 0 ORDER BY created_at, id`, scanThresholdRecord},
		{`SELECT org_id, id, threshold_percent FROM projects WHERE threshold_percent > 0 ORDER BY created_at, id`, scanThresholdRecord},
		{`SELECT id, org_id, hash, role, name, created_at, revoked_at, project_id FROM keys ORDER BY created_at, id`, scanKeyRecord},
		{`SELECT org_id, '', at, used_bytes FROM usage_samples ORDER BY org_id, at`, scanUsageRecord},
		{`SELECT p.org_id, s.project_id, s.at, s.used_bytes FROM project_usage_samples s JOIN projects p ON p.id = s.project_id
			ORDER BY s.project_id, s.at`, scanUsageRecord},
		{`SELECT ` + DatasetCols + ` FROM datasets ORDER BY org_id, created_at, id`, func(row Scanner) (*silo.Record, error) {
			d, err := scanDataset(row)
			return &silo.Record{Dataset: d}, err
		}},
		{`SELECT dataset_id, org_id, attempt, created_at FROM jobs ORDER BY created_at, dataset_id`, scanJobRecord},
		{`SELECT org_id, key, fingerprint, status, body, dataset_id, created_at FROM idempotency
			WHERE state = 'done' ORDER BY org_id, key`, scanIdemRecord},
		{`SELECT ` + WebhookCols + ` FROM webhooks WHERE deleted = 0 ORDER BY created_at, id`, func(row Scanner) (*silo.Record, error) {
			w, err := ScanWebhook(row)
			return &silo.Record{Webhook: w}, err
		}},
		{`SELECT d.webhook_id, d.attempts, d.created_at, ` + prefixed("e.", EventCols) + ` FROM deliveries d
			JOIN events e ON e.seq = d.event_seq JOIN webhooks w ON w.id = d.webhook_id
			WHERE d.status = 'pending' AND w.deleted = 0 ORDER BY d.event_seq, d.webhook_id`, scanDeliveryRecord},
		{`SELECT (SELECT COUNT(*) FROM reservations), (SELECT COALESCE(SUM(bytes), 0) FROM reservations),
			(SELECT COUNT(*) FROM blobs WHERE state = 'pending'), (SELECT COUNT(*) FROM blobs WHERE state = 'garbage'),
			(SELECT COUNT(*) FROM idempotency WHERE state <> 'done'),
			(SELECT COUNT(*) FROM uploads WHERE dataset_id IS NULL)`, scanSkipped},
	}
	for _, st := range steps {
		rows, err := query(st.q)
		if err != nil {
			return err
		}
		if err := Each(rows, st.scan, fn); err != nil {
			return err
		}
	}
	return nil
}

// DatasetCols are the dataset columns, in the order both stores scan them.
const DatasetCols = `id, org_id, name, type, status, created_at, updated_at, expires_at, client_name, size_bytes, params, parts, report, key_id, project_id`

func micros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func scanSetting(row Scanner) (*silo.Record, error) {
	var s silo.SettingRecord
	err := row.Scan(&s.Name, &s.Value)
	return &silo.Record{Setting: &s}, err
}

func scanOrgRecord(row Scanner) (*silo.Record, error) {
	var o silo.Org
	var created int64
	err := row.Scan(&o.ID, &o.Name, &o.QuotaBytes, &o.UsedBytes, &created)
	o.CreatedAt = micros(created)
	return &silo.Record{Org: &o}, err
}

func scanThresholdRecord(row Scanner) (*silo.Record, error) {
	var th silo.ThresholdRecord
	err := row.Scan(&th.OrgID, &th.ProjectID, &th.Percent)
	return &silo.Record{Threshold: &th}, err
}

func scanKeyRecord(row Scanner) (*silo.Record, error) {
	var k silo.KeyRecord
	var created int64
	var revoked *int64
	var project *string
	err := row.Scan(&k.ID, &k.OrgID, &k.Hash, &k.Role, &k.Name, &created, &revoked, &project)
	k.CreatedAt, k.ProjectID = micros(created), deref(project)
	if revoked != nil {
		t := micros(*revoked)
		k.RevokedAt = &t
	}
	return &silo.Record{Key: &k}, err
}

func scanUsageRecord(row Scanner) (*silo.Record, error) {
	var u silo.UsageRecord
	var at int64
	err := row.Scan(&u.OrgID, &u.ProjectID, &at, &u.UsedBytes)
	u.At = micros(at)
	return &silo.Record{Usage: &u}, err
}

func scanJobRecord(row Scanner) (*silo.Record, error) {
	var j silo.JobRecord
	var created int64
	err := row.Scan(&j.DatasetID, &j.OrgID, &j.Attempt, &created)
	j.CreatedAt = micros(created)
	return &silo.Record{Job: &j}, err
}

func scanIdemRecord(row Scanner) (*silo.Record, error) {
	r := silo.IdempotencyRecord{State: silo.IdempotencyDone}
	var created int64
	var ds *string
	err := row.Scan(&r.OrgID, &r.Key, &r.Fingerprint, &r.Status, &r.Body, &ds, &created)
	r.CreatedAt = micros(created)
	if ds != nil {
		r.DatasetID = *ds
	}
	return &silo.Record{Idempotency: &r}, err
}

func scanSkipped(row Scanner) (*silo.Record, error) {
	var s silo.Skipped
	err := row.Scan(&s.Reservations, &s.ReservedBytes, &s.PendingBlobs, &s.GarbageBlobs, &s.RunningCreates, &s.ResumableUploads)
	return &silo.Record{Skipped: &s}, err
}

// Importer writes records into a store of silo's schema through exec,
// inside the one transaction the store opened for the import.
type Importer struct {
	Exec func(q string, args ...any) error
	PH   func(n int) string // placeholder n (1-based): "?" or "$n"
}

func (im *Importer) insert(table, cols string, args ...any) error {
	ph := make([]string, len(args))
	for i := range args {
		ph[i] = im.PH(i + 1)
	}
	return im.Exec(`INSERT INTO `+table+` (`+cols+`) VALUES (`+strings.Join(ph, ", ")+`)`, args...)
}

// nullText stores "" as NULL.
func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullMicros(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// Put writes one record. Reservations are never imported, so every org
// starts with nothing reserved; jobs come back queued.
func (im *Importer) Put(r *silo.Record) error {
	switch {
	case r.Setting != nil:
		return im.Exec(`INSERT INTO settings (name, value) VALUES (`+im.PH(1)+`, `+im.PH(2)+`)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, r.Setting.Name, r.Setting.Value)
	case r.Org != nil:
		o := r.Org
		return im.insert("orgs", "id, name, quota_bytes, used_bytes, reserved_bytes, created_at",
			o.ID, o.Name, o.QuotaBytes, o.UsedBytes, int64(0), o.CreatedAt.UnixMicro())
	case r.Project != nil:
		p := r.Project
		return im.insert("projects", "id, org_id, name, quota_bytes, used_bytes, reserved_bytes, created_at",
			p.ID, p.OrgID, p.Name, p.QuotaBytes, p.UsedBytes, int64(0), p.CreatedAt.UnixMicro())
	case r.Threshold != nil && r.Threshold.ProjectID != "":
		return im.Exec(`UPDATE projects SET threshold_percent = `+im.PH(1)+` WHERE id = `+im.PH(2)+` AND org_id = `+im.PH(3),
			r.Threshold.Percent, r.Threshold.ProjectID, r.Threshold.OrgID)
	case r.Threshold != nil:
		return im.Exec(`UPDATE orgs SET threshold_percent = `+im.PH(1)+` WHERE id = `+im.PH(2), r.Threshold.Percent, r.Threshold.OrgID)
	case r.Key != nil:
		k := r.Key
		return im.insert("keys", "id, org_id, hash, role, name, created_at, revoked_at, project_id",
			k.ID, k.OrgID, k.Hash, string(k.Role), k.Name, k.CreatedAt.UnixMicro(), nullMicros(k.RevokedAt), nullText(k.ProjectID))
	case r.Usage != nil && r.Usage.ProjectID != "":
		return im.insert("project_usage_samples", "project_id, at, used_bytes", r.Usage.ProjectID, r.Usage.At.UnixMicro(), r.Usage.UsedBytes)
	case r.Usage != nil:
		return im.insert("usage_samples", "org_id, at, used_bytes", r.Usage.OrgID, r.Usage.At.UnixMicro(), r.Usage.UsedBytes)
	case r.Dataset != nil:
		return im.putDataset(r.Dataset)
	case r.Job != nil:
		j := r.Job
		return im.insert("jobs", "dataset_id, org_id, owner, lease_until, attempt, created_at",
			j.DatasetID, j.OrgID, nil, int64(0), j.Attempt, j.CreatedAt.UnixMicro())
	case r.Idempotency != nil:
		i := r.Idempotency
		var ds *string
		if i.DatasetID != "" {
			ds = &i.DatasetID
		}
		return im.insert("idempotency", "org_id, key, fingerprint, state, claim, node, lease_until, reservation_id, status, body, dataset_id, created_at",
			i.OrgID, i.Key, i.Fingerprint, silo.IdempotencyDone, "", "", int64(0), nil, i.Status, i.Body, ds, i.CreatedAt.UnixMicro())
	case r.Webhook != nil:
		return im.insert("webhooks", WebhookCols, WebhookArgs(r.Webhook)...)
	case r.Delivery != nil:
		return im.putDelivery(r.Delivery)
	case r.Skipped != nil:
		return nil
	}
	return fmt.Errorf("import: empty record")
}

func (im *Importer) putDataset(d *silo.Dataset) error {
	js := func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}
	params, err := js(d.Params)
	if err != nil {
		return err
	}
	parts, err := js(d.Parts)
	if err != nil {
		return err
	}
	report, err := js(d.Report)
	if err != nil {
		return err
	}
	err = im.insert("datasets", DatasetCols, d.ID, d.OrgID, d.Name, string(d.Type), string(d.Status),
		d.CreatedAt.UnixMicro(), d.UpdatedAt.UnixMicro(), nullMicros(d.ExpiresAt), d.ClientName, d.SizeBytes, params, parts, report,
		nullText(d.KeyID), nullText(d.ProjectID))
	if err != nil {
		return err
	}
	for _, b := range d.LiveBlobs() {
		if err := im.insert("blobs", "key, org_id, state, dataset_id, attempt, created_at",
			b.Key, d.OrgID, string(silo.BlobLive), d.ID, 0, d.CreatedAt.UnixMicro()); err != nil {
			return err
		}
	}
	return nil
}

// prefixed qualifies each of cols with p ("e.").
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}

func scanDeliveryRecord(row Scanner) (*silo.Record, error) {
	var d silo.DeliveryRecord
	var created int64
	var e replay
	e.vals = []any{new(int64), new(string), new(string), new(*string), new(string), new(string), new(*string), new(int64), new(string)}
	if err := row.Scan(append([]any{&d.WebhookID, &d.Attempts, &created}, e.vals...)...); err != nil {
		return nil, err
	}
	ev, err := ScanEvent(&e)
	if err != nil {
		return nil, err
	}
	ev.Seq = 0 // the store's own; an import numbers events anew, in this order
	d.Event, d.CreatedAt = ev, micros(created)
	return &silo.Record{Delivery: &d}, nil
}

// putDelivery writes a pending delivery, and its event unless an earlier
// delivery of it brought it. Records come in event order, so the new
// sequence numbers keep each dataset's order.
func (im *Importer) putDelivery(d *silo.DeliveryRecord) error {
	e := d.Event
	body, err := json.Marshal(e.Data)
	if err != nil {
		return err
	}
	var project, dataset *string
	if e.ProjectID != "" {
		project = &e.ProjectID
	}
	if e.DatasetID != "" {
		dataset = &e.DatasetID
	}
	p := im.PH
	if err := im.Exec(`INSERT INTO events (id, org_id, project_id, type, subject, dataset_id, time, body)
		VALUES (`+p(1)+`, `+p(2)+`, `+p(3)+`, `+p(4)+`, `+p(5)+`, `+p(6)+`, `+p(7)+`, `+p(8)+`) ON CONFLICT (id) DO NOTHING`,
		e.ID, e.OrgID, project, string(e.Type), e.Subject, dataset, e.Time.UnixMicro(), string(body)); err != nil {
		return err
	}
	return im.Exec(`INSERT INTO deliveries (event_seq, event_id, webhook_id, dataset_id, type, attempts, created_at)
		SELECT seq, id, `+p(1)+`, dataset_id, type, `+p(2)+`, `+p(3)+` FROM events WHERE id = `+p(4),
		d.WebhookID, d.Attempts, d.CreatedAt.UnixMicro(), e.ID)
}

package silo

import "time"

// Record is one row of a store as TransferStore moves it: exactly one field
// is set. Records come parents first (settings, orgs, projects, keys, usage
// samples, datasets, jobs, idempotency answers, webhook endpoints, pending
// deliveries), so that importing them in order
// never refers to what is not there yet. The JSON form is what backups hold.
type Record struct {
	Setting     *SettingRecord     `json:"setting,omitempty"`
	Org         *Org               `json:"org,omitempty"`
	Project     *Project           `json:"project,omitempty"`
	Threshold   *ThresholdRecord   `json:"threshold,omitempty"`
	Key         *KeyRecord         `json:"key,omitempty"`
	Usage       *UsageRecord       `json:"usage,omitempty"`
	Dataset     *Dataset           `json:"dataset,omitempty"`
	Job         *JobRecord         `json:"job,omitempty"`
	Idempotency *IdempotencyRecord `json:"idempotency,omitempty"`
	Webhook     *Webhook           `json:"webhook,omitempty"`  // with its secret
	Delivery    *DeliveryRecord    `json:"delivery,omitempty"` // a pending one, with its event
	Skipped     *Skipped           `json:"skipped,omitempty"`
}

// DeliveryRecord is a webhook delivery not yet made, with its event: a
// moved service sends it as the source would have (same event id).
type DeliveryRecord struct {
	Event     *Event    `json:"event"`
	WebhookID string    `json:"webhook_id"`
	Attempts  int       `json:"attempts"`
	CreatedAt time.Time `json:"created_at"`
}

// ThresholdRecord is the highest usage threshold (80, 95, 100 %) an
// organisation or, with ProjectID, a project has crossed and not fallen
// back below since: a copy carries it so that it does not send that
// usage.threshold event a second time.
type ThresholdRecord struct {
	OrgID     string `json:"org_id"`
	ProjectID string `json:"project_id,omitempty"`
	Percent   int    `json:"percent"`
}

// SettingRecord is one stored setting (the URL signing key among them).
type SettingRecord struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// KeyRecord is an API key with the hash of its secret, which Key's own JSON
// form leaves out.
type KeyRecord struct {
	Key
	Hash []byte `json:"hash"`
}

// UsageRecord is one usage sample of one organisation, or of one of its
// projects if ProjectID is set.
type UsageRecord struct {
	OrgID     string `json:"org_id"`
	ProjectID string `json:"project_id,omitempty"`
	UsageSample
}

// JobRecord is a dataset's validation job that has not finished. It is
// imported queued: whoever held it is gone with the source.
type JobRecord struct {
	DatasetID string    `json:"dataset_id"`
	OrgID     string    `json:"org_id"`
	Attempt   int       `json:"attempt"`
	CreatedAt time.Time `json:"created_at"`
}

// Skipped counts what Export leaves out: uploads in flight and what they
// (or validations in flight) wrote, and blobs waiting for deletion. None of
// it was acknowledged to a client.
type Skipped struct {
	Reservations   int64 `json:"reservations"`
	ReservedBytes  int64 `json:"reserved_bytes"`
	PendingBlobs   int64 `json:"pending_blobs"`
	GarbageBlobs   int64 `json:"garbage_blobs"`
	RunningCreates int64 `json:"running_creates"` // idempotency records still running
	// Resumable uploads not yet datasets (complete or not): their clients
	// must upload them again to the new service.
	ResumableUploads int64 `json:"resumable_uploads"`
}

// Add sums two counts.
func (s *Skipped) Add(o *Skipped) {
	s.Reservations += o.Reservations
	s.ReservedBytes += o.ReservedBytes
	s.PendingBlobs += o.PendingBlobs
	s.GarbageBlobs += o.GarbageBlobs
	s.RunningCreates += o.RunningCreates
	s.ResumableUploads += o.ResumableUploads
}

// LiveBlob is a blob a dataset refers to, with the size and SHA-256 its
// part recorded.
type LiveBlob struct {
	Key    string
	Size   int64
	SHA256 string
}

// LiveBlobs lists the blobs d refers to: each part's uploaded file unless
// validation dropped it, and its Avro rendering once written.
func (d *Dataset) LiveBlobs() []LiveBlob {
	var out []LiveBlob
	for _, p := range d.Parts {
		if !p.OriginalDropped && p.BlobKey != "" {
			out = append(out, LiveBlob{Key: p.BlobKey, Size: p.SizeBytes, SHA256: p.SHA256})
		}
		if p.AvroKey != "" {
			out = append(out, LiveBlob{Key: p.AvroKey, Size: p.AvroSize, SHA256: p.AvroSHA256})
		}
	}
	return out
}

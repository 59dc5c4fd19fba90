package silo

import (
	"context"
	"time"
)

// IdempotencyStore keeps the answers of creates sent with an
// Idempotency-Key, so that a retried create returns the first answer and
// stores nothing twice. Both metadata stores implement it.
//
// A record is running while its create runs, and done once it has an
// answer. A create that stores a dataset marks its record done in the very
// transaction that stores the dataset (CreateDataset reads
// Dataset.IdempotencyKey), so no crash can leave a dataset without its
// record or a record without its dataset.
type IdempotencyStore interface {
	// ClaimIdempotency stores rec as running for its org and key, and
	// returns nil, if there is no record newer than since, or if the only
	// one is running with the same fingerprint but its holder is dead (its
	// reservation is gone, or it had none and its lease ran out before
	// now). Otherwise it returns the record that is there. rec.LeaseUntil
	// and now are on the caller's clock, as a LeaseStore's lease times.
	ClaimIdempotency(ctx context.Context, rec *IdempotencyRecord, now, since time.Time) (*IdempotencyRecord, error)
	// AttachIdempotency ties a running record to the reservation of its
	// upload: from then on the record lives as long as the reservation.
	AttachIdempotency(ctx context.Context, orgID, key, claim, resID string) error
	// FinishIdempotency stores the answer of a create that stored nothing.
	FinishIdempotency(ctx context.Context, orgID, key, claim string, status int, body []byte) error
	// ReleaseIdempotency deletes a running record, so that a retry runs
	// anew (after an answer that a retry should not get again: 5xx, 499).
	ReleaseIdempotency(ctx context.Context, orgID, key, claim string) error
}

// Idempotency record states.
const (
	IdempotencyRunning = "running"
	IdempotencyDone    = "done"
)

// IdempotencyRecord is one Idempotency-Key of one organisation.
type IdempotencyRecord struct {
	OrgID       string
	Key         string
	Fingerprint string // of the request's parameters: same key, other parameters is 422
	State       string
	Claim       string    // random id of the request that holds a running record
	Node        string    // the node that runs it
	LeaseUntil  time.Time // until a reservation is attached
	Status      int       // of a done record
	Body        []byte    // of a done record that stored nothing
	DatasetID   string    // of a done record that stored a dataset (status 200)
	CreatedAt   time.Time
}

// IdempotencyWindow is how long a key's first answer is replayed.
const IdempotencyWindow = 24 * time.Hour

// MaxIdempotencyKeyLength bounds the header's value.
const MaxIdempotencyKeyLength = 255

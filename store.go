package silo

import (
	"context"
	"io"
	"time"
)

// Store is the metadata store: SQLite for the embedded default, PostgreSQL
// for scale-out. Every implementation passes storetest.TestStore.
//
// A store method does one storage thing, atomically; deciding whether to do
// it is the Service's job. Methods return *Error with ENOTFOUND or ECONFLICT
// where the docs say so, and *QuotaError from Reserve.
type Store interface {
	OrgStore
	KeyStore
	ReservationStore
	DatasetStore
	JobStore
	BlobLedger
	OrgDeleter
	LeaseStore
	TransferStore
	QueueAger
	KeyOrgReader
	UploadStore
	ProjectStore
	OutboxStore

	// Setting returns the value stored under name, first storing def if there
	// is none yet (so that concurrent nodes agree on one value).
	Setting(ctx context.Context, name, def string) (string, error)
	// Ping checks that the store answers and accepts writes: it commits a
	// tiny write (/readyz).
	Ping(ctx context.Context) error
	Close() error
}

// OrgStore keeps organisations and their usage counters.
type OrgStore interface {
	// CreateOrg stores org; ECONFLICT if the name is taken.
	CreateOrg(ctx context.Context, org *Org) error
	// Org returns the org with its counters; ENOTFOUND if there is none.
	Org(ctx context.Context, id string) (*Org, error)
	Orgs(ctx context.Context) ([]*Org, error)
	SetQuota(ctx context.Context, id string, quota int64) (*Org, error)
	// UsageHistory returns the org's usage samples with At >= since, oldest
	// first, at most limit of them (the newest ones).
	UsageHistory(ctx context.Context, orgID string, since time.Time, limit int) ([]UsageSample, error)
	// UsageBreakdown sums the org's live datasets by type and client name,
	// largest first.
	UsageBreakdown(ctx context.Context, orgID string) ([]UsageGroup, error)
}

// ProjectStore keeps the projects of organisations: quotas inside an
// organisation's (CONTRACT "Projects"). A project's counters change in the
// same transactions as its org's (Reserve, CreateDataset, DeleteDataset,
// DropReservation and the upload calls do both), so usage per project is
// exact and reading it is one row.
//
// Lock order (shared stores): the org's row, then the project's, then the
// rows of either; every transaction that changes a project's counters
// holds its org's row first.
type ProjectStore interface {
	// CreateProject stores p; ECONFLICT if its org has a project of that
	// name; ENOTFOUND if the org is gone.
	CreateProject(ctx context.Context, p *Project) error
	// Project returns one project with its counters; ENOTFOUND if none.
	Project(ctx context.Context, id string) (*Project, error)
	// Projects lists the projects of one org, or of all if orgID is "",
	// oldest first.
	Projects(ctx context.Context, orgID string) ([]*Project, error)
	// SetProjectQuota changes the project's quota (nil: no limit of its
	// own); ENOTFOUND if there is none. Bytes already held stay held.
	SetProjectQuota(ctx context.Context, id string, quota *int64) (*Project, error)
	// DeleteProject removes the project in one transaction, and revokes
	// its keys at at. Unless withDatasets it removes nothing and returns
	// ECONFLICT while the project holds a dataset or an upload in flight;
	// with it, its datasets go too (jobs deleted, blobs garbage, the org's
	// counters lowered), and its uploads in flight are released. It
	// returns the datasets it removed; ENOTFOUND if there is no such
	// project.
	DeleteProject(ctx context.Context, id string, withDatasets bool, at time.Time) ([]*Dataset, error)
	// ProjectUsageHistory is UsageHistory for one project.
	ProjectUsageHistory(ctx context.Context, projectID string, since time.Time, limit int) ([]UsageSample, error)
	// ProjectUsageSums returns, per project, the sum of SizeBytes of its
	// datasets, and per project the bytes its reservations hold (fsck).
	ProjectUsageSums(ctx context.Context) (used, reserved map[string]int64, err error)
}

// KeyStore keeps API keys by the SHA-256 hash of their secret.
type KeyStore interface {
	CreateKey(ctx context.Context, k *Key) error
	// KeyByHash returns the key, revoked or not; ENOTFOUND if none has it.
	KeyByHash(ctx context.Context, hash []byte) (*Key, error)
	// Keys lists the keys of one org, or of all if orgID is "".
	Keys(ctx context.Context, orgID string) ([]*Key, error)
	// RevokeKey deny-lists the key (idempotent); ENOTFOUND if there is none;
	// ErrLastAdmin, changing nothing, if it is the last unrevoked admin key.
	RevokeKey(ctx context.Context, id string, at time.Time) (*Key, error)
	// Bootstrap stores org (unless one of that name exists) and key in one
	// transaction, if and only if the store holds no key at all; it reports
	// whether it did. Nodes starting together create exactly one key.
	Bootstrap(ctx context.Context, org *Org, key *Key) (bool, error)
}

// ReservationStore holds the bytes of uploads in flight against the quota.
type ReservationStore interface {
	// OpenReservation records an upload in flight that holds no bytes yet,
	// leased until r.ExpiresAt from r.CreatedAt, the caller's now (see
	// LeaseStore for whose clock).
	OpenReservation(ctx context.Context, r *Reservation) error
	// Reserve grows the reservation by at least need and at most want bytes,
	// as much as the quota allows, with one conditional UPDATE of the org's
	// counters (used + reserved + need <= quota); it returns the bytes
	// granted. *QuotaError if even need does not fit; ENOTFOUND if the
	// reservation is gone (released by a sweep).
	Reserve(ctx context.Context, resID string, need, want int64) (int64, error)
	// DropReservation gives the reservation's bytes back, deletes it and
	// marks its pending blobs as garbage, and reports whether it removed the
	// reservation: only then are those blobs garbage. false means it was
	// gone already (committed by a create, or released before); releasing
	// twice is not an error. With a non-zero expiredBefore (the caller's
	// now; see LeaseStore) it releases only a reservation whose lease ran
	// out before then, so that a sweep never takes an upload whose node
	// renewed its lease after the sweep listed it.
	DropReservation(ctx context.Context, resID string, expiredBefore time.Time) (bool, error)
	// ExpiredReservations lists reservations whose lease ran out before now
	// (see LeaseStore for whose clock).
	ExpiredReservations(ctx context.Context, now time.Time) ([]*Reservation, error)
	// Reservations lists every open reservation (for fsck).
	Reservations(ctx context.Context) ([]*Reservation, error)
}

// DatasetStore keeps datasets. The create and delete transactions are where
// usage changes, so usage is exact from the moment either commits.
type DatasetStore interface {
	// CreateDataset stores d (with its parts) and its validation job, marks
	// the reservation's blobs live, adds d.SizeBytes to the org's used bytes,
	// releases the reservation's bytes, deletes the reservation and records
	// a usage sample, all in one transaction. ENOTFOUND if the reservation is
	// gone; ECONFLICT if the id is taken.
	CreateDataset(ctx context.Context, d *Dataset, resID string) error
	// Dataset returns one dataset of one org; ENOTFOUND otherwise.
	Dataset(ctx context.Context, orgID, id string) (*Dataset, error)
	// Datasets calls fn with each dataset that f selects, newest first,
	// streaming: a large org is never held in memory.
	Datasets(ctx context.Context, f DatasetFilter, fn func(*Dataset) error) error
	// DeleteDataset removes the dataset and its job, subtracts its size from
	// the org's used bytes, marks its blobs garbage and records a usage
	// sample, in one transaction; it returns what it removed.
	DeleteDataset(ctx context.Context, orgID, id string) (*Dataset, error)
	// ExpiredDatasets lists up to limit datasets whose ExpiresAt is before now.
	ExpiredDatasets(ctx context.Context, now time.Time, limit int) ([]*Dataset, error)
	// UsageSums returns, per org, the sum of SizeBytes of its datasets (fsck).
	UsageSums(ctx context.Context) (map[string]int64, error)
}

// JobStore is the queue of validation jobs, one per dataset.
type JobStore interface {
	// ClaimJob takes the oldest job that is queued or whose lease ran out
	// by now, gives it to owner until leaseUntil (see LeaseStore for whose
	// clock), bumps its attempt, marks earlier
	// attempts' pending blobs garbage and sets the dataset processing. It
	// returns nil, nil when there is no job.
	ClaimJob(ctx context.Context, owner string, now, leaseUntil time.Time) (*Job, error)
	// AddJobBlob records a blob the job is about to write, before it is written.
	AddJobBlob(ctx context.Context, job *Job, key string) error
	// FinishJob stores the validation outcome (status, report, parts) of d,
	// marks the job's blobs live (or garbage if d failed), marks the
	// uploaded blob of each part with OriginalDropped garbage, and deletes
	// the job, in one transaction. ENOTFOUND if the job is no longer this
	// attempt's (deleted dataset, or lease lost).
	FinishJob(ctx context.Context, job *Job, d *Dataset) error
	// PendingJobs counts jobs not yet finished (the validation queue depth).
	PendingJobs(ctx context.Context) (int, error)
	// RequeueJobs gives every job not owned by owner back to the queue at
	// once, whatever its lease. Only a process that knows it is the store's
	// sole user may call it (see Service.Recover).
	RequeueJobs(ctx context.Context, owner string) error
}

// BlobLedger records every blob key before it is written and until it is
// deleted, so that nothing in the blob store is ever orphaned.
type BlobLedger interface {
	// AddPendingBlob records key under the reservation before it is written.
	AddPendingBlob(ctx context.Context, resID, orgID, key string) error
	// HoldPendingBlobs holds the reservation's pending blobs until until
	// (see LeaseStore for whose clock): their files have ended and the
	// writer's last request, which makes the bytes appear, may land until
	// then. A release meanwhile still makes them garbage, but GarbageBlobs
	// lists them only once the hold ran out, so that they are not deleted
	// and forgotten before that request lands. ENOTFOUND if the
	// reservation holds no pending blob (released, or committed).
	HoldPendingBlobs(ctx context.Context, resID string, now, until time.Time) error
	// EndBlobHolds ends the holds of the given blobs, whatever their state:
	// their writer's requests have all returned.
	EndBlobHolds(ctx context.Context, keys []string) error
	// GarbageBlobs lists up to limit blob keys that are to be deleted, whose
	// hold ran out by now, and that sort after after, in key order: a caller
	// that must leave some keys (a backup pins them) pages past them
	// instead of getting them back.
	GarbageBlobs(ctx context.Context, now time.Time, after string, limit int) ([]string, error)
	// ForgetBlobs removes the ledger rows of garbage blobs once deleted.
	ForgetBlobs(ctx context.Context, keys []string) error
	// Blobs calls fn with every key in the ledger and its state (fsck).
	Blobs(ctx context.Context, fn func(key string, state BlobState) error) error
}

// OrgDeleter removes whole organisations.
type OrgDeleter interface {
	// DeleteOrg removes the org in one transaction: its datasets (with their
	// jobs; their blobs marked garbage), its uploads in flight (their
	// reservations released, their pending blobs garbage), its usage
	// history and idempotency records; its keys stay, revoked at at, so
	// that they answer "revoked" rather than "unknown". Unless withDatasets,
	// it removes nothing and returns ECONFLICT while the org holds a dataset
	// or an upload in flight. It returns the datasets it removed;
	// ENOTFOUND if there is no such org; ErrLastAdmin, removing nothing, if
	// the org holds an unrevoked admin key and no other org does.
	DeleteOrg(ctx context.Context, id string, withDatasets bool, at time.Time) ([]*Dataset, error)
}

// LeaseStore keeps the leases of work that a process holds in memory. A
// lease is renewed only by the goroutine doing its work (an upload, a
// validation), never node-wide: whatever no live goroutine renews lapses,
// and the sweep of any node, that one included, takes it back.
//
// Whose clock a lease runs on: every lease time a store is given (a
// reservation's ExpiresAt, a job's lease or backoff, an idempotency
// record's LeaseUntil, and the now that expiry is judged against) comes
// with the caller's now. A store of one process (SQLite) takes the times
// as given. A store that several nodes share (PostgreSQL) keeps only each
// time's distance from the caller's now and counts it from its own clock,
// so that nodes whose clocks disagree still agree on who holds what: a
// node whose clock runs ahead never takes another's live work. Such a
// store is never the sole user's (see Service.Recover), so it is never
// asked to judge every lease dead by passing a far future.
type LeaseStore interface {
	// RenewReservations extends the leases of the listed reservations to
	// until (those gone already are skipped).
	RenewReservations(ctx context.Context, ids []string, now, until time.Time) error
	// RenewJobs extends the lease of each listed job that is still that
	// attempt's (same owner and attempt) to until.
	RenewJobs(ctx context.Context, jobs []*Job, now, until time.Time) error
	// RetryJob hands a job back to the queue, claimable from notBefore: it
	// marks the attempt's pending blobs garbage and sets the dataset queued,
	// in one transaction. ENOTFOUND if the job is no longer this attempt's.
	RetryJob(ctx context.Context, job *Job, now, notBefore time.Time) error
}

// TransferStore reads a whole store out and writes it into an empty one:
// backup, restore and migrate are built on it (package transfer), so every
// backend that passes storetest.TestTransfer gets them.
type TransferStore interface {
	// Export calls fn with every record of the store as of one instant (one
	// read transaction), parents before children. Reservations, idempotency
	// records and ledger rows that are not live are not exported; a last
	// record with Skipped counts them.
	Export(ctx context.Context, fn func(*Record) error) error
	// Import calls records with a put function and writes every record put
	// into the store, in one transaction that commits when records returns
	// nil: ids, counters and times as given, each dataset's referenced blobs
	// recorded live in the ledger, settings overwritten. Nothing is written
	// if records or a put fails.
	Import(ctx context.Context, records func(put func(*Record) error) error) error
}

// QueueAger tells how long the validation queue has been waiting.
type QueueAger interface {
	// OldestJob returns the creation time of the oldest validation job not
	// yet finished; the zero time when there is none.
	OldestJob(ctx context.Context) (time.Time, error)
}

// BlobState is where a blob is in its life.
type BlobState string

const (
	BlobPending BlobState = "pending" // being written for an upload or a job
	BlobLive    BlobState = "live"    // part of a dataset
	BlobGarbage BlobState = "garbage" // to be deleted
)

// BlobStore keeps the bytes of uploaded files and Avro parts under flat,
// random keys chosen by silo (never from user input). Every implementation
// passes storetest.TestBlobStore.
type BlobStore interface {
	// Put stores r's bytes under key and returns their count; the blob is
	// durable when Put returns nil. On error nothing is left under key that
	// Delete would not remove.
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	// Open reads length bytes of the blob from offset (length < 0: to the
	// end). ENOTFOUND if there is no such blob.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Delete removes the blob and anything a failed Put left; deleting a blob
	// that is not there is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn with every stored blob (and leftover of a failed Put) and
	// its size.
	List(ctx context.Context, fn func(key string, size int64) error) error
	// Ping checks that the store answers and accepts writes: it stores a
	// few bytes durably and removes them (/readyz).
	Ping(ctx context.Context) error
}

// Validator checks an uploaded dataset against the rules of its type and
// format, streaming, and writes each part's Avro rendering.
type Validator interface {
	Validate(ctx context.Context, d *Dataset, files []ValidationFile) (*Validation, error)
}

// ValidationFile is one part to validate.
type ValidationFile struct {
	Part *Part
	Data io.Reader // the uploaded bytes
	Avro io.Writer // where the part's Avro object container file goes
}

// Validation is a validator's verdict. A dataset that fails validation is
// not an error of Validate; Validate errs only when it could not do its work
// (I/O, cancellation).
type Validation struct {
	OK     bool
	Report Report
	Parts  []PartStats // one per ValidationFile, in order
}

// PartStats is what validation learnt about one part.
type PartStats struct {
	NumRows int64
	Samples []string
}

// KeyOrgReader reads a key and its organisation's row in one query, so a
// request that needs both (authentication, then usage) makes one round
// trip to the store. Both are read as of one instant and are exact: a
// write that returned is seen by the next read (an implementation may keep
// a copy only if every write updates it before returning, as the embedded
// store's key cache does; never a copy that lags, such as a TTL cache).
type KeyOrgReader interface {
	// KeyWithOrg returns the key (revoked or not) and its org with its
	// counters, or a nil org if the org is gone; ENOTFOUND if no key has
	// the hash.
	KeyWithOrg(ctx context.Context, hash []byte) (*Key, *Org, error)
}

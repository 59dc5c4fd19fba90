package silo

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Service holds silo's business rules, once: who may do what (roles), the
// quota, and the lifecycle of datasets. The HTTP layer calls it; the stores
// below it only store.
type Service struct {
	Store     Store
	Blobs     BlobStore
	Validator Validator
	Logger    *slog.Logger

	Node           string        // this process's name in leases; unique per start
	DefaultQuota   int64         // quota of an org created without one
	MaxDatasetSize int64         // largest dataset, all its files together
	Retention      time.Duration // 0 keeps datasets until deleted
	LeaseTTL       time.Duration // how long a dead node's leases outlive it
	// WebhookLogRetention is how long finished webhook deliveries (and
	// their events) are kept for the deliveries log; 0: the default.
	WebhookLogRetention time.Duration
	UploadTTL           time.Duration // how long a resumable upload lives after its last PATCH
	ReserveStep         int64         // bytes reserved at a time while streaming
	Workers             int           // validation workers
	// ValidationGC is the GC percent (debug.SetGCPercent) while any
	// validation runs; 0 leaves the GC as it is. A validation allocates
	// little but keeps ~16 MB live for seconds to minutes, and at the
	// default 100 the heap's peak wandered with the GC's timing.
	ValidationGC int
	// SettleTimeout bounds how long a create or delete whose answer was
	// lost asks the store what became of it before answering 504.
	SettleTimeout time.Duration
	Disk          *LocalDisk // the local data directory in embedded mode (ready.go); nil otherwise
	Now           func() time.Time
	// Pins keeps the blobs a running backup still reads from deletion.
	Pins Pins
	// CheckWebhookURL checks an endpoint's URL as it is created (the
	// webhook package's SSRF guard); nil checks only that it is http(s).
	CheckWebhookURL func(ctx context.Context, url string) error
	// EventsCommitted, if set, is called after a change that wrote events
	// to the outbox commits: the node's dispatcher looks at once.
	EventsCommitted func()

	wakeOnce  sync.Once
	wake      chan struct{} // a new job is queued
	sweepWake chan struct{} // garbage to delete
	leases    leaseSet      // the work running in this process
	ready     readyProbe    // /readyz's last probe (ready.go)
}

// Defaults used where a Service field is zero.
const (
	DefaultQuotaBytes     = 10_000_000_000 // 10 GB, as Cohere
	DefaultMaxDatasetSize = 1_500_000_000  // 1.5 GB, as Cohere
	DefaultLeaseTTL       = 30 * time.Second
	DefaultReserveStep    = 8 << 20
	DefaultRetention      = 30 * 24 * time.Hour
	// DefaultWebhookLogRetention keeps finished deliveries a week.
	DefaultWebhookLogRetention = 7 * 24 * time.Hour
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Service) leaseTTL() time.Duration {
	if s.LeaseTTL > 0 {
		return s.LeaseTTL
	}
	return DefaultLeaseTTL
}

func (s *Service) maxDatasetSize() int64 {
	if s.MaxDatasetSize > 0 {
		return s.MaxDatasetSize
	}
	return DefaultMaxDatasetSize
}

func (s *Service) defaultQuota() int64 {
	if s.DefaultQuota > 0 {
		return s.DefaultQuota
	}
	return DefaultQuotaBytes
}

func (s *Service) wakeCh() chan struct{} {
	s.wakeOnce.Do(func() { s.wake, s.sweepWake = make(chan struct{}, 1), make(chan struct{}, 1) })
	return s.wake
}

func (s *Service) sweepCh() chan struct{} {
	s.wakeCh()
	return s.sweepWake
}

// kickSweep asks for a sweep soon: there is garbage to delete.
func (s *Service) kickSweep() {
	select {
	case s.sweepCh() <- struct{}{}:
	default:
	}
}

// Caller is who makes a request: an authenticated key, and the client name
// it gave (X-Client-Name).
type Caller struct {
	Key        *Key
	ClientName string
	// Org is the key's organisation as read with the key, in the same
	// query, when the request was authenticated (AuthenticateWithOrg); nil
	// if not read. Usage answers from it: exact as of that instant.
	Org *Org
}

// OrgID is the organisation the caller acts for.
func (c *Caller) OrgID() string { return c.Key.OrgID }

// Authenticate finds the key whose secret is given. A key that never
// existed is EUNAUTHORIZED; a revoked one EREVOKED (Cohere's 498). Keys are
// found by the SHA-256 of the secret, so no comparison of secrets happens
// and timing reveals nothing about them.
func (s *Service) Authenticate(ctx context.Context, secret string) (*Key, error) {
	k, _, err := s.AuthenticateWithOrg(ctx, secret)
	return k, err
}

// AuthenticateWithOrg is Authenticate that also returns the key's
// organisation, read in the same query (one round trip to the store; nil
// if the org is gone).
func (s *Service) AuthenticateWithOrg(ctx context.Context, secret string) (*Key, *Org, error) {
	if secret == "" {
		return nil, nil, Errorf(EUNAUTHORIZED, "no api key supplied")
	}
	k, o, err := s.Store.KeyWithOrg(ctx, HashSecret(secret))
	if ErrorCode(err) == ENOTFOUND {
		return nil, nil, Errorf(EUNAUTHORIZED, "invalid api token")
	} else if err != nil {
		return nil, nil, err
	}
	if k.Revoked() {
		return nil, nil, Errorf(EREVOKED, "this api key has been revoked")
	}
	return k, o, nil
}

// require checks the caller's role.
func require(c *Caller, min Role) error {
	if c == nil || c.Key == nil {
		return Errorf(EUNAUTHORIZED, "no api key supplied")
	}
	if !c.Key.Role.Includes(min) {
		return Errorf(EFORBIDDEN, "this api key has role %q; this operation needs role %q", c.Key.Role, min)
	}
	return nil
}

// Authorize checks that the caller's role includes min. The HTTP API calls
// it for each route before it reads the request's body or parameters, so
// that a caller whose role is too low learns that (403) before anything
// about its input (400, 422): authentication, then the role, then the
// rest. Every operation below checks its role again; this only moves the
// answer forward.
func (s *Service) Authorize(c *Caller, min Role) error { return require(c, min) }

// AuthorizeOrgRead checks that the caller may read orgID's data: its own
// organisation ("" or its id) with any role that reads, another one with an
// admin key only.
func (s *Service) AuthorizeOrgRead(c *Caller, orgID string) error {
	if orgID == "" || (c != nil && c.Key != nil && orgID == c.OrgID()) {
		return require(c, RoleReader)
	}
	return require(c, RoleAdmin)
}

// Bootstrap makes sure the store has a key: on first start it creates
// organisation "default" and an admin key with the given secret (a new
// random one if secret is ""). It returns the secret when it created a key,
// "" when keys existed already.
func (s *Service) Bootstrap(ctx context.Context, secret string) (string, error) {
	if secret == "" {
		secret = NewSecret()
	}
	now := s.now()
	org := &Org{ID: NewID("org_"), Name: "default", QuotaBytes: s.defaultQuota(), CreatedAt: now}
	key := &Key{ID: NewID("key_"), OrgID: org.ID, Role: RoleAdmin, Name: "bootstrap", Hash: HashSecret(secret), CreatedAt: now}
	created, err := s.Store.Bootstrap(ctx, org, key)
	if err != nil || !created {
		return "", err
	}
	return secret, nil
}

// Usage returns the caller's organisation with its counters, and for a
// project key its project with its own: reading them is a row each,
// whatever the number of datasets.
func (s *Service) Usage(ctx context.Context, c *Caller) (*Org, *Project, error) {
	if err := require(c, RoleReader); err != nil {
		return nil, nil, err
	}
	p, err := s.projectUsage(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	if c.Org != nil && c.Org.ID == c.OrgID() {
		return c.Org, p, nil // read with the key, during this request
	}
	o, err := s.Store.Org(ctx, c.OrgID())
	return o, p, err
}

// UsageHistory returns the caller's organisation's usage samples since a
// moment, at most limit of the newest; for a project key, its project's.
func (s *Service) UsageHistory(ctx context.Context, c *Caller, since time.Time, limit int) ([]UsageSample, error) {
	if err := require(c, RoleReader); err != nil {
		return nil, err
	}
	if c.ProjectID() != "" {
		return s.Store.ProjectUsageHistory(ctx, c.ProjectID(), since, limit)
	}
	return s.Store.UsageHistory(ctx, c.OrgID(), since, limit)
}

// Dataset returns one of the caller's organisation's datasets. Another
// organisation's dataset is not found, exactly like a missing one; so is,
// for a project key, another project's.
func (s *Service) Dataset(ctx context.Context, c *Caller, id string) (*Dataset, error) {
	if err := require(c, RoleReader); err != nil {
		return nil, err
	}
	d, err := s.Store.Dataset(ctx, c.OrgID(), id)
	if ErrorCode(err) == ENOTFOUND || err == nil && !c.sees(d.ProjectID) {
		return nil, notFound(id)
	}
	return d, err
}

// notFound is Cohere's documented 404 for a dataset (docs/datasets, the
// "Get" row of its error table).
func notFound(id string) error {
	return Errorf(ENOTFOUND, "The dataset with id '%s' was not found.", id)
}

// MaxListLimit is the largest page a list may ask for.
const MaxListLimit = 1000

// Datasets streams the caller's organisation's datasets that f selects,
// newest first. fn is called between store reads, never during one (see
// eachPage): it may write to a client that reads slowly.
func (s *Service) Datasets(ctx context.Context, c *Caller, f DatasetFilter, fn func(*Dataset) error) error {
	if err := require(c, RoleReader); err != nil {
		return err
	}
	switch {
	case f.Limit < 0 || f.Limit > MaxListLimit:
		return Errorf(EUNPROCESSABLE, "limit must be between 1 and %d", MaxListLimit)
	case f.Offset < 0:
		return Errorf(EUNPROCESSABLE, "offset must not be negative")
	case f.Status != "" && !f.Status.Known():
		return Errorf(EUNPROCESSABLE, "unknown validationStatus %q: want one of unknown, queued, processing, failed, validated, skipped", f.Status)
	}
	f.OrgID, f.ProjectID = c.OrgID(), c.ProjectID()
	return eachPage(ctx, s.Store, f, fn)
}

// DeleteDataset deletes one of the caller's organisation's datasets. Usage
// drops in the transaction that removes it, and the answer follows that
// commit; its blobs are garbage from then on and the sweep deletes them in
// the background, so a slow blob store never holds the answer.
func (s *Service) DeleteDataset(ctx context.Context, c *Caller, id string) error {
	if err := require(c, RoleWriter); err != nil {
		return err
	}
	if c.ProjectID() != "" {
		// Another project's dataset is not found. A dataset's project
		// never changes, so what this read says holds for the delete.
		if _, err := s.Dataset(ctx, c, id); err != nil {
			return err
		}
	}
	d, err := s.deleteSettled(ctx, c.OrgID(), id)
	if ErrorCode(err) == ENOTFOUND {
		return notFound(id)
	} else if err != nil {
		return err
	}
	s.eventsCommitted()
	if d != nil {
		s.log().Info("dataset deleted", "org", d.OrgID, "dataset", d.ID, "bytes", d.SizeBytes)
	}
	s.kickSweep()
	return nil
}

// deleteSettled deletes a dataset and learns the outcome: a delete whose
// answer was lost may have committed or not, and running it again settles
// it (gone then means this delete or another removed it). It tries within
// SettleTimeout and the request's deadline; if the store still does not
// answer, the outcome is unknown: 504, and a repeated delete is safe.
// A nil dataset with a nil error: deleted, but by an attempt whose answer
// was lost.
func (s *Service) deleteSettled(ctx context.Context, orgID, id string) (*Dataset, error) {
	d, err := s.Store.DeleteDataset(ctx, orgID, id)
	if err == nil || ErrorCode(err) == ENOTFOUND || ErrorCode(err) == ECANCELED {
		return d, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.settleTimeout())
	defer cancel()
	first := err
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		// A store that answers reads while it refuses writes (a full or
		// read-only disk) settles it at once: the dataset still there
		// means this delete changed nothing, and its error stands (503).
		// Only an outcome the store itself calls unknown (ETIMEOUT: a
		// commit that may still land) is settled by deleting again.
		if ErrorCode(first) != ETIMEOUT {
			_, lerr := s.Store.Dataset(ctx, orgID, id)
			switch {
			case lerr == nil:
				return nil, first
			case ErrorCode(lerr) == ENOTFOUND:
				return nil, nil
			}
		}
		select {
		case <-ctx.Done():
			s.log().Warn("a delete's outcome is unknown", "org", orgID, "dataset", id, "err", first, "last", err)
			return nil, Errorf(ETIMEOUT, "The delete's outcome is unknown: the metadata store did not answer in time. Repeating the delete is safe.")
		case <-time.After(wait):
		}
		d, err = s.Store.DeleteDataset(ctx, orgID, id)
		switch {
		case err == nil:
			return d, nil
		case ErrorCode(err) == ENOTFOUND:
			return nil, nil
		}
	}
}

// DefaultSettleTimeout is SettleTimeout's default.
const DefaultSettleTimeout = 10 * time.Second

func (s *Service) settleTimeout() time.Duration {
	if s.SettleTimeout > 0 {
		return s.SettleTimeout
	}
	return DefaultSettleTimeout
}

// deleteBlobs deletes garbage blobs and forgets them in the ledger. What it
// cannot delete stays in the ledger as garbage for the sweep; it reports
// whether that left any. Callers pass only keys the store has said are
// garbage: a release that removed its reservation, a finish or delete
// whose commit is known.
func (s *Service) deleteBlobs(ctx context.Context, keys []string) (left bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var gone []string
	for _, k := range keys {
		if s.Pins.Pinned(k) {
			left = true // a backup still reads it; stays garbage for a later sweep
			continue
		}
		if err := s.Blobs.Delete(ctx, k); err != nil {
			s.log().Warn("blob delete failed; the sweep will retry", "blob", k, "err", err)
			left = true
			continue
		}
		gone = append(gone, k)
	}
	if len(gone) > 0 {
		if err := s.Store.ForgetBlobs(ctx, gone); err != nil {
			s.log().Warn("forgetting deleted blobs failed; the sweep will retry", "err", err)
			left = true
		}
	}
	return left
}

// Admin API: operator keys only, across organisations.

// MaxOrgNameLength bounds organisation names.
const MaxOrgNameLength = 100

// CreateOrg creates an organisation; quota nil means the default quota.
func (s *Service) CreateOrg(ctx context.Context, c *Caller, name string, quota *int64) (*Org, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > MaxOrgNameLength {
		return nil, Errorf(EUNPROCESSABLE, "name must be 1 to %d characters", MaxOrgNameLength)
	}
	q := s.defaultQuota()
	if quota != nil {
		if *quota < 0 {
			return nil, Errorf(EUNPROCESSABLE, "quota_bytes must not be negative")
		}
		q = *quota
	}
	org := &Org{ID: NewID("org_"), Name: name, QuotaBytes: q, CreatedAt: s.now()}
	if err := s.Store.CreateOrg(ctx, org); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return nil, Errorf(ECONFLICT, "an organization named %q exists already", name)
		}
		return nil, err
	}
	return org, nil
}

// Orgs lists every organisation with its usage.
func (s *Service) Orgs(ctx context.Context, c *Caller) ([]*Org, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	return s.Store.Orgs(ctx)
}

// SetQuota changes an organisation's quota. Lowering it below the current
// usage is allowed: new creates are refused until usage drops under it.
func (s *Service) SetQuota(ctx context.Context, c *Caller, orgID string, quota int64) (*Org, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	if quota < 0 {
		return nil, Errorf(EUNPROCESSABLE, "quota_bytes must not be negative")
	}
	org, err := s.Store.SetQuota(ctx, orgID, quota)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "organization %s not found", orgID)
	}
	return org, err
}

// CreateKey creates an API key, bound to projectID if it is set; its
// secret is in the returned key only.
func (s *Service) CreateKey(ctx context.Context, c *Caller, orgID, projectID string, role Role, name string) (*Key, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, Errorf(EUNPROCESSABLE, "role must be reader, writer, admin or metrics")
	}
	if len(name) > MaxOrgNameLength {
		return nil, Errorf(EUNPROCESSABLE, "name must be at most %d characters", MaxOrgNameLength)
	}
	if _, err := s.Store.Org(ctx, orgID); ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(EUNPROCESSABLE, "organization %q does not exist", orgID)
	} else if err != nil {
		return nil, err
	}
	if err := s.checkKeyProject(ctx, orgID, projectID, role); err != nil {
		return nil, err
	}
	secret := NewSecret()
	k := &Key{ID: NewID("key_"), OrgID: orgID, ProjectID: projectID, Role: role, Name: name, Hash: HashSecret(secret), CreatedAt: s.now()}
	if err := s.Store.CreateKey(ctx, k); ErrorCode(err) == ENOTFOUND { // deleted meanwhile
		return nil, Errorf(EUNPROCESSABLE, "organization %q (or project %q) does not exist", orgID, projectID)
	} else if err != nil {
		return nil, err
	}
	k.Secret = secret
	return k, nil
}

// Keys lists keys, of one organisation or of all ("").
func (s *Service) Keys(ctx context.Context, c *Caller, orgID string) ([]*Key, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	return s.Store.Keys(ctx, orgID)
}

// RevokeKey deny-lists a key: from then on it gets EREVOKED. The last
// unrevoked admin key cannot be revoked (ECONFLICT): no one could use the
// admin API any more.
func (s *Service) RevokeKey(ctx context.Context, c *Caller, id string) (*Key, error) {
	if err := require(c, RoleAdmin); err != nil {
		return nil, err
	}
	k, err := s.Store.RevokeKey(ctx, id, s.now())
	switch {
	case errors.Is(err, ErrLastAdmin):
		return nil, Errorf(ECONFLICT, "key %s is the last admin key that is not revoked: revoking it would lock every operator out. Create another admin key first (or, locked out, run silo admin recover on the server's machine).", id)
	case ErrorCode(err) == ENOTFOUND:
		return nil, Errorf(ENOTFOUND, "key %s not found", id)
	}
	return k, err
}

// OpenPart opens a part of a dataset for download, as a signed URL names it:
// the uploaded file (original) or its Avro rendering. It checks no caller;
// the URL's signature is the capability.
func (s *Service) OpenPart(ctx context.Context, orgID, datasetID string, index int, avro bool) (*Dataset, *Part, error) {
	d, err := s.Store.Dataset(ctx, orgID, datasetID)
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return nil, nil, notFound(datasetID)
		}
		return nil, nil, err
	}
	for i := range d.Parts {
		p := &d.Parts[i]
		if p.Index != index {
			continue
		}
		if avro && p.AvroKey == "" {
			return nil, nil, Errorf(ENOTFOUND, "part %d of dataset %s has no Avro file (validation status %s)", index, datasetID, d.Status)
		}
		if !avro && p.OriginalDropped {
			return nil, nil, Errorf(ENOTFOUND, "the original file of part %d was not kept (keep_original_file=false)", index)
		}
		return d, p, nil
	}
	return nil, nil, Errorf(ENOTFOUND, "dataset %s has no part %d", datasetID, index)
}

var errNoJob = errors.New("no job")

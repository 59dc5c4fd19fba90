package silo

import (
	"context"
	"time"
)

// WithDeadlines returns st with a deadline of d on each call an upload
// makes while it streams: uploads have no request deadline (their length
// grows with their size), so without this a store that stopped answering
// would hold them, their reservations and their clients forever. A call
// that runs past d fails with context.DeadlineExceeded, which the API
// answers with 504. Other requests have the API's request deadline, but
// authentication and a list's pages have d too: they run in requests that
// have none (uploads, unpaged lists, backups), and a frozen store would
// hold those forever (see deadline_read.go).
//
// The store's other methods, and the IdempotencyStore and fsck methods,
// pass through unchanged.
func WithDeadlines(st Store, d time.Duration) Store {
	if d <= 0 {
		return st
	}
	ds := &deadlineStore{Store: st, d: d}
	if is, ok := st.(IdempotencyStore); ok {
		return &deadlineIdemStore{deadlineStore: ds, idem: is}
	}
	return ds
}

type deadlineStore struct {
	Store
	d time.Duration
}

func (s *deadlineStore) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.d)
}

func (s *deadlineStore) OpenReservation(ctx context.Context, r *Reservation) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.OpenReservation(ctx, r)
}

func (s *deadlineStore) Reserve(ctx context.Context, resID string, need, want int64) (int64, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.Reserve(ctx, resID, need, want)
}

func (s *deadlineStore) AddPendingBlob(ctx context.Context, resID, orgID, key string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.AddPendingBlob(ctx, resID, orgID, key)
}

func (s *deadlineStore) CreateDataset(ctx context.Context, d *Dataset, resID string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.CreateDataset(ctx, d, resID)
}

func (s *deadlineStore) KeyByHash(ctx context.Context, hash []byte) (*Key, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.KeyByHash(ctx, hash)
}

// deadlineIdemStore keeps a store's IdempotencyStore visible through the
// wrapper, with the same deadline on its calls.
type deadlineIdemStore struct {
	*deadlineStore
	idem IdempotencyStore
}

func (s *deadlineIdemStore) ClaimIdempotency(ctx context.Context, rec *IdempotencyRecord, now, since time.Time) (*IdempotencyRecord, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.idem.ClaimIdempotency(ctx, rec, now, since)
}

func (s *deadlineIdemStore) AttachIdempotency(ctx context.Context, orgID, key, claim, resID string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.idem.AttachIdempotency(ctx, orgID, key, claim, resID)
}

func (s *deadlineIdemStore) FinishIdempotency(ctx context.Context, orgID, key, claim string, status int, body []byte) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.idem.FinishIdempotency(ctx, orgID, key, claim, status, body)
}

func (s *deadlineIdemStore) ReleaseIdempotency(ctx context.Context, orgID, key, claim string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.idem.ReleaseIdempotency(ctx, orgID, key, claim)
}

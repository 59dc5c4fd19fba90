package silo

import (
	"context"
	"time"
)

// The rest of the write path and the background work under the same
// deadline as an upload's calls: a delete, a validation's claim, blobs and
// finish, a hand-back, a release, a lease renewal and the sweep's calls.
// Past it the caller learns the outcome is unknown and settles it (see
// Service.deleteSettled, Upload.settle, Service.retry), instead of hanging
// on a store that stopped answering.

func (s *deadlineStore) DeleteDataset(ctx context.Context, orgID, id string) (*Dataset, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.DeleteDataset(ctx, orgID, id)
}

func (s *deadlineStore) Dataset(ctx context.Context, orgID, id string) (*Dataset, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.Dataset(ctx, orgID, id)
}

func (s *deadlineStore) DropReservation(ctx context.Context, resID string, expiredBefore time.Time) (bool, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.DropReservation(ctx, resID, expiredBefore)
}

func (s *deadlineStore) ClaimJob(ctx context.Context, owner string, now, leaseUntil time.Time) (*Job, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.ClaimJob(ctx, owner, now, leaseUntil)
}

func (s *deadlineStore) AddJobBlob(ctx context.Context, job *Job, key string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.AddJobBlob(ctx, job, key)
}

func (s *deadlineStore) FinishJob(ctx context.Context, job *Job, d *Dataset) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.FinishJob(ctx, job, d)
}

func (s *deadlineStore) RetryJob(ctx context.Context, job *Job, now, notBefore time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.RetryJob(ctx, job, now, notBefore)
}

func (s *deadlineStore) RenewReservations(ctx context.Context, ids []string, now, until time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.RenewReservations(ctx, ids, now, until)
}

func (s *deadlineStore) RenewJobs(ctx context.Context, jobs []*Job, now, until time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.RenewJobs(ctx, jobs, now, until)
}

func (s *deadlineStore) ExpiredReservations(ctx context.Context, now time.Time) ([]*Reservation, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.ExpiredReservations(ctx, now)
}

func (s *deadlineStore) ExpiredDatasets(ctx context.Context, now time.Time, limit int) ([]*Dataset, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.ExpiredDatasets(ctx, now, limit)
}

func (s *deadlineStore) HoldPendingBlobs(ctx context.Context, resID string, now, until time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.HoldPendingBlobs(ctx, resID, now, until)
}

func (s *deadlineStore) EndBlobHolds(ctx context.Context, keys []string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.EndBlobHolds(ctx, keys)
}

func (s *deadlineStore) GarbageBlobs(ctx context.Context, now time.Time, after string, limit int) ([]string, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.GarbageBlobs(ctx, now, after, limit)
}

func (s *deadlineStore) ForgetBlobs(ctx context.Context, keys []string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.ForgetBlobs(ctx, keys)
}

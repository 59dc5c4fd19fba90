package silo

import (
	"context"
	"time"
)

// The resumable uploads' store calls: a PATCH has no request deadline (its
// length grows with its body), so each call gets the store deadline.

func (s *deadlineStore) CreateUpload(ctx context.Context, u *ResumableUpload) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.CreateUpload(ctx, u)
}

func (s *deadlineStore) Upload(ctx context.Context, orgID, id string) (*ResumableUpload, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.Upload(ctx, orgID, id)
}

func (s *deadlineStore) Uploads(ctx context.Context, orgID string) ([]*ResumableUpload, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.Uploads(ctx, orgID)
}

func (s *deadlineStore) LockUpload(ctx context.Context, orgID, id, owner string, now, until time.Time) (*ResumableUpload, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.LockUpload(ctx, orgID, id, owner, now, until)
}

func (s *deadlineStore) UnlockUpload(ctx context.Context, id, owner string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.UnlockUpload(ctx, id, owner)
}

func (s *deadlineStore) AdvanceUpload(ctx context.Context, u *ResumableUpload, owner string, from int64, now time.Time) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.AdvanceUpload(ctx, u, owner, from, now)
}

func (s *deadlineStore) DeleteUpload(ctx context.Context, orgID, id string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.DeleteUpload(ctx, orgID, id)
}

func (s *deadlineStore) ExpiredUploads(ctx context.Context, now time.Time, limit int) ([]*ResumableUpload, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.ExpiredUploads(ctx, now, limit)
}

func (s *deadlineStore) ConcatUploads(ctx context.Context, final *ResumableUpload, ids []string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.ConcatUploads(ctx, final, ids)
}

func (s *deadlineStore) CreateDatasetFromUploads(ctx context.Context, d *Dataset, ids []string) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.CreateDatasetFromUploads(ctx, d, ids)
}

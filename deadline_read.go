package silo

import "context"

// The reads of requests that have no request deadline of their own, under
// the same deadline as an upload's calls: authentication, which comes
// first on every route, and the pages of a list, which Service.Datasets
// reads one short call at a time (so d bounds each page, not the whole
// list, however long the client takes to read it).

func (s *deadlineStore) KeyWithOrg(ctx context.Context, hash []byte) (*Key, *Org, error) {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.KeyWithOrg(ctx, hash)
}

func (s *deadlineStore) Datasets(ctx context.Context, f DatasetFilter, fn func(*Dataset) error) error {
	ctx, cancel := s.ctx(ctx)
	defer cancel()
	return s.Store.Datasets(ctx, f, fn)
}

// Package faultstore wraps a real silo.Store and silo.BlobStore and makes
// chosen calls fail the way infrastructure fails: an error before anything
// happened, a hang until the caller's deadline, or the worst one, a call
// that did its work (committed) and then lost its answer, which is how an
// in-doubt commit looks to the caller. Faults are set per method name.
//
// The wrappers embed the interfaces, so methods added to silo.Store later
// pass through to the real store untouched.
package faultstore

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/silo-datasets/silo"
)

// Mode is how a call fails.
type Mode int

const (
	Pass Mode = iota // the real call, untouched
	Fail             // an error; the real call does not run
	Hang             // blocks until the caller's context ends; the real call does not run
	Lose             // the real call runs (and commits); then its answer is lost
)

func (m Mode) String() string {
	return [...]string{"pass", "fail", "hang", "lose"}[m]
}

// A Fail answers as a store answers when its server is down (a refused
// connection, classified as unavailable); a Lose as when the connection
// broke after the COMMIT was sent: the same code, though this time the work
// was done. Callers cannot tell them apart, which is the point.
func injected(method, what string) error {
	return silo.Errorf(silo.EUNAVAILABLE, "faultstore: %s: %s (injected)", method, what)
}

// Faults is the set of faults in force, shared by a Store and a Blobs.
type Faults struct {
	mu    sync.Mutex
	rules map[string]*rule
	hits  map[string]int
}

type rule struct {
	mode  Mode
	skip  int // calls to let through first
	times int // how many more calls it hits; < 0 for all
}

// Set makes the next times calls of method (e.g. "CreateDataset",
// "Blobs.Put") fail with mode; times < 0 means every call until Clear.
func (f *Faults) Set(method string, mode Mode, times int) { f.SetAfter(method, 0, mode, times) }

// SetAfter is Set, letting the next skip calls through first.
func (f *Faults) SetAfter(method string, skip int, mode Mode, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rules == nil {
		f.rules = map[string]*rule{}
	}
	f.rules[method] = &rule{mode: mode, skip: skip, times: times}
}

// Clear removes every fault.
func (f *Faults) Clear() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rules = nil
}

// Hits reports how many calls of method a fault hit.
func (f *Faults) Hits(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits[method]
}

func (f *Faults) take(method string) Mode {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rules[method]
	if r == nil || r.times == 0 {
		return Pass
	}
	if r.skip > 0 {
		r.skip--
		return Pass
	}
	if r.times > 0 {
		r.times--
	}
	if f.hits == nil {
		f.hits = map[string]int{}
	}
	f.hits[method]++
	return r.mode
}

// do runs call under method's fault.
func (f *Faults) do(ctx context.Context, method string, call func(context.Context) error) error {
	switch f.take(method) {
	case Fail:
		return injected(method, "connection refused")
	case Hang:
		// A store that stopped answering: only the caller's deadline
		// ends the wait (bounded here too, so a test without one fails
		// instead of hanging).
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", method, ctx.Err())
		case <-time.After(time.Minute):
			return fmt.Errorf("%s: hung for a minute without a deadline", method)
		}
	case Lose:
		if err := call(ctx); err != nil {
			return err
		}
		return injected(method, "connection lost after the commit was sent")
	}
	return call(ctx)
}

// Store is a silo.Store with faults.
type Store struct {
	silo.Store
	F *Faults
}

// Wrap returns st with the faults of f.
func Wrap(st silo.Store, f *Faults) *Store { return &Store{Store: st, F: f} }

func (s *Store) OpenReservation(ctx context.Context, r *silo.Reservation) error {
	return s.F.do(ctx, "OpenReservation", func(ctx context.Context) error { return s.Store.OpenReservation(ctx, r) })
}

func (s *Store) Reserve(ctx context.Context, resID string, need, want int64) (n int64, err error) {
	err = s.F.do(ctx, "Reserve", func(ctx context.Context) (err error) { n, err = s.Store.Reserve(ctx, resID, need, want); return err })
	return n, err
}

func (s *Store) AddPendingBlob(ctx context.Context, resID, orgID, key string) error {
	return s.F.do(ctx, "AddPendingBlob", func(ctx context.Context) error { return s.Store.AddPendingBlob(ctx, resID, orgID, key) })
}

func (s *Store) CreateDataset(ctx context.Context, d *silo.Dataset, resID string) error {
	return s.F.do(ctx, "CreateDataset", func(ctx context.Context) error { return s.Store.CreateDataset(ctx, d, resID) })
}

func (s *Store) Dataset(ctx context.Context, orgID, id string) (d *silo.Dataset, err error) {
	err = s.F.do(ctx, "Dataset", func(ctx context.Context) (err error) { d, err = s.Store.Dataset(ctx, orgID, id); return err })
	return d, err
}

func (s *Store) DeleteDataset(ctx context.Context, orgID, id string) (d *silo.Dataset, err error) {
	err = s.F.do(ctx, "DeleteDataset", func(ctx context.Context) (err error) { d, err = s.Store.DeleteDataset(ctx, orgID, id); return err })
	return d, err
}

func (s *Store) DropReservation(ctx context.Context, resID string, expiredBefore time.Time) (ok bool, err error) {
	err = s.F.do(ctx, "DropReservation", func(ctx context.Context) (err error) {
		ok, err = s.Store.DropReservation(ctx, resID, expiredBefore)
		return err
	})
	return ok, err
}

func (s *Store) ExpiredReservations(ctx context.Context, now time.Time) (rs []*silo.Reservation, err error) {
	err = s.F.do(ctx, "ExpiredReservations", func(ctx context.Context) (err error) { rs, err = s.Store.ExpiredReservations(ctx, now); return err })
	return rs, err
}

func (s *Store) ClaimJob(ctx context.Context, owner string, now, leaseUntil time.Time) (j *silo.Job, err error) {
	err = s.F.do(ctx, "ClaimJob", func(ctx context.Context) (err error) {
		j, err = s.Store.ClaimJob(ctx, owner, now, leaseUntil)
		return err
	})
	return j, err
}

func (s *Store) AddJobBlob(ctx context.Context, job *silo.Job, key string) error {
	return s.F.do(ctx, "AddJobBlob", func(ctx context.Context) error { return s.Store.AddJobBlob(ctx, job, key) })
}

func (s *Store) FinishJob(ctx context.Context, job *silo.Job, d *silo.Dataset) error {
	return s.F.do(ctx, "FinishJob", func(ctx context.Context) error { return s.Store.FinishJob(ctx, job, d) })
}

func (s *Store) RetryJob(ctx context.Context, job *silo.Job, now, notBefore time.Time) error {
	return s.F.do(ctx, "RetryJob", func(ctx context.Context) error { return s.Store.RetryJob(ctx, job, now, notBefore) })
}

func (s *Store) RenewReservations(ctx context.Context, ids []string, now, until time.Time) error {
	return s.F.do(ctx, "RenewReservations", func(ctx context.Context) error { return s.Store.RenewReservations(ctx, ids, now, until) })
}

func (s *Store) RenewJobs(ctx context.Context, jobs []*silo.Job, now, until time.Time) error {
	return s.F.do(ctx, "RenewJobs", func(ctx context.Context) error { return s.Store.RenewJobs(ctx, jobs, now, until) })
}

// The calls of a resumable upload's PATCH.

func (s *Store) LockUpload(ctx context.Context, orgID, id, owner string, now, until time.Time) (u *silo.ResumableUpload, err error) {
	err = s.F.do(ctx, "LockUpload", func(ctx context.Context) (err error) {
		u, err = s.Store.LockUpload(ctx, orgID, id, owner, now, until)
		return err
	})
	return u, err
}

func (s *Store) AdvanceUpload(ctx context.Context, u *silo.ResumableUpload, owner string, from int64, now time.Time) error {
	return s.F.do(ctx, "AdvanceUpload", func(ctx context.Context) error { return s.Store.AdvanceUpload(ctx, u, owner, from, now) })
}

func (s *Store) UnlockUpload(ctx context.Context, id, owner string) error {
	return s.F.do(ctx, "UnlockUpload", func(ctx context.Context) error { return s.Store.UnlockUpload(ctx, id, owner) })
}

func (s *Store) HoldPendingBlobs(ctx context.Context, resID string, now, until time.Time) error {
	return s.F.do(ctx, "HoldPendingBlobs", func(ctx context.Context) error { return s.Store.HoldPendingBlobs(ctx, resID, now, until) })
}

func (s *Store) EndBlobHolds(ctx context.Context, keys []string) error {
	return s.F.do(ctx, "EndBlobHolds", func(ctx context.Context) error { return s.Store.EndBlobHolds(ctx, keys) })
}

func (s *Store) GarbageBlobs(ctx context.Context, now time.Time, after string, limit int) (keys []string, err error) {
	err = s.F.do(ctx, "GarbageBlobs", func(ctx context.Context) (err error) {
		keys, err = s.Store.GarbageBlobs(ctx, now, after, limit)
		return err
	})
	return keys, err
}

func (s *Store) ForgetBlobs(ctx context.Context, keys []string) error {
	return s.F.do(ctx, "ForgetBlobs", func(ctx context.Context) error { return s.Store.ForgetBlobs(ctx, keys) })
}

// Blobs is a silo.BlobStore with faults; its methods are named "Blobs.Put",
// "Blobs.Open" and "Blobs.Delete".
type Blobs struct {
	silo.BlobStore
	F *Faults
	// Landing, if not zero, makes the wrapper a silo.LateLander with that
	// delay (the faults of an S3 store's late writes on a disk store: an
	// upload's blobs are then held in the ledger after their file ends).
	Landing time.Duration
}

// LandingDelay is Landing, or the wrapped store's own.
func (b *Blobs) LandingDelay() time.Duration {
	if l, ok := b.BlobStore.(silo.LateLander); ok && b.Landing == 0 {
		return l.LandingDelay()
	}
	return b.Landing
}

// WrapBlobs returns b with the faults of f.
func WrapBlobs(b silo.BlobStore, f *Faults) *Blobs { return &Blobs{BlobStore: b, F: f} }

func (b *Blobs) Put(ctx context.Context, key string, r io.Reader) (n int64, err error) {
	err = b.F.do(ctx, "Blobs.Put", func(ctx context.Context) (err error) { n, err = b.BlobStore.Put(ctx, key, r); return err })
	return n, err
}

// Append and Seal pass a resumable upload's pieces to the wrapped store
// (faults "Blobs.Append", "Blobs.Seal"), which must be a silo.Appender.
func (b *Blobs) Append(ctx context.Context, key string, state []byte, offset, length int64, r io.Reader) (st []byte, n int64, err error) {
	a, ok := b.BlobStore.(silo.Appender)
	if !ok {
		return nil, 0, silo.Errorf(silo.ENOTIMPLEMENTED, "faultstore: the wrapped blob store takes no resumable uploads")
	}
	err = b.F.do(ctx, "Blobs.Append", func(ctx context.Context) (err error) {
		st, n, err = a.Append(ctx, key, state, offset, length, r)
		return err
	})
	return st, n, err
}

func (b *Blobs) Seal(ctx context.Context, key string, state []byte, length int64) error {
	a, ok := b.BlobStore.(silo.Appender)
	if !ok {
		return silo.Errorf(silo.ENOTIMPLEMENTED, "faultstore: the wrapped blob store takes no resumable uploads")
	}
	return b.F.do(ctx, "Blobs.Seal", func(ctx context.Context) error { return a.Seal(ctx, key, state, length) })
}

// Join passes a concatenation's join to the wrapped store (fault
// "Blobs.Join"), or copies the blobs through Put if it cannot join.
func (b *Blobs) Join(ctx context.Context, key string, srcs []string) (n int64, err error) {
	j, ok := b.BlobStore.(silo.Joiner)
	if !ok {
		return b.Put(ctx, key, silo.JoinedReader(ctx, b, srcs))
	}
	err = b.F.do(ctx, "Blobs.Join", func(ctx context.Context) (err error) { n, err = j.Join(ctx, key, srcs); return err })
	return n, err
}

func (b *Blobs) Open(ctx context.Context, key string, offset, length int64) (rc io.ReadCloser, err error) {
	err = b.F.do(ctx, "Blobs.Open", func(ctx context.Context) (err error) {
		rc, err = b.BlobStore.Open(ctx, key, offset, length)
		return err
	})
	if err != nil && rc != nil {
		rc.Close()
		rc = nil
	}
	return rc, err
}

func (b *Blobs) Delete(ctx context.Context, key string) error {
	return b.F.do(ctx, "Blobs.Delete", func(ctx context.Context) error { return b.BlobStore.Delete(ctx, key) })
}

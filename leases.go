package silo

import (
	"context"
	"errors"
	"sync"
	"time"
)

// leaseSet is the work this process holds in memory: the reservations of
// the uploads running in it and the jobs of its validations. Each upload or
// validation adds its lease when it starts and removes it when it ends,
// whatever the outcome; the heartbeat renews these and nothing else. A
// lease whose work ended without giving it back (a release or a finish
// that failed) is renewed by no one: it lapses, and the sweep of any node,
// this one included, takes it back. A node-wide "renew all of mine" would
// keep such leases alive until the process restarted.
type leaseSet struct {
	mu      sync.Mutex
	res     map[string]struct{}
	jobs    map[*Job]struct{}
	changed chan struct{} // closed and replaced on every removal
}

func (l *leaseSet) addReservation(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.res == nil {
		l.res = map[string]struct{}{}
	}
	l.res[id] = struct{}{}
}

func (l *leaseSet) dropReservation(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.res, id)
	l.signal()
}

func (l *leaseSet) addJob(j *Job) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.jobs == nil {
		l.jobs = map[*Job]struct{}{}
	}
	l.jobs[j] = struct{}{}
}

func (l *leaseSet) dropJob(j *Job) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.jobs, j)
	l.signal()
}

func (l *leaseSet) signal() {
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
}

// held returns the leases to renew, and a channel closed at the next
// removal.
func (l *leaseSet) held() (res []string, jobs []*Job, changed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.res {
		res = append(res, id)
	}
	for j := range l.jobs {
		jobs = append(jobs, j)
	}
	if l.changed == nil {
		l.changed = make(chan struct{})
	}
	return res, jobs, l.changed
}

// heartbeat renews the leases of the work running in this process.
func (s *Service) heartbeat(ctx context.Context) error {
	res, jobs, _ := s.leases.held()
	if len(res) == 0 && len(jobs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.leaseTTL()/3)
	defer cancel()
	now := s.now()
	until := now.Add(s.leaseTTL())
	return errors.Join(s.Store.RenewReservations(ctx, res, now, until), s.Store.RenewJobs(ctx, jobs, now, until))
}

// Drain waits until no upload or validation of this process holds a lease
// any more (each has released its reservation or handed back its job), or
// ctx ends; it reports what still held one. A clean stop calls it after the
// server and the workers stopped, so that it leaves nothing for fsck to
// find.
func (s *Service) Drain(ctx context.Context) (reservations, jobs int) {
	for {
		res, js, changed := s.leases.held()
		if len(res) == 0 && len(js) == 0 {
			return 0, 0
		}
		select {
		case <-ctx.Done():
			return len(res), len(js)
		case <-changed:
		}
	}
}

// storeTimeout bounds a store call that must not hang the work around it
// (a finish, a hand-back, a release): past it, the outcome is unknown and
// the leases settle it.
const storeTimeout = 10 * time.Second

// bounded returns a context for a store call that must run to its end even
// when ctx is cancelled (a stop in the middle of a commit), but not longer
// than storeTimeout.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
}

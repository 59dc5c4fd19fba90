package silo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ReadyEvery is how often Ready probes the stores at most.
const ReadyEvery = time.Second

// readyProbe is Ready's last result and the probe in flight, if any.
// /readyz needs no key and each probe commits a database write, PUTs and
// DELETEs a blob and fsyncs a file: uncached, anyone who can reach the
// port could make the node write as fast as they can send requests.
type readyProbe struct {
	mu      sync.Mutex
	at      time.Time     // when the last probe ended; zero before the first
	err     error         // its result
	running chan struct{} // closed when the probe in flight ends; nil if none
}

// Ready reports whether this node can serve writes: the metadata store and
// the blob store answer and accept writes, and the local data directory
// (embedded mode) has at least its minimum free space and takes a write.
// The error names the failing check in plain words; its cause (server,
// path) goes only to the log. The stores are probed at most once every
// ReadyEvery: a call within that of the last probe's end gets its result,
// and calls during a probe wait for it rather than start their own.
func (s *Service) Ready(ctx context.Context) error {
	p := &s.ready
	p.mu.Lock()
	if ch := p.running; ch != nil {
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return notReady("the readiness check", Errorf(ETIMEOUT, "it did not finish in time"))
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	}
	if !p.at.IsZero() && s.now().Sub(p.at) < ReadyEvery {
		defer p.mu.Unlock()
		return p.err
	}
	p.running = make(chan struct{})
	p.mu.Unlock()
	return s.probeOnce(ctx)
}

// probeOnce runs the probe that Ready started and records its result for
// the calls that wait on it and those of the next ReadyEvery; even a probe
// that panics ends (as not ready), so that no later call waits on it.
func (s *Service) probeOnce(ctx context.Context) (err error) {
	p := &s.ready
	err = notReady("the readiness check", Errorf(EINTERNAL, "it failed"))
	defer func() {
		p.mu.Lock()
		p.at, p.err = s.now(), err
		close(p.running)
		p.running = nil
		p.mu.Unlock()
	}()
	// The probe is every waiter's, not only this caller's: it goes on if
	// this caller goes away, bounded by its own deadline.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	err = s.probeReady(pctx)
	return err
}

// readyTimeout bounds one probe of the stores.
const readyTimeout = 5 * time.Second

func (s *Service) probeReady(ctx context.Context) error {
	if err := s.Store.Ping(ctx); err != nil {
		return notReady("the metadata store", err)
	}
	if err := s.Blobs.Ping(ctx); err != nil {
		return notReady("the blob store", err)
	}
	if s.Disk != nil {
		if err := s.Disk.Check(); err != nil {
			return notReady("the local data directory", err)
		}
	}
	return nil
}

// notReady is a check's failure as /readyz shows it.
func notReady(what string, err error) error {
	why := "is not working (see the server's log)"
	switch ErrorCode(err) {
	case EUNAVAILABLE, ETIMEOUT:
		why = "is not ready: " + ErrorMessage(err)
	}
	return &Error{Code: EUNAVAILABLE, Message: what + " " + why, Err: err}
}

// LocalDisk is the local directory silo keeps data in when it runs
// embedded (SQLite and blob files). silo keeps MinFree bytes of it free:
// a create that would eat into them is refused before its body is read,
// and /readyz fails below them, so the disk never fills up under the
// database.
type LocalDisk struct {
	Dir     string
	MinFree int64
}

// DefaultMinFreeSpace is --min-free-space's default.
const DefaultMinFreeSpace = 1_000_000_000 // 1 GB

// Check fails when the directory has less than MinFree bytes free or does
// not take a write: a few bytes written and fsynced to a new file (an empty
// file would need no space).
func (d *LocalDisk) Check() error {
	free, err := d.Free()
	if err != nil {
		return err
	}
	if free < d.MinFree {
		return &Error{Code: EUNAVAILABLE, Message: fmt.Sprintf("storage is nearly full: %s free, below the minimum of %s (--min-free-space)", FormatSize(free), FormatSize(d.MinFree))}
	}
	return d.probe()
}

func (d *LocalDisk) probe() error {
	b := make([]byte, 32)
	rand.Read(b)
	f, err := os.CreateTemp(d.Dir, ".ready-*")
	if err != nil {
		return Fault(DepDisk, err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write([]byte(hex.EncodeToString(b)))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return Fault(DepDisk, err)
}

// Fits refuses, with 503, an upload of n more bytes that would leave the
// directory with less than MinFree free. nil when d is nil (not embedded).
// n <= 0 (a create whose size is not known yet, or whose Content-Length is
// all framing) still needs the directory at or above MinFree: a small file
// must not be taken by a disk that is already below it.
func (d *LocalDisk) Fits(n int64) error {
	if d == nil {
		return nil
	}
	n = max(n, 0)
	free, err := d.Free()
	if err != nil {
		return err
	}
	switch {
	case free < d.MinFree:
		return &Error{Code: EUNAVAILABLE, Message: fmt.Sprintf("storage is full: %s free, below the %s kept free by --min-free-space; retry later or on another node",
			FormatSize(free), FormatSize(d.MinFree))}
	case free-n < d.MinFree:
		return &Error{Code: EUNAVAILABLE, Message: fmt.Sprintf("storage is full: this upload needs %s but only %s can be used (%s free, %s kept free by --min-free-space); retry later or on another node",
			FormatSize(n), FormatSize(free-d.MinFree), FormatSize(free), FormatSize(d.MinFree))}
	}
	return nil
}

// Free returns the bytes free in the directory for an unprivileged user.
func (d *LocalDisk) Free() (int64, error) {
	free, err := freeBytes(filepath.Clean(d.Dir))
	if err != nil {
		return 0, Fault(DepDisk, err)
	}
	return free, nil
}

package disk

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// syncEvery is how many bytes a Put writes between two background fsyncs
// of its temp file.
const syncEvery = 64 << 20

// syncer fsyncs a blob's temp file in the background while Put is still
// writing it, each time syncEvery more bytes are written, so that the
// fsync Put does at its end (still the one that makes the blob count as
// stored) finds only the last few MiB to flush. On this machine's virtual
// disk an fsync costs about as much as the bytes it flushes (the host
// persists them then; writeback without a flush does not help), and a
// 1 GiB upload waited 0.65–0.77 s after its last byte for it; flushed as
// it goes, 0.04 s. Every 16 MiB instead (so that the dropped pages come
// back sooner) made no difference: server CPU per 1 GiB upload 2.08-2.43 s
// against 1.97-2.15 (4 alternating rounds, 2026-12-06).
//
// After each background fsync the bytes it made durable are dropped from
// the page cache (dropCache), so that a blob of any size holds at most
// about 2 × syncEvery of it (cache.go says why that matters).
//
// A background fsync's error fails the Put: Linux reports a writeback
// error once per open file, so the final fsync could not be trusted to
// see it again.
type syncer struct {
	f       *os.File
	every   int64 // syncEvery; smaller in tests
	written int64
	kicked  atomic.Int64  // bytes written when the last fsync was asked for
	kick    chan struct{} // capacity 1: kicks while an fsync runs coalesce
	done    chan struct{}
	// drop is told each range that an fsync made durable, in order, once;
	// dropCache, or a recorder in tests.
	drop func(off, n int64)
	mu   sync.Mutex
	// syncs counts background fsyncs done; err is the first one's error.
	syncs int
	err   error
}

func newSyncer(f *os.File, every int64) *syncer {
	s := &syncer{f: f, every: every, kick: make(chan struct{}, 1), done: make(chan struct{}),
		drop: func(off, n int64) { dropCache(f, off, n) }}
	go s.loop()
	return s
}

func (s *syncer) loop() {
	defer close(s.done)
	var durable int64 // bytes made durable and dropped
	for range s.kick {
		// Every byte written before the fsync starts is durable once it
		// returns without an error.
		upto := s.kicked.Load()
		err := s.f.Sync()
		s.mu.Lock()
		s.syncs++
		if err != nil && s.err == nil {
			s.err = err
		}
		failed := s.err != nil
		s.mu.Unlock()
		if !failed && upto > durable {
			s.drop(durable, upto-durable)
			durable = upto
		}
	}
}

func (s *syncer) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	s.wrote(int64(n))
	return n, err
}

// wrote counts n bytes written to the file (by Write, or by a copy inside
// the kernel) and asks for a background fsync every s.every of them.
func (s *syncer) wrote(n int64) {
	s.written += n
	if s.written-s.kicked.Load() >= s.every {
		s.kicked.Store(s.written)
		select {
		case s.kick <- struct{}{}:
		default: // one is running: it or the next takes these bytes too
		}
	}
}

// stop waits for the background fsync and returns its error, if any.
func (s *syncer) stop() error {
	close(s.kick)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return fault(fmt.Errorf("disk: fsync: %w", s.err))
	}
	return nil
}

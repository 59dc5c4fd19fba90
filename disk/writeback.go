package disk

import (
	"fmt"
	"os"
	"sync"
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
// it goes, 0.04 s.
//
// A background fsync's error fails the Put: Linux reports a writeback
// error once per open file, so the final fsync could not be trusted to
// see it again.
type syncer struct {
	f               *os.File
	every           int64 // syncEvery; smaller in tests
	written, kicked int64
	kick            chan struct{} // capacity 1: kicks while an fsync runs coalesce
	done            chan struct{}
	mu              sync.Mutex
	syncs           int   // background fsyncs done
	err             error // the first background fsync's error
}

func newSyncer(f *os.File, every int64) *syncer {
	s := &syncer{f: f, every: every, kick: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for range s.kick {
			err := f.Sync()
			s.mu.Lock()
			s.syncs++
			if err != nil && s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *syncer) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	s.written += int64(n)
	if s.written-s.kicked >= s.every {
		s.kicked = s.written
		select {
		case s.kick <- struct{}{}:
		default: // one is running: it or the next takes these bytes too
		}
	}
	return n, err
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

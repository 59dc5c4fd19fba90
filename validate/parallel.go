package validate

import (
	"io"
	"runtime"
	"sync"
)

// parallelJSONL is a JSONL source that decodes rows on every core: one
// goroutine cuts the stream into batches of whole rows with the same
// chunker as jsonlSource (so line numbers, sizes and the row cap are
// exactly as before), workers decode the batches, and next hands the rows
// out in file order. Everything that depends on the order of rows
// (duplicates, counts, the auto-split, samples, errors and warnings, the
// Avro part) stays on the caller's goroutine, so the verdict and the part
// are byte for byte those of the sequential source.
//
// Decoding is most of a chat row's cost, so this is what lets a dataset be
// validated about as fast as it was uploaded. Memory stays bounded: at
// most parallelBudget bytes of batches (their rows and the rows' Avro) are
// in flight (or one batch, if a single capped row is larger).
type parallelJSONL struct {
	order chan *batch // batches in file order, as the reader cut them
	cur   *batch
	i     int

	mu       sync.Mutex
	cond     *sync.Cond
	inflight int
	stopped  bool
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	// free holds the batches done with, for the next ones (their buffers,
	// row lists and arenas): no allocation churn for the GC and the
	// scavenger at hundreds of MB/s.
	free chan *batch
	// warm, if set, is given each batch's rows before next hands out the
	// first of them (prefetchers in prepare.go).
	warm func([]decodedRow)
}

const (
	parallelBatch  = 256 << 10 // bytes of rows per batch
	parallelBudget = 4 << 20   // bytes of batches in flight
	// inflightCost is what a batch of n bytes is charged against the
	// budget: its rows and, about as big, their Avro encoding in its arena.
	inflightCost = 2
)

// batch is a run of consecutive rows of the file.
type batch struct {
	data  []byte   // the rows' bytes
	in    []rawRow // where each row is in data
	out   []decodedRow
	arena rowArena // what the rows' fields are carved out of
	err   error    // an I/O error after the rows: the last batch
	done  chan struct{}
}

type rawRow struct {
	start, end int
	line       int64
	tooLong    bool
}

type decodedRow struct {
	f          *fields
	line, size int64
	rerr       *rowError
}

// newParallelJSONL starts reading c; close must be called once done.
func newParallelJSONL(c *chunker, max int, rd rowDecoder, workers int) *parallelJSONL {
	// The queues hold as many batches as the budget lets be in flight, so
	// that the budget, not a short queue, bounds how far the reader and
	// the workers run ahead of the run: the stages then absorb each
	// other's stalls instead of waiting in turn.
	depth := parallelBudget/(inflightCost*parallelBatch) + workers
	s := &parallelJSONL{order: make(chan *batch, depth), stop: make(chan struct{}),
		free: make(chan *batch, depth+2)}
	s.cond = sync.NewCond(&s.mu)
	work := make(chan *batch, depth)
	s.wg.Add(1 + workers)
	go func() {
		defer s.wg.Done()
		defer close(work)
		defer close(s.order)
		s.cut(c, work)
	}()
	for range workers {
		go func() {
			defer s.wg.Done()
			rd := rd // each worker its own scratch
			for b := range work {
				b.decode(&rd, max)
			}
		}()
	}
	return s
}

// parallelWorkers is how many goroutines decode: one per core, or none
// (the sequential source) on one core.
func parallelWorkers() int { return runtime.GOMAXPROCS(0) }

// cut is the reader: batches of whole rows, each sent to a worker and, in
// the same order, to next.
func (s *parallelJSONL) cut(c *chunker, work chan<- *batch) {
	for {
		var b *batch
		select {
		case b = <-s.free:
			// The run is done with every row of it (next).
			b.data, b.in, b.out, b.err = b.data[:0], b.in[:0], b.out[:0], nil
			b.arena.reset()
		default:
			b = &batch{data: make([]byte, 0, parallelBatch+parallelBatch/4)}
		}
		b.done = make(chan struct{})
		var err error
		for len(b.data) < parallelBatch {
			chunk, line, tooLong, cerr := c.next()
			if cerr != nil {
				if cerr != io.EOF {
					b.err = cerr
				}
				err = cerr
				break
			}
			start := len(b.data)
			b.data = append(b.data, chunk...)
			b.in = append(b.in, rawRow{start: start, end: len(b.data), line: line, tooLong: tooLong})
		}
		if len(b.in) == 0 && b.err == nil {
			return // the end of the file, nothing left
		}
		if !s.acquire(inflightCost * len(b.data)) {
			return
		}
		select {
		case s.order <- b:
		case <-s.stop:
			return
		}
		select {
		case work <- b:
		case <-s.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

func (b *batch) decode(rd *rowDecoder, max int) {
	defer close(b.done)
	rd.a = &b.arena
	for _, r := range b.in {
		if r.tooLong {
			b.out = append(b.out, decodedRow{line: r.line, rerr: tooLongError(max)})
			continue
		}
		chunk := b.data[r.start:r.end:r.end]
		f, rerr, blank := rd.row(chunk)
		if blank {
			continue
		}
		b.out = append(b.out, decodedRow{f: f, line: r.line, size: int64(len(chunk)) + 1, rerr: rerr})
	}
}

// acquire waits until n more bytes may be in flight; false once stopped.
func (s *parallelJSONL) acquire(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.stopped && s.inflight > 0 && s.inflight+n > parallelBudget {
		s.cond.Wait()
	}
	s.inflight += n
	return !s.stopped
}

func (s *parallelJSONL) release(n int) {
	s.mu.Lock()
	s.inflight -= n
	s.mu.Unlock()
	s.cond.Broadcast()
}

func (s *parallelJSONL) next() (*fields, int64, int64, *rowError, error) {
	for s.cur == nil || s.i == len(s.cur.out) {
		if s.cur != nil {
			if s.cur.err != nil {
				return nil, 0, 0, nil, s.cur.err
			}
			s.release(inflightCost * len(s.cur.data))
			if cap(s.cur.data) <= 2*parallelBatch { // not a capped giant row's
				select {
				case s.free <- s.cur:
				default:
				}
			}
			s.cur = nil
		}
		b, ok := <-s.order
		if !ok {
			return nil, 0, 0, nil, io.EOF
		}
		<-b.done
		s.cur, s.i = b, 0
		if s.warm != nil {
			s.warm(b.out)
		}
	}
	r := s.cur.out[s.i]
	s.i++
	return r.f, r.line, r.size, r.rerr, nil
}

// close stops the reader and the workers and waits for them, so that
// nothing reads the file after the validation returns.
func (s *parallelJSONL) close() {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		s.cond.Broadcast()
		close(s.stop)
	})
	s.wg.Wait()
}

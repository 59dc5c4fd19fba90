package silo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"
)

// Run does the service's background work until ctx ends: validation
// workers, the lease heartbeat, and the sweep that releases dead
// reservations, expires datasets and deletes garbage blobs.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	n := s.Workers
	if n <= 0 {
		n = 2
	}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); s.workLoop(ctx) }()
	}
	wg.Add(2)
	go func() { defer wg.Done(); s.every(ctx, s.leaseTTL()/3, s.heartbeat) }()
	go func() { defer wg.Done(); s.sweepLoop(ctx) }()
	wg.Wait()
}

// sweepLoop sweeps every SweepInterval, and soon after a delete.
func (s *Service) sweepLoop(ctx context.Context) {
	t := time.NewTicker(SweepInterval)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log().Warn("sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.sweepCh():
		}
	}
}

// SweepInterval is how often the sweep runs; retention is honoured within it.
const SweepInterval = 2 * time.Second

func (s *Service) every(ctx context.Context, d time.Duration, fn func(context.Context) error) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			s.log().Warn("background task failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) notifyJob() {
	select {
	case s.wakeCh() <- struct{}{}:
	default:
	}
}

// Recover releases every reservation and job lease that is not this node's,
// whatever its expiry. Only a process that knows it is the store's sole user
// (the embedded default, which locks its data directory) may call it: it
// makes a restart after kill -9 clean at once instead of after a lease.
func (s *Service) Recover(ctx context.Context) error {
	if err := s.Store.RequeueJobs(ctx, s.Node); err != nil {
		return err
	}
	// A PATCH cut off by the crash holds its upload's lock no more.
	if err := s.Store.UnlockUploads(ctx); err != nil {
		return err
	}
	return s.sweep(ctx, time.Unix(1<<40, 0))
}

// Sweep releases reservations whose lease ran out (their upload ended
// without releasing them, here or on a node that died), deletes datasets
// past retention and deletes garbage blobs.
func (s *Service) Sweep(ctx context.Context) error { return s.sweep(ctx, s.now()) }

func (s *Service) sweep(ctx context.Context, deadline time.Time) error {
	dead, err := s.Store.ExpiredReservations(ctx, deadline)
	if err != nil {
		return err
	}
	for _, r := range dead {
		bound := deadline
		if r.Node == ResumableNode {
			// A resumable upload's reservation belongs to no process: a
			// restart does not end it, only its expiry does.
			if bound = s.now(); !r.ExpiresAt.Before(bound) {
				continue
			}
		}
		// Leases are renewed only by live uploads, so this node's own
		// expired reservations are dead too (a release that failed).
		dropped, err := s.Store.DropReservation(ctx, r.ID, bound)
		if err != nil {
			return err
		}
		if dropped {
			s.log().Info("released the reservation of a dead upload", "reservation", r.ID, "org", r.OrgID, "node", r.Node, "bytes", r.Bytes)
		}
	}
	if err := s.sweepUploads(ctx); err != nil {
		return err
	}
	if s.Retention > 0 {
		expired, err := s.Store.ExpiredDatasets(ctx, s.now(), 100)
		if err != nil {
			return err
		}
		for _, d := range expired {
			gone, err := s.Store.DeleteDataset(ctx, d.OrgID, d.ID)
			if ErrorCode(err) == ENOTFOUND {
				continue
			} else if err != nil {
				return err
			}
			s.log().Info("dataset expired", "org", gone.OrgID, "dataset", gone.ID, "bytes", gone.SizeBytes)
		}
	}
	return s.collectGarbage(ctx, deadline)
}

// garbageBatch is how many garbage keys the sweep lists at a time.
const garbageBatch = 500

// collectGarbage deletes every garbage blob that no backup pins and whose
// hold ran out by deadline (a write may still land under a held one; on a
// restart that knows every writer dead, deadline is past every hold). It
// pages through the garbage in key order, so that pinned keys (which stay
// in the ledger) are passed over rather than listed again in every batch,
// hiding the garbage behind them for as long as the backup runs.
func (s *Service) collectGarbage(ctx context.Context, deadline time.Time) error {
	if s.Pins.PinnedAll() {
		return nil // a backup is taking its snapshot: nothing may go
	}
	after := ""
	for {
		keys, err := s.Store.GarbageBlobs(ctx, deadline, after, garbageBatch)
		if err != nil || len(keys) == 0 {
			return err
		}
		s.deleteBlobs(ctx, keys)
		if len(keys) < garbageBatch {
			return nil
		}
		after = keys[len(keys)-1]
	}
}

func (s *Service) workLoop(ctx context.Context) {
	idle := time.NewTimer(0)
	defer idle.Stop()
	for {
		err := s.RunJob(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue // there may be more
		}
		if err != errNoJob {
			s.log().Error("validation job failed", "err", err)
		}
		idle.Reset(time.Second)
		select {
		case <-ctx.Done():
			return
		case <-s.wakeCh():
		case <-idle.C:
		}
	}
}

// RunJob claims one validation job and runs it; errNoJob when the queue is
// empty.
func (s *Service) RunJob(ctx context.Context) error {
	now := s.now()
	cctx, cancel := context.WithTimeout(ctx, storeTimeout)
	job, err := s.Store.ClaimJob(cctx, s.Node, now, now.Add(s.leaseTTL()))
	cancel()
	if err != nil {
		return err
	}
	if job == nil {
		return errNoJob
	}
	s.leases.addJob(job)
	defer s.leases.dropJob(job)
	return s.validate(ctx, job)
}

// validate runs the validator over a dataset's parts, writing each part's
// Avro file as it goes, and records the outcome. Only the file's content
// can fail a dataset: when the work itself fails (a store, the disk, a
// timeout, a stop), the job goes back to the queue (retry).
func (s *Service) validate(ctx context.Context, job *Job) error {
	d, err := s.Store.Dataset(ctx, job.OrgID, job.DatasetID)
	if ErrorCode(err) == ENOTFOUND {
		return nil // a deleted dataset's job is gone with it
	} else if err != nil {
		return s.retry(ctx, job, err)
	}
	defer s.validationGC()()
	start := time.Now()
	parent := ctx
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	go s.watchJob(ctx, job, stop)
	files := make([]ValidationFile, len(d.Parts))
	outs := make([]*avroOut, len(d.Parts))
	var avroKeys []string
	for i := range d.Parts {
		p := &d.Parts[i]
		rc, err := s.Blobs.Open(ctx, p.BlobKey, 0, -1)
		if err != nil {
			closeAll(files, outs, err)
			return s.retry(parent, job, err)
		}
		key := NewBlobKey()
		if err := s.Store.AddJobBlob(ctx, job, key); err != nil {
			rc.Close()
			closeAll(files, outs, err)
			if ErrorCode(err) == ENOTFOUND {
				return nil // the job is no longer this attempt's
			}
			return s.retry(parent, job, err)
		}
		avroKeys = append(avroKeys, key)
		outs[i] = s.startPut(ctx, key)
		files[i] = ValidationFile{Part: p, Data: rc, Avro: outs[i]}
	}
	v, verr := s.Validator.Validate(ctx, d, files)
	closeAll(files, outs, verr)
	for _, o := range outs {
		if err := o.wait(); err != nil && verr == nil {
			verr = err
		}
	}
	if verr != nil {
		if errors.Is(context.Cause(ctx), errJobGone) {
			s.dropAttemptBlobs(parent, avroKeys)
			return nil
		}
		return s.retry(parent, job, verr)
	}
	s.applyValidation(d, v, outs, avroKeys)
	// A stop must not cut the finish off mid-commit, and a store that
	// hangs must not hold the worker.
	fctx, cancel := bounded(parent)
	defer cancel()
	if err := s.Store.FinishJob(fctx, job, d); err != nil {
		if ErrorCode(err) == ENOTFOUND {
			// Deleted mid-validation, or the lease was lost: whoever took
			// the job made this attempt's blobs garbage.
			s.dropAttemptBlobs(parent, avroKeys)
			return nil
		}
		// The finish may have committed or not: nothing is deleted here.
		// The hand-back settles it (ENOTFOUND: it had committed); if that
		// fails too, the job's lease lapses and the next claim does.
		s.log().Warn("finishing a validation failed; handing the job back", "dataset", d.ID, "err", err)
		return s.retry(parent, job, err)
	}
	if !v.OK {
		s.deleteBlobs(fctx, avroKeys)
	} else if !d.Params.KeepOriginalFile {
		var orig []string
		for _, p := range d.Parts {
			orig = append(orig, p.BlobKey)
		}
		s.deleteBlobs(fctx, orig)
	}
	s.log().Info("dataset validated", "dataset", d.ID, "status", d.Status, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// retry hands a job whose work failed (not its file) back to the queue,
// after a backoff that grows with its attempts; on a stop, at once, so
// that another node or the next start takes it. The attempt's partial
// blobs become garbage. If even the hand-back fails, the job's lease
// lapses and the next claim does the same.
func (s *Service) retry(ctx context.Context, job *Job, cause error) error {
	wait := retryBackoff(job.Attempt)
	stopping := ctx.Err() != nil
	if stopping {
		wait = 0
	}
	rctx, cancel := bounded(ctx)
	defer cancel()
	now := s.now()
	err := s.Store.RetryJob(rctx, job, now, now.Add(wait))
	switch {
	case ErrorCode(err) == ENOTFOUND:
		return nil // the job is no longer this attempt's (deleted, finished, or taken)
	case err != nil:
		return fmt.Errorf("handing back the job of dataset %s (its lease will lapse): %w; after: %v", job.DatasetID, err, cause)
	}
	s.kickSweep()
	if !stopping {
		s.log().Warn("validation could not run; it will run again", "dataset", job.DatasetID, "attempt", job.Attempt, "in", wait, "err", cause)
	}
	return nil
}

// MaxRetryBackoff caps the wait before a validation whose work failed runs
// again.
const MaxRetryBackoff = 30 * time.Second

func retryBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 6 {
		return MaxRetryBackoff
	}
	return min(time.Second<<(attempt-1), MaxRetryBackoff)
}

// dropAttemptBlobs deletes the Avro parts of an attempt whose job is gone
// (its dataset deleted, or its lease lost), once their writes have ended.
// The delete (or the new claim) made them garbage at once, and a sweep may
// have deleted them and forgotten their rows while they were still being
// written; a write that then landed (an object store commits a body it
// has whole, even after its client gave up) would be an orphan nothing
// knows of. Only this attempt writes these keys, so deleting them again,
// after every write returned, cannot touch anything live; a row still in
// the ledger is forgotten here or by the next sweep.
func (s *Service) dropAttemptBlobs(ctx context.Context, keys []string) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	s.deleteBlobs(ctx, keys)
	s.kickSweep()
}

var errJobGone = errors.New("the dataset was deleted during its validation")

// watchJob cancels a validation whose dataset is deleted meanwhile, so
// that a worker does not spend minutes on a file nobody wants any more.
func (s *Service) watchJob(ctx context.Context, job *Job, stop context.CancelCauseFunc) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.Store.Dataset(ctx, job.OrgID, job.DatasetID); ErrorCode(err) == ENOTFOUND {
			stop(errJobGone)
			return
		}
	}
}

// applyValidation copies a validator's verdict into d.
func (s *Service) applyValidation(d *Dataset, v *Validation, outs []*avroOut, avroKeys []string) {
	d.Report = v.Report
	d.UpdatedAt = s.now()
	d.Status = StatusFailed
	if v.OK {
		d.Status = StatusValidated
	} else if d.Report.Error == "" {
		d.Report.Error = "validation failed"
	}
	for i := range d.Parts {
		p := &d.Parts[i]
		if i < len(v.Parts) {
			p.NumRows, p.Samples = v.Parts[i].NumRows, v.Parts[i].Samples
		}
		if v.OK {
			p.AvroKey, p.AvroSize, p.AvroSHA256 = avroKeys[i], outs[i].n, outs[i].sum()
			p.OriginalDropped = !d.Params.KeepOriginalFile
		}
	}
}

func closeAll(files []ValidationFile, outs []*avroOut, err error) {
	for _, f := range files {
		if c, ok := f.Data.(io.Closer); ok {
			c.Close()
		}
	}
	for _, o := range outs {
		if o != nil {
			o.close(err)
		}
	}
}

// avroOut is where the validator writes a part's Avro file. Its bytes are
// gathered into buffers that go through the upload's pipe: a goroutine
// hashes them and the blob store's Put writes them, so that the
// validator's in-order goroutine, which every row passes through, neither
// hashes (SHA-256 is ~0.7 CPU-s per GiB here) nor waits for the disk.
//
// The buffers are the part's own, avroBufs of avroBufSize, made once and
// passed round: a part holds 2 MiB however long it is, and makes no
// garbage (with a sync.Pool the GC dropped them at each cycle, and their
// churn raised the peak heap of a long validation by a few MB).
type avroOut struct {
	p      *pipe
	free   chan *avroBuf // buffers not in the pipe
	cur    *avroBuf      // being filled; nil before the first byte
	n      int64
	err    error // the blob store stopped reading
	closed bool
}

const (
	avroBufs    = 4
	avroBufSize = 512 << 10
)

type avroBuf struct {
	b    []byte
	free chan *avroBuf
}

// Release gives the buffer back to its part; it never blocks, the part
// made no more buffers than free holds.
func (b *avroBuf) Release() { b.free <- b }

func (s *Service) startPut(ctx context.Context, key string) *avroOut {
	o := &avroOut{p: s.startPipe(ctx, key), free: make(chan *avroBuf, avroBufs)}
	for range avroBufs {
		o.free <- &avroBuf{b: make([]byte, 0, avroBufSize), free: o.free}
	}
	return o
}

func (o *avroOut) Write(b []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n := len(b)
	for len(b) > 0 {
		if o.cur == nil {
			// All the buffers are in the pipe: wait for the writer.
			select {
			case o.cur = <-o.free:
			case <-o.p.quit:
				o.err = errWriterStopped
				return n - len(b), o.err
			}
			o.cur.b = o.cur.b[:0]
		}
		k := copy(o.cur.b[len(o.cur.b):cap(o.cur.b)], b)
		o.cur.b = o.cur.b[:len(o.cur.b)+k]
		b = b[k:]
		if len(o.cur.b) == cap(o.cur.b) {
			if o.err = o.send(); o.err != nil {
				return n - len(b), o.err
			}
		}
	}
	o.n += int64(n)
	return n, nil
}

// send passes the buffer being filled on to the hash and the write.
func (o *avroOut) send() error {
	c := Chunk{Data: o.cur.b, Buf: o.cur}
	o.cur = nil
	return o.p.send(c)
}

// close ends the part: with err nil its last bytes go on and the blob is
// stored; otherwise the Put fails and leaves nothing. Only the first
// call counts.
func (o *avroOut) close(err error) {
	if o.closed {
		return
	}
	o.closed = true
	if o.cur != nil {
		if err == nil && o.err == nil && len(o.cur.b) > 0 {
			o.err = o.send()
		} else {
			o.cur.Release()
			o.cur = nil
		}
	}
	o.p.end(err)
}

// wait returns the Put's outcome, once the writer has taken what it will.
func (o *avroOut) wait() error {
	_, err := o.p.wait()
	if err == nil && o.err != nil {
		err = o.err
	}
	return err
}

func (o *avroOut) sum() string { return hex.EncodeToString(o.p.h.Sum(nil)) }

// AvroWriter stores what is written to w as blob key exactly as a
// validation stores its Avro part (avroOut), for code that must time that
// path without a worker: make bench's validation floors. done ends the
// blob, failing it with err if err is not nil, and returns the Put's
// outcome.
func (s *Service) AvroWriter(ctx context.Context, key string) (w io.Writer, done func(err error) error) {
	o := s.startPut(ctx, key)
	return o, func(err error) error {
		o.close(err)
		return o.wait()
	}
}

// gcPercent is the process's GC percent as the validations running set it.
var gcPercent struct {
	mu      sync.Mutex
	running int // validations running with Service.ValidationGC set
	saved   int // the percent before the first of them
}

// validationGC sets the GC percent to s.ValidationGC while this and any
// other validation run; the function returned puts it back after the last.
func (s *Service) validationGC() (done func()) {
	if s.ValidationGC <= 0 {
		return func() {}
	}
	gcPercent.mu.Lock()
	defer gcPercent.mu.Unlock()
	if gcPercent.running == 0 {
		gcPercent.saved = debug.SetGCPercent(s.ValidationGC)
	}
	gcPercent.running++
	return func() {
		gcPercent.mu.Lock()
		defer gcPercent.mu.Unlock()
		if gcPercent.running--; gcPercent.running == 0 {
			debug.SetGCPercent(gcPercent.saved)
		}
	}
}

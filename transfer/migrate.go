package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"

	"github.com/silo-datasets/silo"
)

// Stores are the two stores of one silo service.
type Stores struct {
	Meta  silo.Store
	Blobs silo.BlobStore
}

// markerSetting is the setting a migration keeps in its target: the
// fingerprint of its source, then " copying" or " done". It is how a
// re-run tells its own unfinished work (resume) and its own finished work
// (nothing to do) from another service's data (refuse). It is never copied.
const markerSetting = "transfer.migration"

// Migration copies a whole service from one pair of stores to another.
// Nothing may write to either meanwhile (cmd/silo holds the embedded
// stores' locks; for PostgreSQL + S3 the operator stops the nodes).
type Migration struct {
	From, To Stores
	// Plan is told what will be copied before any file is.
	Plan     func(p *Plan)
	Progress Progress // bytes of files copied (called from several goroutines)
	// Workers is how many files are copied at once (0: 4). An object store
	// takes several streams faster than one; each holds one part in memory.
	Workers int
}

// Plan is what a migration copies (and what it leaves out).
type Plan struct {
	Orgs, Projects, Keys, Datasets, Blobs int64
	Bytes                                 int64 // of all files
	Skipped                               silo.Skipped
	fingerprint                           string
}

// Result is what a migration did.
type Result struct {
	Plan
	AlreadyDone  bool  // a previous run finished: nothing changed
	Resumed      bool  // a previous run was interrupted: this one finished it
	BlobsCopied  int64 // files written to the target
	BytesCopied  int64
	BlobsPresent int64 // files an interrupted run had copied already
}

// Run migrates. The metadata goes in one transaction after every file is
// in place, so an interrupted run leaves the target without metadata, and
// the next run copies what is missing and then the metadata.
func (m *Migration) Run(ctx context.Context) (*Result, error) {
	plan, err := planOf(ctx, m.From.Meta)
	if err != nil {
		return nil, err
	}
	if plan.Orgs == 0 {
		// What a mistyped path or an empty database looks like: refused
		// before the target is marked with it.
		return nil, fmt.Errorf("the source holds no organisations: nothing to migrate (is it the right source?)")
	}
	res := &Result{Plan: *plan}
	if m.Plan != nil {
		m.Plan(plan)
	}
	state, err := m.claimTarget(ctx, plan.fingerprint)
	if err != nil {
		return nil, err
	}
	switch state {
	case "done":
		res.AlreadyDone = true
		return res, nil
	case "copying":
		res.Resumed = true
	}
	present := map[string]int64{}
	if err := m.To.Blobs.List(ctx, func(k string, n int64) error { present[k] = n; return nil }); err != nil {
		return nil, fmt.Errorf("listing the target's files: %w", err)
	}
	copied, err := m.copyBlobs(ctx, present, res)
	if err != nil {
		return nil, err
	}
	if err := m.removeLeftovers(ctx, present, copied); err != nil {
		return nil, err
	}
	if err := m.importMetadata(ctx, plan.fingerprint, copied); err != nil {
		return nil, err
	}
	return res, nil
}

// errSourceChanged is a source that was written to while it was copied.
var errSourceChanged = errors.New("the source changed while it was copied: nothing was imported; stop everything " +
	"that writes to it and run migrate again (it resumes, keeping the files that are still right)")

// importMetadata exports the source a last time into the target, in the
// target's one import transaction, and marks the target done. The source
// must still be what was planned and copied: the same records (the
// fingerprint) and no file that was not copied, or the transaction rolls
// back and the target is not marked done. A PostgreSQL source still in
// use would otherwise import datasets whose files are not in the target.
func (m *Migration) importMetadata(ctx context.Context, planned string, copied map[string]silo.LiveBlob) error {
	err := m.To.Meta.Import(ctx, func(put func(*silo.Record) error) error {
		fp := newFingerprint()
		err := m.From.Meta.Export(ctx, func(r *silo.Record) error {
			if !fp.add(r) {
				return nil
			}
			if r.Dataset != nil {
				for _, b := range r.Dataset.LiveBlobs() {
					if copied[b.Key] != b {
						return fmt.Errorf("%w (dataset %s refers to file %s, which this run did not copy as it is now)", errSourceChanged, r.Dataset.ID, b.Key)
					}
				}
			}
			return put(r)
		})
		if err != nil {
			return err
		}
		if fp.sum() != planned {
			return fmt.Errorf("%w (its records differ from those counted when the migration started)", errSourceChanged)
		}
		return put(&silo.Record{Setting: &silo.SettingRecord{Name: markerSetting, Value: planned + " done"}})
	})
	if errors.Is(err, errSourceChanged) {
		return err
	} else if err != nil {
		return fmt.Errorf("writing the metadata to the target: %w", err)
	}
	return nil
}

// fingerprint is the SHA-256 of the records a migration carries: what
// tells one source (and one state of it) from another.
type fingerprint struct {
	h   hash.Hash
	enc *json.Encoder
}

func newFingerprint() *fingerprint {
	h := sha256.New()
	return &fingerprint{h: h, enc: json.NewEncoder(h)}
}

// add takes r into the sum and reports whether it is carried at all:
// what is in flight (Skipped) and the migration's own marker are not.
func (f *fingerprint) add(r *silo.Record) bool {
	if r.Skipped != nil || r.Setting != nil && strings.HasPrefix(r.Setting.Name, "transfer.") {
		return false
	}
	f.enc.Encode(r) // into a hash: it cannot fail on silo's plain records
	return true
}

func (f *fingerprint) sum() string { return hex.EncodeToString(f.h.Sum(nil))[:32] }

// planOf counts what the source holds, fingerprints it, and checks that it
// is consistent (see contents) before anything is copied.
func planOf(ctx context.Context, s silo.TransferStore) (*Plan, error) {
	p := &Plan{}
	fp := newFingerprint()
	c := newContents()
	var bad error
	err := s.Export(ctx, func(r *silo.Record) error {
		if r.Skipped != nil {
			p.Skipped.Add(r.Skipped)
		}
		if !fp.add(r) {
			return nil
		}
		if bad = c.add(r); bad != nil {
			return bad
		}
		switch {
		case r.Org != nil:
			p.Orgs++
		case r.Project != nil:
			p.Projects++
		case r.Key != nil:
			p.Keys++
		case r.Dataset != nil:
			p.Datasets++
			for _, b := range r.Dataset.LiveBlobs() {
				p.Blobs++
				p.Bytes += b.Size
			}
		}
		return nil
	})
	if err == nil {
		bad = c.check()
	}
	switch {
	case bad != nil:
		return nil, fmt.Errorf("the source is inconsistent: %w (silo fsck on it says more)", bad)
	case err != nil:
		return nil, fmt.Errorf("reading the source: %w", err)
	}
	p.fingerprint = fp.sum()
	return p, nil
}

// errStop ends an Export early.
var errStop = errors.New("stop")

// claimTarget decides what the target is to this migration: "" (empty;
// now marked as ours), "copying" (ours, interrupted; or an unfinished
// migration of an earlier state of a source, adopted) or "done" (ours,
// finished). A target holding anything else is refused.
func (m *Migration) claimTarget(ctx context.Context, fp string) (string, error) {
	var marker string
	var other []string
	err := m.To.Meta.Export(ctx, func(r *silo.Record) error {
		switch {
		case r.Setting != nil && r.Setting.Name == markerSetting:
			marker = r.Setting.Value
		case r.Setting != nil:
			other = append(other, "setting "+r.Setting.Name)
		case r.Skipped != nil:
			if *r.Skipped != (silo.Skipped{}) {
				other = append(other, fmt.Sprintf("%d uploads in flight, %d pending and %d garbage files",
					r.Skipped.Reservations, r.Skipped.PendingBlobs, r.Skipped.GarbageBlobs))
			}
		default:
			b, _ := json.Marshal(r)
			other = append(other, "record "+string(b[:min(len(b), 80)]))
		}
		if len(other) > 0 && marker == "" {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return "", fmt.Errorf("reading the target: %w", err)
	}
	switch marker {
	case fp + " done":
		return "done", nil
	case fp + " copying":
		return "copying", nil
	case "":
	default:
		if strings.HasSuffix(marker, " copying") && len(other) == 0 {
			return m.adoptTarget(ctx, fp)
		}
		return "", fmt.Errorf("the target holds a migration of another source (or of this one before it changed): migrate into empty stores only")
	}
	if len(other) > 0 {
		return "", fmt.Errorf("the target holds other data (%s): migrate into empty stores only", other[0])
	}
	var files int
	err = m.To.Blobs.List(ctx, func(string, int64) error { files++; return errStop })
	if err != nil && !errors.Is(err, errStop) {
		return "", fmt.Errorf("listing the target's files: %w", err)
	}
	if files > 0 {
		return "", fmt.Errorf("the target's blob store holds files already: migrate into empty stores only")
	}
	got, err := m.To.Meta.Setting(ctx, markerSetting, fp+" copying")
	if err != nil {
		return "", fmt.Errorf("marking the target: %w", err)
	}
	if got != fp+" copying" {
		return "", fmt.Errorf("another migration into the target started meanwhile")
	}
	return "", nil
}

// adoptTarget takes over a target that an unfinished migration of another
// state of the source left (one refused at the end because the source
// changed while it was copied, then stopped): it holds files and the
// marker, no metadata. The run resumes it: the files it needs are checked
// by SHA-256 and the others removed before the metadata goes in.
func (m *Migration) adoptTarget(ctx context.Context, fp string) (string, error) {
	err := m.To.Meta.Import(ctx, func(put func(*silo.Record) error) error {
		return put(&silo.Record{Setting: &silo.SettingRecord{Name: markerSetting, Value: fp + " copying"}})
	})
	if err != nil {
		return "", fmt.Errorf("marking the target: %w", err)
	}
	return "copying", nil
}

// removeLeftovers deletes the target's files that no dataset of the source
// refers to (done: the files the run made sure of): what an unfinished run
// of an earlier state of the source copied. The target held no files when
// the first run claimed it, so every file there is the migration's own.
func (m *Migration) removeLeftovers(ctx context.Context, present map[string]int64, done map[string]silo.LiveBlob) error {
	for k := range present {
		if _, ok := done[k]; ok || !silo.ValidBlobKey(k) { // not a blob: not the migration's
			continue
		}
		if err := m.To.Blobs.Delete(ctx, k); err != nil {
			return fmt.Errorf("removing file %s, which an unfinished run copied and the source no longer refers to: %w", k, err)
		}
	}
	return nil
}

// copyBlobs copies every file the source's datasets refer to that is not
// in the target already (present: key -> size), Workers at a time, and
// returns every file it made sure of, as the source's datasets recorded
// it. A file an interrupted run left with the right size is read back and
// kept only if its SHA-256 is right too: a size says nothing of the bytes.
func (m *Migration) copyBlobs(ctx context.Context, present map[string]int64, res *Result) (map[string]silo.LiveBlob, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := m.Workers
	if workers <= 0 {
		workers = 4
	}
	type job struct {
		b       silo.LiveBlob
		dataset string
		present bool // in the target with the right size: verify first
	}
	jobs := make(chan job)
	var mu sync.Mutex
	done := map[string]silo.LiveBlob{}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if j.present && m.verifyPresent(ctx, j.b) == nil {
					mu.Lock()
					res.BlobsPresent++
					done[j.b.Key] = j.b
					mu.Unlock()
					continue
				}
				if res.Resumed {
					// What a killed run left under the key (a partial
					// object, an incomplete multipart upload, a file
					// whose bytes are wrong) goes first.
					if err := m.To.Blobs.Delete(ctx, j.b.Key); err != nil {
						cancel(fmt.Errorf("removing what an interrupted run left of blob %s: %w", j.b.Key, err))
						continue
					}
				}
				if err := copyBlob(ctx, m.From.Blobs, m.To.Blobs, j.b, m.Progress); err != nil {
					cancel(fmt.Errorf("dataset %s: %w", j.dataset, err))
					continue
				}
				mu.Lock()
				res.BlobsCopied++
				res.BytesCopied += j.b.Size
				done[j.b.Key] = j.b
				mu.Unlock()
			}
		}()
	}
	err := m.From.Meta.Export(ctx, func(r *silo.Record) error {
		if r.Dataset == nil {
			return nil
		}
		for _, b := range r.Dataset.LiveBlobs() {
			n, ok := present[b.Key]
			select {
			case jobs <- job{b, r.Dataset.ID, ok && n == b.Size}:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return nil, cause
	}
	return done, err
}

// verifyPresent reads a file already in the target through the checksum
// its dataset recorded. A file that passes counts as progress, as a copy
// would; one that fails is copied again and counted then.
func (m *Migration) verifyPresent(ctx context.Context, b silo.LiveBlob) error {
	r, err := m.To.Blobs.Open(ctx, b.Key, 0, -1)
	if err != nil {
		return err
	}
	defer r.Close()
	v := newVerifier(r, nil)
	if _, err := io.Copy(io.Discard, v); err != nil {
		return err
	}
	if err := v.check("blob "+b.Key, b.Size, b.SHA256); err != nil {
		return err
	}
	m.Progress.add(b.Size)
	return nil
}

package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
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
	Orgs, Keys, Datasets, Blobs int64
	Bytes                       int64 // of all files
	Skipped                     silo.Skipped
	fingerprint                 string
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
		return nil, fmt.Errorf("reading the source: %w", err)
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
	if err := m.copyBlobs(ctx, present, res); err != nil {
		return nil, err
	}
	err = m.To.Meta.Import(ctx, func(put func(*silo.Record) error) error {
		err := m.From.Meta.Export(ctx, func(r *silo.Record) error {
			if r.Setting != nil && strings.HasPrefix(r.Setting.Name, "transfer.") {
				return nil
			}
			return put(r)
		})
		if err != nil {
			return err
		}
		return put(&silo.Record{Setting: &silo.SettingRecord{Name: markerSetting, Value: plan.fingerprint + " done"}})
	})
	if err != nil {
		return nil, fmt.Errorf("writing the metadata to the target: %w", err)
	}
	return res, nil
}

// planOf counts what the source holds, and fingerprints it: the SHA-256
// of its records.
func planOf(ctx context.Context, s silo.TransferStore) (*Plan, error) {
	p := &Plan{}
	h := sha256.New()
	enc := json.NewEncoder(h)
	err := s.Export(ctx, func(r *silo.Record) error {
		switch {
		case r.Skipped != nil:
			p.Skipped.Add(r.Skipped)
			return nil
		case r.Setting != nil && strings.HasPrefix(r.Setting.Name, "transfer."):
			return nil
		case r.Org != nil:
			p.Orgs++
		case r.Key != nil:
			p.Keys++
		case r.Dataset != nil:
			p.Datasets++
			for _, b := range r.Dataset.LiveBlobs() {
				p.Blobs++
				p.Bytes += b.Size
			}
		}
		return enc.Encode(r)
	})
	p.fingerprint = hex.EncodeToString(h.Sum(nil))[:32]
	return p, err
}

// errStop ends an Export early.
var errStop = errors.New("stop")

// claimTarget decides what the target is to this migration: "" (empty;
// now marked as ours), "copying" (ours, interrupted) or "done" (ours,
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

// copyBlobs copies every file the source's datasets refer to that is not
// in the target already (present: key -> size), Workers at a time.
func (m *Migration) copyBlobs(ctx context.Context, present map[string]int64, res *Result) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	workers := m.Workers
	if workers <= 0 {
		workers = 4
	}
	type job struct {
		b       silo.LiveBlob
		dataset string
	}
	jobs := make(chan job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if res.Resumed {
					// What a killed run left under the key (a partial
					// object, an incomplete multipart upload) goes first.
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
				mu.Unlock()
			}
		}()
	}
	err := m.From.Meta.Export(ctx, func(r *silo.Record) error {
		if r.Dataset == nil {
			return nil
		}
		for _, b := range r.Dataset.LiveBlobs() {
			if n, ok := present[b.Key]; ok && n == b.Size {
				res.BlobsPresent++
				m.Progress.add(b.Size)
				continue
			}
			select {
			case jobs <- job{b, r.Dataset.ID}:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		return nil
	})
	close(jobs)
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}

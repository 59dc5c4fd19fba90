// Package fsck checks silo's stores against each other while no server is
// using them: every organisation's counters against its datasets and
// reservations, every dataset's files against the blob store (size and
// SHA-256, read in full), and the blob store against the ledger, so that
// nothing is lost, miscounted or orphaned.
//
// It only reads unless asked to repair, and repairs only what is safe: it
// recounts counters from the rows they summarise, releases reservations of
// uploads that can no longer finish, and deletes blobs nothing refers to. A
// missing or corrupt blob cannot be repaired; fsck says which datasets lost
// what.
package fsck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/silo-datasets/silo"
)

// Kinds of finding.
const (
	KindUsage       = "usage"        // used_bytes differs from the sum of the org's datasets
	KindReserved    = "reserved"     // reserved_bytes differs from the sum of the org's reservations
	KindReservation = "reservation"  // an open reservation: an upload in flight or cut off
	KindPending     = "pending-blob" // a ledger row of a blob still being written (or cut off)
	KindGarbage     = "garbage-blob" // a ledger row of a blob waiting to be deleted
	KindOrphan      = "orphan-blob"  // a blob (or temp file) that the ledger does not know
	KindMissing     = "missing-blob" // a dataset's file is not in the blob store
	KindCorrupt     = "corrupt-blob" // a dataset's file has another size or checksum
	KindUnreferred  = "unreferenced" // a live ledger row that no dataset names
	KindUnrecorded  = "unrecorded"   // a dataset's file that the ledger does not hold as live
)

// Finding is one inconsistency.
type Finding struct {
	Kind   string
	Org    string // organisation id, where there is one
	Key    string // blob key, reservation id or dataset id
	Detail string
}

func (f Finding) String() string {
	s := f.Kind
	if f.Org != "" {
		s += " org=" + f.Org
	}
	if f.Key != "" {
		s += " " + f.Key
	}
	return s + ": " + f.Detail
}

// Report is what a check found.
type Report struct {
	Orgs, Datasets, Parts, Blobs, LedgerRows int   // what was checked
	BytesVerified                            int64 // blob bytes read and hashed
	// Uploads counts resumable uploads still open (not expired): their
	// reservations and pending bytes are a client's to finish, not
	// findings, even when no server runs.
	Uploads  int
	Findings []Finding
	Repairs  []string // what Repair did, one line each
	// Skipped are files in the blob store whose names are not blob keys
	// (a health check's probe a crash left, say): not silo's, so neither
	// findings nor touched by Repair, only reported.
	Skipped []string

	orphans     map[string]bool // blob store keys not in the ledger
	uploadBlobs map[string]bool // pending blobs of open resumable uploads
	garbage     []string
	reservation []*silo.Reservation
}

// OK reports whether the stores are consistent.
func (r *Report) OK() bool { return len(r.Findings) == 0 }

// Count returns how many findings are of kind.
func (r *Report) Count(kind string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Kind == kind {
			n++
		}
	}
	return n
}

func (r *Report) add(kind, org, key, format string, args ...any) {
	r.Findings = append(r.Findings, Finding{Kind: kind, Org: org, Key: key, Detail: fmt.Sprintf(format, args...)})
}

// Checker checks one metadata store against one blob store.
type Checker struct {
	Store silo.Store
	Blobs silo.BlobStore
	// Exclusive says that no server uses the stores (fsck holds the data
	// directory's lock): every reservation and pending blob is then dead.
	// Without it only those whose lease ran out are.
	Exclusive bool
	Now       func() time.Time
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Check compares the stores and reports every inconsistency.
func (c *Checker) Check(ctx context.Context) (*Report, error) {
	r := &Report{orphans: map[string]bool{}}
	// The blob store is listed before the ledger is read: a key is in the
	// ledger before its blob is written, so a blob listed first is always
	// found in the ledger read after it (unless deleted meanwhile).
	stored := map[string]int64{}
	if err := c.Blobs.List(ctx, func(key string, size int64) error { stored[key] = size; return nil }); err != nil {
		return nil, fmt.Errorf("listing the blob store: %w", err)
	}
	r.Blobs = len(stored)
	ledger := map[string]silo.BlobState{}
	if err := c.Store.Blobs(ctx, func(key string, st silo.BlobState) error { ledger[key] = st; return nil }); err != nil {
		return nil, fmt.Errorf("reading the blob ledger: %w", err)
	}
	r.LedgerRows = len(ledger)
	if err := c.checkCounters(ctx, r); err != nil {
		return nil, err
	}
	referenced, err := c.checkDatasets(ctx, r, ledger)
	if err != nil {
		return nil, err
	}
	c.checkLedger(r, ledger, stored, referenced)
	return r, nil
}

// checkCounters compares each org's counters with the rows they sum.
func (c *Checker) checkCounters(ctx context.Context, r *Report) error {
	orgs, err := c.Store.Orgs(ctx)
	if err != nil {
		return fmt.Errorf("listing organisations: %w", err)
	}
	r.Orgs = len(orgs)
	sums, err := c.Store.UsageSums(ctx)
	if err != nil {
		return fmt.Errorf("summing usage: %w", err)
	}
	res, err := c.Store.Reservations(ctx)
	if err != nil {
		return fmt.Errorf("listing reservations: %w", err)
	}
	held := map[string]int64{}
	open := map[string]bool{} // reservations of resumable uploads not yet expired
	for _, rv := range res {
		held[rv.OrgID] += rv.Bytes
		if rv.Node == silo.ResumableNode && rv.ExpiresAt.After(c.now()) {
			open[rv.ID] = true
			r.Uploads++
			continue
		}
		r.reservation = append(r.reservation, rv)
		r.add(KindReservation, rv.OrgID, rv.ID, "an upload holds %d bytes (node %s, lease until %s)",
			rv.Bytes, rv.Node, rv.ExpiresAt.Format(time.RFC3339))
	}
	r.uploadBlobs = map[string]bool{}
	for _, o := range orgs {
		us, err := c.Store.Uploads(ctx, o.ID)
		if err != nil {
			return fmt.Errorf("listing uploads: %w", err)
		}
		for _, u := range us {
			if open[u.ReservationID] {
				r.uploadBlobs[u.BlobKey] = true
			}
		}
		if o.UsedBytes != sums[o.ID] {
			r.add(KindUsage, o.ID, "", "used_bytes is %d but its datasets sum to %d", o.UsedBytes, sums[o.ID])
		}
		if o.ReservedBytes != held[o.ID] {
			r.add(KindReserved, o.ID, "", "reserved_bytes is %d but its reservations hold %d", o.ReservedBytes, held[o.ID])
		}
	}
	return nil
}

// checkDatasets reads every file of every dataset in full and returns the
// blob keys the datasets name.
func (c *Checker) checkDatasets(ctx context.Context, r *Report, ledger map[string]silo.BlobState) (map[string]bool, error) {
	orgs, err := c.Store.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	referenced := map[string]bool{}
	for _, o := range orgs {
		err := c.Store.Datasets(ctx, silo.DatasetFilter{OrgID: o.ID}, func(d *silo.Dataset) error {
			r.Datasets++
			for _, p := range d.Parts {
				r.Parts++
				if !p.OriginalDropped {
					c.checkBlob(ctx, r, d, p.BlobKey, p.SizeBytes, p.SHA256, ledger, referenced)
				}
				if p.AvroKey != "" {
					c.checkBlob(ctx, r, d, p.AvroKey, p.AvroSize, p.AvroSHA256, ledger, referenced)
				}
			}
			return ctx.Err()
		})
		if err != nil {
			return nil, fmt.Errorf("listing the datasets of %s: %w", o.ID, err)
		}
	}
	return referenced, nil
}

func (c *Checker) checkBlob(ctx context.Context, r *Report, d *silo.Dataset, key string, size int64, sum string,
	ledger map[string]silo.BlobState, referenced map[string]bool) {
	referenced[key] = true
	if st := ledger[key]; st != silo.BlobLive {
		r.add(KindUnrecorded, d.OrgID, key, "file of dataset %s is %q in the ledger, want live", d.ID, st)
	}
	n, got, err := hashBlob(ctx, c.Blobs, key)
	switch {
	case silo.ErrorCode(err) == silo.ENOTFOUND:
		r.add(KindMissing, d.OrgID, key, "file of dataset %s is not in the blob store", d.ID)
	case err != nil:
		r.add(KindMissing, d.OrgID, key, "file of dataset %s cannot be read: %v", d.ID, err)
	case n != size || got != sum:
		r.add(KindCorrupt, d.OrgID, key, "file of dataset %s has %d bytes with SHA-256 %s; recorded %d bytes with %s", d.ID, n, got, size, sum)
	}
	r.BytesVerified += n
}

// hashBlob streams a blob through SHA-256: a 1.5 GB file never sits in
// memory.
func hashBlob(ctx context.Context, b silo.BlobStore, key string) (int64, string, error) {
	rc, err := b.Open(ctx, key, 0, -1)
	if err != nil {
		return 0, "", err
	}
	defer rc.Close()
	h := sha256.New()
	n, err := io.Copy(h, rc)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// checkLedger compares the ledger with the blob store.
func (c *Checker) checkLedger(r *Report, ledger map[string]silo.BlobState, stored map[string]int64, referenced map[string]bool) {
	keys := make([]string, 0, len(ledger))
	for k := range ledger {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch ledger[k] {
		case silo.BlobPending:
			if r.uploadBlobs[k] {
				continue // an open resumable upload's bytes so far
			}
			r.add(KindPending, "", k, "a blob still being written, or whose writer died (%d bytes stored)", stored[k])
		case silo.BlobGarbage:
			r.garbage = append(r.garbage, k)
			r.add(KindGarbage, "", k, "a deleted blob not yet removed (%d bytes stored)", stored[k])
		case silo.BlobLive:
			if !referenced[k] {
				r.add(KindUnreferred, "", k, "live in the ledger but no dataset names it")
			}
		}
	}
	orphans := make([]string, 0)
	for k := range stored {
		if !silo.ValidBlobKey(k) {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s (%d bytes): not a blob key, left alone", k, stored[k]))
			continue
		}
		if _, ok := ledger[k]; !ok {
			orphans = append(orphans, k)
		}
	}
	sort.Strings(r.Skipped)
	sort.Strings(orphans)
	for _, k := range orphans {
		r.orphans[k] = true
		r.add(KindOrphan, "", k, "%d bytes in the blob store that the ledger does not know", stored[k])
	}
}

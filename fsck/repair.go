package fsck

import (
	"context"
	"fmt"
	"time"

	"github.com/silo-datasets/silo"
)

// Repairer is what a metadata store offers fsck beyond silo.Store: the
// repairs that only the store can make atomically. Both stores implement it.
type Repairer interface {
	// RecountUsage sets the org's used_bytes to the sum of its datasets'
	// sizes and reserved_bytes to the sum of its reservations, atomically
	// with respect to creates, deletes and reservations, and returns the org
	// as it is then.
	RecountUsage(ctx context.Context, orgID string) (*silo.Org, error)
	// RecountProject is RecountUsage for one project's counters.
	RecountProject(ctx context.Context, projectID string) (*silo.Project, error)
	// DiscardPendingBlobs marks garbage every pending blob that no open
	// reservation holds and whose validation job is gone, is of another
	// attempt, or has a lease that ran out before leaseBefore. It returns
	// how many it marked.
	DiscardPendingBlobs(ctx context.Context, leaseBefore time.Time) (int64, error)
}

// Repair fixes what r found that is safe to fix, and records each thing it
// did in r.Repairs. Run Check again afterwards to see what is left.
//
// Without Exclusive it touches only reservations and pending blobs whose
// lease ran out, so it may run beside live nodes; counters are recounted in
// one transaction that locks the org's row, so a concurrent create or
// delete is counted exactly once either way.
func (c *Checker) Repair(ctx context.Context, r *Report) error {
	deadline := c.now()
	if c.Exclusive {
		deadline = time.Unix(1<<40, 0) // every lease is dead
	}
	for _, rv := range r.reservation {
		if !c.Exclusive && !rv.ExpiresAt.Before(deadline) {
			continue
		}
		dropped, err := c.Store.DropReservation(ctx, rv.ID, deadline)
		if err != nil {
			return fmt.Errorf("releasing reservation %s: %w", rv.ID, err)
		}
		if !dropped {
			continue // its upload committed or released it meanwhile
		}
		r.Repairs = append(r.Repairs, fmt.Sprintf("released reservation %s of org %s (%d bytes; its blobs became garbage)", rv.ID, rv.OrgID, rv.Bytes))
	}
	rep, ok := c.Store.(Repairer)
	if ok && r.Count(KindPending) > 0 {
		n, err := rep.DiscardPendingBlobs(ctx, deadline)
		if err != nil {
			return fmt.Errorf("discarding pending blobs: %w", err)
		}
		if n > 0 {
			r.Repairs = append(r.Repairs, fmt.Sprintf("marked %d pending blobs of dead writers garbage", n))
		}
	}
	if err := c.deleteGarbage(ctx, r, deadline); err != nil {
		return err
	}
	for k := range r.orphans {
		if err := c.Blobs.Delete(ctx, k); err != nil {
			return fmt.Errorf("deleting orphan blob %s: %w", k, err)
		}
		r.Repairs = append(r.Repairs, "deleted orphan blob "+k)
	}
	return c.recount(ctx, r, rep, ok)
}

// deleteGarbage deletes every garbage blob whose hold ran out by deadline
// (a live writer's last request may still land under a held one),
// including those the releases above just made, and forgets them.
func (c *Checker) deleteGarbage(ctx context.Context, r *Report, deadline time.Time) error {
	for {
		keys, err := c.Store.GarbageBlobs(ctx, deadline, "", 500)
		if err != nil {
			return fmt.Errorf("listing garbage blobs: %w", err)
		}
		if len(keys) == 0 {
			return nil
		}
		for _, k := range keys {
			if err := c.Blobs.Delete(ctx, k); err != nil {
				return fmt.Errorf("deleting garbage blob %s: %w", k, err)
			}
		}
		if err := c.Store.ForgetBlobs(ctx, keys); err != nil {
			return fmt.Errorf("forgetting garbage blobs: %w", err)
		}
		r.Repairs = append(r.Repairs, fmt.Sprintf("deleted %d garbage blobs", len(keys)))
	}
}

func (c *Checker) recount(ctx context.Context, r *Report, rep Repairer, ok bool) error {
	orgs := map[string]bool{}
	for _, f := range r.Findings {
		switch f.Kind {
		// A project's counters are its org's too: recount both.
		case KindUsage, KindReserved, KindReservation, KindProjectUsage, KindProjectReserved:
			orgs[f.Org] = true
		}
	}
	if len(orgs) == 0 {
		return nil
	}
	if !ok {
		r.Repairs = append(r.Repairs, "cannot recount usage: the metadata store does not support it")
		return nil
	}
	for id := range orgs {
		before, err := c.Store.Org(ctx, id)
		if err != nil {
			return fmt.Errorf("reading org %s: %w", id, err)
		}
		after, err := rep.RecountUsage(ctx, id)
		if err != nil {
			return fmt.Errorf("recounting org %s: %w", id, err)
		}
		if before.UsedBytes != after.UsedBytes || before.ReservedBytes != after.ReservedBytes {
			r.Repairs = append(r.Repairs, fmt.Sprintf("recounted org %s: used_bytes %d -> %d, reserved_bytes %d -> %d",
				id, before.UsedBytes, after.UsedBytes, before.ReservedBytes, after.ReservedBytes))
		}
	}
	return c.recountProjects(ctx, r, rep)
}

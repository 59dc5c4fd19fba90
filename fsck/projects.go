package fsck

import (
	"context"
	"fmt"

	"github.com/silo-datasets/silo"
)

// Kinds of finding about projects (CONTRACT "Projects"): a project's
// counters are checked as an organisation's are, against the rows they
// sum; and what names a project must name one of its own organisation.
const (
	KindProjectUsage    = "project-usage"    // a project's used_bytes differs from the sum of its datasets
	KindProjectReserved = "project-reserved" // a project's reserved_bytes differs from the sum of its reservations
	KindProjectRef      = "project-ref"      // a dataset, reservation or live key names a project that is not its org's
)

// checkProjects compares each project's counters with its datasets and
// with res (every reservation, as read for the organisations' check), and
// checks that every reservation and live key of orgs names a project of
// its own organisation. checkDatasets checks the datasets' projects.
func (c *Checker) checkProjects(ctx context.Context, r *Report, orgs []*silo.Org, res []*silo.Reservation) error {
	projects, err := c.Store.Projects(ctx, "")
	if err != nil {
		return fmt.Errorf("listing projects: %w", err)
	}
	r.Projects = len(projects)
	used, _, err := c.Store.ProjectUsageSums(ctx)
	if err != nil {
		return fmt.Errorf("summing project usage: %w", err)
	}
	held := map[string]int64{}
	for _, rv := range res {
		if rv.ProjectID != "" {
			held[rv.ProjectID] += rv.Bytes
		}
	}
	r.projectOrg = make(map[string]string, len(projects))
	for _, p := range projects {
		r.projectOrg[p.ID] = p.OrgID
		if p.UsedBytes != used[p.ID] {
			r.add(KindProjectUsage, p.OrgID, p.ID, "project's used_bytes is %d but its datasets sum to %d", p.UsedBytes, used[p.ID])
		}
		if p.ReservedBytes != held[p.ID] {
			r.add(KindProjectReserved, p.OrgID, p.ID, "project's reserved_bytes is %d but its reservations hold %d", p.ReservedBytes, held[p.ID])
		}
	}
	for _, rv := range res {
		r.checkProjectRef("reservation", rv.ID, rv.OrgID, rv.ProjectID)
	}
	for _, o := range orgs {
		keys, err := c.Store.Keys(ctx, o.ID)
		if err != nil {
			return fmt.Errorf("listing the keys of %s: %w", o.ID, err)
		}
		for _, k := range keys {
			// A deleted project's keys stay, revoked, as a deleted
			// organisation's do.
			if k.RevokedAt == nil {
				r.checkProjectRef("key", k.ID, k.OrgID, k.ProjectID)
			}
		}
	}
	return nil
}

// checkProjectRef reports what (id, of orgID) if it names a project
// (projectID "": none) that does not exist or is another org's.
func (r *Report) checkProjectRef(what, id, orgID, projectID string) {
	if projectID == "" {
		return
	}
	switch org, ok := r.projectOrg[projectID]; {
	case !ok:
		r.add(KindProjectRef, orgID, id, "%s names project %s, which does not exist", what, projectID)
	case org != orgID:
		r.add(KindProjectRef, orgID, id, "%s names project %s of another organisation (%s)", what, projectID, org)
	}
}

// recountProjects recounts every project whose counters a finding named,
// or whose reservation Repair may have released.
func (c *Checker) recountProjects(ctx context.Context, r *Report, rep Repairer) error {
	ids := map[string]bool{}
	for _, f := range r.Findings {
		if f.Kind == KindProjectUsage || f.Kind == KindProjectReserved {
			ids[f.Key] = true
		}
	}
	for _, rv := range r.reservation {
		if _, ok := r.projectOrg[rv.ProjectID]; ok {
			ids[rv.ProjectID] = true
		}
	}
	for id := range ids {
		before, err := c.Store.Project(ctx, id)
		if silo.ErrorCode(err) == silo.ENOTFOUND {
			continue // deleted meanwhile
		}
		if err != nil {
			return fmt.Errorf("reading project %s: %w", id, err)
		}
		after, err := rep.RecountProject(ctx, id)
		if err != nil {
			return fmt.Errorf("recounting project %s: %w", id, err)
		}
		if before.UsedBytes != after.UsedBytes || before.ReservedBytes != after.ReservedBytes {
			r.Repairs = append(r.Repairs, fmt.Sprintf("recounted project %s of org %s: used_bytes %d -> %d, reserved_bytes %d -> %d",
				id, after.OrgID, before.UsedBytes, after.UsedBytes, before.ReservedBytes, after.ReservedBytes))
		}
	}
	return nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

var _ silo.ProjectStore = (*Store)(nil)

// CreateProject stores a project of an existing org: the foreign key's
// share lock on the org's row keeps a concurrent DeleteOrg out until the
// project is in (and then removes it), or finds the org gone.
func (s *Store) CreateProject(ctx context.Context, p *silo.Project) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO projects (`+sqlq.ProjectCols+`) VALUES ($1, $2, $3, $4, 0, 0, $5)`,
			p.ID, p.OrgID, p.Name, p.QuotaBytes, micros(p.CreatedAt))
		return err // the org gone: a foreign key violation, ENOTFOUND (mapErr)
	})
}

func scanProject(row sqlq.Scanner) (*silo.Project, error) {
	p, err := sqlq.ScanProject(row)
	return p, mapErr(err)
}

// Project returns one project with its counters.
func (s *Store) Project(ctx context.Context, id string) (*silo.Project, error) {
	return scanProject(s.pool.QueryRow(ctx, `SELECT `+sqlq.ProjectCols+` FROM projects WHERE id = $1`, id))
}

// Projects lists the projects of one org, or of all, oldest first.
func (s *Store) Projects(ctx context.Context, orgID string) ([]*silo.Project, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlq.ProjectCols+` FROM projects WHERE $1 = '' OR org_id = $1 ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, scanProject))
}

// SetProjectQuota changes a project's quota. It locks only the project's
// row, and holds nothing else while it waits for it: it cannot be part of
// a deadlock with a reservation (org's row, then project's).
func (s *Store) SetProjectQuota(ctx context.Context, id string, quota *int64) (*silo.Project, error) {
	var p *silo.Project
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRow(ctx, `UPDATE projects SET quota_bytes = $1 WHERE id = $2 RETURNING `+sqlq.ProjectCols, quota, id))
		return err
	})
	return p, err
}

// DeleteProject removes a project and, with withDatasets, what it holds, in
// one transaction, locking in the one order (locks.go): the org's row, the
// project's (FOR UPDATE), then its uploads, reservations, jobs and
// datasets, each set in key order, as DeleteOrg does.
func (s *Store) DeleteProject(ctx context.Context, id string, withDatasets bool, at time.Time) ([]*silo.Dataset, error) {
	var removed []*silo.Dataset
	err := s.tx(ctx, func(tx pgx.Tx) error {
		removed = nil
		var orgID string
		if err := tx.QueryRow(ctx, `SELECT org_id FROM projects WHERE id = $1`, id).Scan(&orgID); err != nil {
			return err
		}
		if err := lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM projects WHERE id = $1 FOR UPDATE`, id).Scan(&one); err != nil {
			return err
		}
		if !withDatasets {
			var busy bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM datasets WHERE project_id = $1)
				OR EXISTS (SELECT 1 FROM reservations WHERE project_id = $1)`, id).Scan(&busy)
			if err != nil {
				return err
			}
			if busy {
				return silo.Errorf(silo.ECONFLICT, "project %s holds datasets or uploads in progress", id)
			}
		}
		var held int64
		for _, q := range []string{
			`DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE project_id = $1 ORDER BY id FOR UPDATE)`,
			`UPDATE blobs SET state = 'garbage', reservation_id = NULL WHERE state <> 'garbage' AND reservation_id IN
				(SELECT id FROM reservations WHERE project_id = $1 ORDER BY id FOR UPDATE)`,
		} {
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		err := tx.QueryRow(ctx, `WITH gone AS (DELETE FROM reservations WHERE project_id = $1 RETURNING bytes)
			SELECT COALESCE(SUM(bytes), 0)::BIGINT FROM gone`, id).Scan(&held)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM jobs WHERE dataset_id IN (SELECT j.dataset_id FROM jobs j JOIN datasets d ON d.id = j.dataset_id
			WHERE d.project_id = $1 ORDER BY j.dataset_id FOR UPDATE OF j)`, id); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM datasets WHERE project_id = $1 RETURNING `+datasetCols, id)
		if err != nil {
			return err
		}
		if removed, err = sqlq.Collect(rows, scanDataset); err != nil {
			return err
		}
		var used int64
		ids := make([]string, len(removed))
		for i, d := range removed {
			used += d.SizeBytes
			ids[i] = d.ID
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET state = 'garbage' WHERE dataset_id = ANY($1) AND state <> 'garbage'`, ids); err != nil {
			return err
		}
		if err := count(ctx, tx, orgID, "", -used, -held); err != nil {
			return err
		}
		if used > 0 {
			if err := sampleUsage(ctx, tx, orgID, "", at); err != nil {
				return err
			}
		}
		for _, d := range removed {
			if err := deletedEvents(ctx, tx, d, silo.ReasonProjectDeleted); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE keys SET revoked_at = COALESCE(revoked_at, $1) WHERE project_id = $2`, micros(at), id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM project_usage_samples WHERE project_id = $1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM projects WHERE id = $1`, id)
		return err
	})
	return removed, err
}

// ProjectUsageHistory returns up to limit of the project's newest samples
// since a moment, oldest first.
func (s *Store) ProjectUsageHistory(ctx context.Context, projectID string, since time.Time, limit int) ([]silo.UsageSample, error) {
	return s.history(ctx, "project_usage_samples", "project_id", projectID, since, limit)
}

// ProjectUsageSums sums, the slow way, what each project's datasets and
// reservations hold (fsck).
func (s *Store) ProjectUsageSums(ctx context.Context) (used, reserved map[string]int64, err error) {
	rows, err := s.pool.Query(ctx, `SELECT project_id, SUM(size_bytes)::BIGINT FROM datasets WHERE project_id IS NOT NULL GROUP BY project_id`)
	if err != nil {
		return nil, nil, mapErr(err)
	}
	if used, err = sqlq.SumsByOrg(rows); err != nil {
		return nil, nil, mapErr(err)
	}
	rows, err = s.pool.Query(ctx, `SELECT project_id, SUM(bytes)::BIGINT FROM reservations WHERE project_id IS NOT NULL GROUP BY project_id`)
	if err != nil {
		return nil, nil, mapErr(err)
	}
	reserved, err = sqlq.SumsByOrg(rows)
	return used, reserved, mapErr(err)
}

// RecountProject sets a project's counters to the sums of what it holds,
// its org's row locked first (locks.go) so that no create or release
// changes them meanwhile.
func (s *Store) RecountProject(ctx context.Context, id string) (*silo.Project, error) {
	var p *silo.Project
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var orgID string
		if err := tx.QueryRow(ctx, `SELECT org_id FROM projects WHERE id = $1`, id).Scan(&orgID); err != nil {
			return err
		}
		if err := lockOrg(ctx, tx, orgID); err != nil {
			return err
		}
		var err error
		p, err = scanProject(tx.QueryRow(ctx, `UPDATE projects SET
			used_bytes = (SELECT COALESCE(SUM(size_bytes), 0) FROM datasets WHERE project_id = $1),
			reserved_bytes = (SELECT COALESCE(SUM(bytes), 0) FROM reservations WHERE project_id = $1)
			WHERE id = $1 RETURNING `+sqlq.ProjectCols, id))
		return err
	})
	return p, err
}

// count adds used and reserved bytes to the org's counters and, if
// projectID is set, to the project's: every change of a project's counters
// is its org's too, in the same transaction, which holds the org's row
// lock already (locks.go).
func count(ctx context.Context, tx pgx.Tx, orgID, projectID string, used, reserved int64) error {
	if _, err := tx.Exec(ctx, `UPDATE orgs SET used_bytes = used_bytes + $1, reserved_bytes = reserved_bytes + $2 WHERE id = $3`,
		used, reserved, orgID); err != nil {
		return err
	}
	if projectID == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE projects SET used_bytes = used_bytes + $1, reserved_bytes = reserved_bytes + $2 WHERE id = $3`,
		used, reserved, projectID)
	return err
}

// grantIn reserves between need and want bytes for org (its numbers, read
// under its row lock: lockOrgNumbers) and projectID ("" none), or refuses
// with the numbers of the level that refused, writing nothing. The
// project's row is locked after the org's, the one order (locks.go), so
// that two creates, or a create and a quota change or a delete, never
// wait for each other in a cycle. Both UPDATEs are conditional: whatever
// the numbers read, neither level can go over its quota.
func grantIn(ctx context.Context, tx pgx.Tx, org *silo.QuotaError, orgID, projectID string, need, want int64) (int64, error) {
	var levels []*silo.QuotaError
	if projectID != "" {
		var p silo.QuotaError
		var quota *int64
		err := tx.QueryRow(ctx, `SELECT name, quota_bytes, used_bytes, reserved_bytes FROM projects WHERE id = $1 AND org_id = $2 FOR NO KEY UPDATE`,
			projectID, orgID).Scan(&p.Project, &quota, &p.UsedBytes, &p.ReservedBytes)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, silo.Errorf(silo.ENOTFOUND, "project %s not found", projectID)
		} else if err != nil {
			return 0, err
		}
		if quota != nil {
			p.LimitBytes = *quota
			levels = append(levels, &p)
		}
	}
	granted, err := sqlq.Grant(need, want, append(levels, org)...)
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, `UPDATE orgs SET reserved_bytes = reserved_bytes + $1
		WHERE id = $2 AND quota_bytes - used_bytes - reserved_bytes >= $1`, granted, orgID)
	if err := oneRow(tag.RowsAffected(), err); err != nil {
		return 0, err
	}
	if projectID != "" {
		tag, err := tx.Exec(ctx, `UPDATE projects SET reserved_bytes = reserved_bytes + $1
			WHERE id = $2 AND (quota_bytes IS NULL OR quota_bytes - used_bytes - reserved_bytes >= $1)`, granted, projectID)
		if err := oneRow(tag.RowsAffected(), err); err != nil {
			return 0, err
		}
	}
	return granted, nil
}

// oneRow checks that a conditional UPDATE changed its row: with the row
// locked since its numbers were read, nothing can have changed them.
func oneRow(n int64, err error) error {
	if err == nil && n != 1 {
		err = fmt.Errorf("postgres: a reservation's conditional update changed %d rows under the row lock", n)
	}
	return err
}

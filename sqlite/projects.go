package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

var _ silo.ProjectStore = (*Store)(nil)

// CreateProject stores a project of an existing org.
func (s *Store) CreateProject(ctx context.Context, p *silo.Project) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM orgs WHERE id = ?`, p.OrgID).Scan(&one)
		if err == sql.ErrNoRows {
			return silo.Errorf(silo.ENOTFOUND, "organization %s not found", p.OrgID)
		} else if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO projects (`+sqlq.ProjectCols+`) VALUES (?, ?, ?, ?, 0, 0, ?)`,
			p.ID, p.OrgID, p.Name, p.QuotaBytes, micros(p.CreatedAt))
		return err
	})
}

func scanProject(row scanner) (*silo.Project, error) {
	p, err := sqlq.ScanProject(row)
	return p, mapErr(err)
}

// Project returns one project with its counters.
func (s *Store) Project(ctx context.Context, id string) (*silo.Project, error) {
	return scanProject(s.r.QueryRowContext(ctx, `SELECT `+sqlq.ProjectCols+` FROM projects WHERE id = ?`, id))
}

// Projects lists the projects of one org, or of all, oldest first.
func (s *Store) Projects(ctx context.Context, orgID string) ([]*silo.Project, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlq.ProjectCols+` FROM projects WHERE ?1 = '' OR org_id = ?1 ORDER BY created_at, id`, orgID)
	if err != nil {
		return nil, err
	}
	return sqlq.Collect(rows, scanProject)
}

// SetProjectQuota changes a project's quota.
func (s *Store) SetProjectQuota(ctx context.Context, id string, quota *int64) (*silo.Project, error) {
	var p *silo.Project
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRowContext(ctx, `UPDATE projects SET quota_bytes = ? WHERE id = ? RETURNING `+sqlq.ProjectCols, quota, id))
		return err
	})
	return p, err
}

// DeleteProject removes a project and, with withDatasets, what it holds, in
// one immediate transaction: no client sees it half gone.
func (s *Store) DeleteProject(ctx context.Context, id string, withDatasets bool, at time.Time) ([]*silo.Dataset, error) {
	var removed []*silo.Dataset
	err := s.tx(ctx, func(tx *sql.Tx) error {
		removed = nil
		var orgID string
		if err := tx.QueryRowContext(ctx, `SELECT org_id FROM projects WHERE id = ?`, id).Scan(&orgID); err != nil {
			return err
		}
		if !withDatasets {
			var busy bool
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM datasets WHERE project_id = ?1)
				OR EXISTS (SELECT 1 FROM reservations WHERE project_id = ?1)`, id).Scan(&busy)
			if err != nil {
				return err
			}
			if busy {
				return silo.Errorf(silo.ECONFLICT, "project %s holds datasets or uploads in progress", id)
			}
		}
		var held int64
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(bytes), 0) FROM reservations WHERE project_id = ?`, id).Scan(&held)
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM jobs WHERE dataset_id IN (SELECT id FROM datasets WHERE project_id = ?1)`,
			`UPDATE blobs SET state = 'garbage', reservation_id = NULL
				WHERE dataset_id IN (SELECT id FROM datasets WHERE project_id = ?1)
				OR reservation_id IN (SELECT id FROM reservations WHERE project_id = ?1)`,
			`DELETE FROM uploads WHERE project_id = ?1`,
			`DELETE FROM reservations WHERE project_id = ?1`,
		} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `DELETE FROM datasets WHERE project_id = ? RETURNING `+sqlq.DatasetCols, id)
		if err != nil {
			return err
		}
		if removed, err = sqlq.Collect(rows, scanDataset); err != nil {
			return err
		}
		var used int64
		for _, d := range removed {
			used += d.SizeBytes
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
		if _, err := tx.ExecContext(ctx, `UPDATE keys SET revoked_at = COALESCE(revoked_at, ?) WHERE project_id = ?`, micros(at), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM project_usage_samples WHERE project_id = ?`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM projects WHERE id = ?`, id)
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
	rows, err := s.r.QueryContext(ctx, `SELECT project_id, SUM(size_bytes) FROM datasets WHERE project_id IS NOT NULL GROUP BY project_id`)
	if err != nil {
		return nil, nil, err
	}
	if used, err = sqlq.SumsByOrg(rows); err != nil {
		return nil, nil, err
	}
	rows, err = s.r.QueryContext(ctx, `SELECT project_id, SUM(bytes) FROM reservations WHERE project_id IS NOT NULL GROUP BY project_id`)
	if err != nil {
		return nil, nil, err
	}
	reserved, err = sqlq.SumsByOrg(rows)
	return used, reserved, err
}

// RecountProject sets a project's counters to the sums of what it holds.
func (s *Store) RecountProject(ctx context.Context, id string) (*silo.Project, error) {
	var p *silo.Project
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		p, err = scanProject(tx.QueryRowContext(ctx, `UPDATE projects SET
			used_bytes = (SELECT COALESCE(SUM(size_bytes), 0) FROM datasets WHERE project_id = ?1),
			reserved_bytes = (SELECT COALESCE(SUM(bytes), 0) FROM reservations WHERE project_id = ?1)
			WHERE id = ?1 RETURNING `+sqlq.ProjectCols, id))
		return err
	})
	return p, err
}

// count adds used and reserved bytes to the org's counters and, if
// projectID is set, to the project's: every change of a project's counters
// is its org's too, in the same transaction.
func count(ctx context.Context, tx *sql.Tx, orgID, projectID string, used, reserved int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE orgs SET used_bytes = used_bytes + ?, reserved_bytes = reserved_bytes + ? WHERE id = ?`,
		used, reserved, orgID); err != nil {
		return err
	}
	if projectID == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE projects SET used_bytes = used_bytes + ?, reserved_bytes = reserved_bytes + ? WHERE id = ?`,
		used, reserved, projectID)
	return err
}

// grantIn reserves between need and want bytes for orgID and projectID
// ("" none) inside tx, or refuses with the numbers of the level that
// refused, writing nothing. Inside the immediate transaction nothing else
// writes; the UPDATEs are conditional all the same, so the quotas hold
// whatever the isolation.
func grantIn(ctx context.Context, tx *sql.Tx, orgID, projectID string, need, want int64) (int64, error) {
	var levels []*silo.QuotaError
	if projectID != "" {
		var p silo.QuotaError
		var quota sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT name, quota_bytes, used_bytes, reserved_bytes FROM projects WHERE id = ? AND org_id = ?`,
			projectID, orgID).Scan(&p.Project, &quota, &p.UsedBytes, &p.ReservedBytes)
		if err == sql.ErrNoRows {
			return 0, silo.Errorf(silo.ENOTFOUND, "project %s not found", projectID)
		} else if err != nil {
			return 0, err
		}
		if quota.Valid {
			p.LimitBytes = quota.Int64
			levels = append(levels, &p)
		}
	}
	var o silo.QuotaError
	err := tx.QueryRowContext(ctx, `SELECT quota_bytes, used_bytes, reserved_bytes FROM orgs WHERE id = ?`, orgID).
		Scan(&o.LimitBytes, &o.UsedBytes, &o.ReservedBytes)
	if err != nil {
		return 0, err
	}
	granted, err := sqlq.Grant(need, want, append(levels, &o)...)
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `UPDATE orgs SET reserved_bytes = reserved_bytes + ?1
		WHERE id = ?2 AND quota_bytes - used_bytes - reserved_bytes >= ?1`, granted, orgID)
	if err := oneRow(res, err); err != nil {
		return 0, err
	}
	if projectID != "" {
		res, err := tx.ExecContext(ctx, `UPDATE projects SET reserved_bytes = reserved_bytes + ?1
			WHERE id = ?2 AND (quota_bytes IS NULL OR quota_bytes - used_bytes - reserved_bytes >= ?1)`, granted, projectID)
		if err := oneRow(res, err); err != nil {
			return 0, err
		}
	}
	return granted, nil
}

// oneRow checks that a conditional UPDATE changed its row: under BEGIN
// IMMEDIATE nothing can have changed the numbers read before it.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return errors.Join(err, fmt.Errorf("sqlite: reservation raced (impossible under BEGIN IMMEDIATE)"))
	}
	return nil
}

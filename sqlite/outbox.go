package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// outboxTx is a write transaction as the outbox's shared SQL uses it.
type outboxTx struct{ tx *sql.Tx }

func (t outboxTx) Exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, q, args...)
	return err
}

func (t outboxTx) QueryRow(ctx context.Context, q string, args ...any) sqlq.Scanner {
	return t.tx.QueryRowContext(ctx, q, args...)
}

// CreateWebhook stores an endpoint. The one writer orders it with every
// event's transaction: those committed before it get no delivery for it,
// those after do.
func (s *Store) CreateWebhook(ctx context.Context, w *silo.Webhook) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhooks (`+sqlq.WebhookCols+`) VALUES (`+placeholders(7)+`)`, sqlq.WebhookArgs(w)...)
		return err
	})
}

// Webhook returns an endpoint that is not deleted.
func (s *Store) Webhook(ctx context.Context, id string) (*silo.Webhook, error) {
	w, err := sqlq.ScanWebhook(s.r.QueryRowContext(ctx, `SELECT `+sqlq.WebhookCols+` FROM webhooks WHERE id = ? AND deleted = 0`, id))
	return w, mapErr(err)
}

// Webhooks lists an org's endpoints, or every one.
func (s *Store) Webhooks(ctx context.Context, orgID string, all bool) ([]*silo.Webhook, error) {
	q, args := `SELECT `+sqlq.WebhookCols+` FROM webhooks WHERE deleted = 0 AND org_id = ? ORDER BY created_at, id`, []any{orgID}
	if all {
		q, args = `SELECT `+sqlq.WebhookCols+` FROM webhooks WHERE deleted = 0 ORDER BY created_at, id`, nil
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	ws, err := sqlq.Collect(rows, sqlq.ScanWebhook)
	for _, w := range ws {
		w.Secret = ""
	}
	return ws, mapErr(err)
}

// DeleteWebhook deletes an endpoint and its pending deliveries.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webhooks SET deleted = 1 WHERE id = ? AND deleted = 0`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return sql.ErrNoRows
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM deliveries WHERE webhook_id = ? AND status = 'pending'`, id)
		return err
	})
}

// Deliveries lists an endpoint's newest deliveries.
func (s *Store) Deliveries(ctx context.Context, webhookID string, limit int) ([]*silo.Delivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+sqlq.DeliveryCols+` FROM deliveries WHERE webhook_id = ? ORDER BY id DESC LIMIT ?`, webhookID, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	return mappedAll(sqlq.Collect(rows, sqlq.ScanDelivery))
}

func mappedAll[T any](v T, err error) (T, error) { return v, mapErr(err) }

// The dispatcher's statements, prepared once (prepared.go).
const (
	dueDeliverySQL = `SELECT COUNT(*) FROM (SELECT 1 FROM deliveries
		WHERE status = 'pending' AND next_attempt_at <= ? AND lease_until < ? LIMIT 1)`
	// claimIDsSQL: due deliveries of endpoints not in the JSON array of
	// skipped ones, none while an earlier one of its dataset to its
	// endpoint is pending.
	claimIDsSQL = `SELECT d.id FROM deliveries d
		WHERE d.status = 'pending' AND d.next_attempt_at <= ? AND d.lease_until < ?
		AND d.webhook_id NOT IN (SELECT value FROM json_each(?))
		AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.status = 'pending' AND p.webhook_id = d.webhook_id
			AND p.dataset_id = d.dataset_id AND p.event_seq < d.event_seq)
		ORDER BY d.next_attempt_at, d.event_seq LIMIT ?`
	claimOneSQL   = `UPDATE deliveries SET owner = ?, lease_until = ?, attempts = attempts + 1 WHERE id = ?`
	claimedRowSQL = `SELECT ` + sqlq.ClaimedCols + ` FROM deliveries d
		JOIN events e ON e.seq = d.event_seq JOIN webhooks w ON w.id = d.webhook_id WHERE d.id = ?`
	finishDeliverySQL = `UPDATE deliveries SET status = ?, last_status_code = ?, last_error = ?, next_attempt_at = ?,
		lease_until = 0, owner = NULL, delivered_at = ? WHERE id = ? AND owner = ? AND attempts = ?`
)

// ClaimDeliveries leases due deliveries. The one writer is the claim's
// lock: no two claims run at once. A claim need not survive a crash (its
// lease would lapse anyway), so its commit is not fsynced (txNoSync).
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, limit int, skip []string) ([]*silo.ClaimedDelivery, error) {
	// Most looks find nothing (a dispatcher looks after every commit of
	// an event and every batch of outcomes): a read on the pool answers
	// those without taking the one writer. A delivery committed before
	// the look is seen (WAL: a new read sees every commit).
	var due int
	if err := s.hot.dueDelivery.QueryRowContext(ctx, micros(now), micros(now)).Scan(&due); err != nil {
		return nil, mapErr(err)
	}
	if due == 0 {
		return nil, nil
	}
	if skip == nil {
		skip = []string{}
	}
	skipped, err := json.Marshal(skip)
	if err != nil {
		return nil, err
	}
	var out []*silo.ClaimedDelivery
	err = s.txNoSync(ctx, func(tx *sql.Tx) error {
		out = nil
		rows, err := tx.StmtContext(ctx, s.hot.claimIDs).QueryContext(ctx, micros(now), micros(now), string(skipped), limit)
		if err != nil {
			return err
		}
		ids, err := sqlq.Collect(rows, func(r sqlq.Scanner) (int64, error) {
			var id int64
			return id, r.Scan(&id)
		})
		if err != nil || len(ids) == 0 {
			return err
		}
		claim, row := tx.StmtContext(ctx, s.hot.claimOne), tx.StmtContext(ctx, s.hot.claimedRow)
		for _, id := range ids {
			if _, err := claim.ExecContext(ctx, owner, micros(leaseUntil), id); err != nil {
				return err
			}
			c, err := sqlq.ScanClaimed(row.QueryRowContext(ctx, id))
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// FinishDeliveries records attempts' outcomes in one transaction, not
// fsynced (txNoSync): a lost outcome only means the delivery is sent again
// once its lease lapses, and the next ordinary commit makes it durable.
func (s *Store) FinishDeliveries(ctx context.Context, fs []silo.Finished) (int, error) {
	n := 0
	err := s.txNoSync(ctx, func(tx *sql.Tx) error {
		n = 0
		st := tx.StmtContext(ctx, s.hot.finishDelivery)
		for _, f := range fs {
			var delivered any
			if f.Status == silo.DeliveryDelivered {
				delivered = micros(f.At)
			}
			res, err := st.ExecContext(ctx, string(f.Status), f.StatusCode, f.Error, micros(f.Next), delivered,
				f.Delivery.ID, f.Delivery.Owner, f.Delivery.Attempts)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	return n, err
}

// PruneOutbox deletes finished deliveries and the events and deleted
// endpoints they leave unneeded (see silo.OutboxStore). Its commit is not
// fsynced: rows a crash brings back are pruned by the next sweep.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time, limit int) (int, error) {
	n := 0
	err := s.txNoSync(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries
				WHERE status <> 'pending' AND created_at < ? ORDER BY id LIMIT ?)`, []any{micros(before), limit}},
			{`DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE e.time < ?
				AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) ORDER BY seq LIMIT ?)`, []any{micros(before), limit}},
			{`DELETE FROM webhooks WHERE id IN (SELECT id FROM webhooks w WHERE w.deleted = 1
				AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id) LIMIT ?)`, []any{limit}},
		} {
			res, err := tx.ExecContext(ctx, q.sql, q.args...)
			if err != nil {
				return err
			}
			k, _ := res.RowsAffected()
			n += int(k)
		}
		return nil
	})
	return n, err
}

// ReleaseDeliveries ends the leases of deliveries not owned by owner.
func (s *Store) ReleaseDeliveries(ctx context.Context, owner string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET lease_until = 0, owner = NULL WHERE status = 'pending' AND owner IS NOT NULL AND owner <> ?`, owner)
		return err
	})
}

// OldestPendingDelivery returns when the oldest pending delivery was made.
func (s *Store) OldestPendingDelivery(ctx context.Context) (time.Time, error) {
	var at sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'`).Scan(&at); err != nil {
		return time.Time{}, mapErr(err)
	}
	if !at.Valid {
		return time.Time{}, nil
	}
	return fromMicros(at.Int64), nil
}

// OutboxCheck finds deliveries of missing events or endpoints.
func (s *Store) OutboxCheck(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, sqlq.OutboxCheckQuery)
	if err != nil {
		return nil, mapErr(err)
	}
	return mappedAll(sqlq.Collect(rows, sqlq.ScanProblem))
}

// The outbox's part of the changes' own transactions (datasets.go, jobs.go,
// orgdelete.go): one call each, so that the change's code stays its own.

// createdEvents records dataset.created and, if usage crossed a threshold,
// usage.threshold.
func createdEvents(ctx context.Context, tx *sql.Tx, d *silo.Dataset) error {
	if err := sqlq.AddDatasetEvent(ctx, outboxTx{tx}, silo.EventDatasetCreated, d, d.CreatedAt, ""); err != nil {
		return err
	}
	return sqlq.CheckThresholds(ctx, outboxTx{tx}, d.OrgID, d.ProjectID, d.CreatedAt)
}

// finishedEvent records dataset.validated or dataset.failed. d is the
// finished dataset as the worker has it; the stored row is its truth.
func finishedEvent(ctx context.Context, tx *sql.Tx, d *silo.Dataset) error {
	cur, err := scanDataset(tx.QueryRowContext(ctx, `SELECT `+datasetCols+` FROM datasets WHERE id = ?`, d.ID))
	if err != nil {
		return err
	}
	return sqlq.AddDatasetEvent(ctx, outboxTx{tx}, sqlq.FinishedEvent(cur), cur, cur.UpdatedAt, "")
}

// deletedEvents records dataset.deleted and re-arms the thresholds that
// usage fell below.
func deletedEvents(ctx context.Context, tx *sql.Tx, d *silo.Dataset, reason string) error {
	now := time.Now().UTC()
	if err := sqlq.AddDatasetEvent(ctx, outboxTx{tx}, silo.EventDatasetDeleted, d, now, reason); err != nil {
		return err
	}
	switch reason {
	case silo.ReasonOrgDeleted:
		return nil
	case silo.ReasonProjectDeleted: // the project's row goes too
		return sqlq.CheckThresholds(ctx, outboxTx{tx}, d.OrgID, "", now)
	}
	return sqlq.CheckThresholds(ctx, outboxTx{tx}, d.OrgID, d.ProjectID, now)
}

// orgDeletedEvents, in DeleteOrg's transaction, deletes the org's own
// endpoints (an organisation that is gone has none) and records
// dataset.deleted (org_deleted) of each removed dataset for the operators'
// endpoints.
func orgDeletedEvents(ctx context.Context, tx *sql.Tx, orgID string, removed []*silo.Dataset) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE status = 'pending' AND webhook_id IN (SELECT id FROM webhooks WHERE org_id = ?)`, orgID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET deleted = 1 WHERE org_id = ?`, orgID); err != nil {
		return err
	}
	for _, d := range removed {
		if err := deletedEvents(ctx, tx, d, silo.ReasonOrgDeleted); err != nil {
			return err
		}
	}
	return nil
}

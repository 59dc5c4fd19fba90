package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/sqlq"
)

// outboxTx is a transaction as the outbox's shared SQL uses it: ?
// placeholders rewritten as $n.
type outboxTx struct{ tx pgx.Tx }

func (t outboxTx) Exec(ctx context.Context, q string, args ...any) error {
	_, err := t.tx.Exec(ctx, sqlq.Rebind(q), args...)
	return err
}

func (t outboxTx) QueryRow(ctx context.Context, q string, args ...any) sqlq.Scanner {
	return t.tx.QueryRow(ctx, sqlq.Rebind(q), args...)
}

// CreateWebhook stores an endpoint so that exactly the events committed
// after it get deliveries for it. An event's transaction fans out with an
// INSERT ... SELECT that reads the endpoints committed when that statement
// starts; so this transaction takes SHARE on events, which waits for every
// transaction that wrote an event to end (they commit before this one and
// get no delivery for it) and holds back new ones until this commits (they
// read it). The org's row comes first, as in every transaction (locks.go):
// KEY SHARE, which a create's NO KEY UPDATE does not wait for, and which
// waits for a DeleteOrg (then finds the org gone).
func (s *Store) CreateWebhook(ctx context.Context, w *silo.Webhook) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if w.OrgID != "" {
			var one int
			if err := tx.QueryRow(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR KEY SHARE`, w.OrgID).Scan(&one); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE events IN SHARE MODE`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO webhooks (`+sqlq.WebhookCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`, sqlq.WebhookArgs(w)...)
		return err
	})
}

// Webhook returns an endpoint that is not deleted.
func (s *Store) Webhook(ctx context.Context, id string) (*silo.Webhook, error) {
	return mapped(sqlq.ScanWebhook(s.pool.QueryRow(ctx, `SELECT `+sqlq.WebhookCols+` FROM webhooks WHERE id = $1 AND deleted = 0`, id)))
}

// Webhooks lists an org's endpoints, or every one.
func (s *Store) Webhooks(ctx context.Context, orgID string, all bool) ([]*silo.Webhook, error) {
	q, args := `SELECT `+sqlq.WebhookCols+` FROM webhooks WHERE deleted = 0 AND org_id = $1 ORDER BY created_at, id`, []any{orgID}
	if all {
		q, args = `SELECT `+sqlq.WebhookCols+` FROM webhooks WHERE deleted = 0 ORDER BY created_at, id`, nil
	}
	rows, err := s.pool.Query(ctx, q, args...)
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
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE webhooks SET deleted = 1 WHERE id = $1 AND deleted = 0`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		_, err = tx.Exec(ctx, `DELETE FROM deliveries WHERE webhook_id = $1 AND status = 'pending'`, id)
		return err
	})
}

// Deliveries lists an endpoint's newest deliveries.
func (s *Store) Deliveries(ctx context.Context, webhookID string, limit int) ([]*silo.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sqlq.DeliveryCols+` FROM deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2`, webhookID, limit)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, sqlq.ScanDelivery))
}

// claimDeliveriesSQL leases due deliveries, on the database's clock
// (dbclock.go), and returns them with their events and endpoints. SKIP
// LOCKED: nodes claim side by side, passing over what another is claiming
// or finishing. A delivery waits while an earlier one of its dataset to
// its endpoint is pending, leased or not.
const claimDeliveriesSQL = `
WITH d AS (
UPDATE deliveries SET owner = $1, lease_until = ` + dbNow + ` + $2, attempts = attempts + 1
WHERE id IN (
    SELECT d.id FROM deliveries d
    WHERE d.status = 'pending' AND d.next_attempt_at <= ` + dbNow + ` AND d.lease_until < ` + dbNow + `
      AND NOT (d.webhook_id = ANY($3))
      AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.status = 'pending' AND p.webhook_id = d.webhook_id
          AND p.dataset_id = d.dataset_id AND p.event_seq < d.event_seq)
    ORDER BY d.next_attempt_at, d.event_seq LIMIT $4
    FOR UPDATE SKIP LOCKED)
  AND status = 'pending' AND lease_until < ` + dbNow + `
RETURNING *)
SELECT ` + sqlq.ClaimedCols + ` FROM d
JOIN events e ON e.seq = d.event_seq JOIN webhooks w ON w.id = d.webhook_id
ORDER BY d.next_attempt_at, d.event_seq`

// ClaimDeliveries leases due deliveries: one statement, in a transaction
// whose commit does not wait for the WAL flush (a claim lost in a crash
// is a lease that lapses anyway).
func (s *Store) ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, limit int, skip []string) ([]*silo.ClaimedDelivery, error) {
	var out []*silo.ClaimedDelivery
	if skip == nil {
		skip = []string{}
	}
	err := s.tx(ctx, func(tx pgx.Tx) error {
		out = nil
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, claimDeliveriesSQL, owner, span(now, leaseUntil), skip, limit)
		if err != nil {
			return err
		}
		out, err = sqlq.Collect(rows, sqlq.ScanClaimed)
		return err
	})
	return out, err
}

// finishDeliverySQL records one attempt's outcome; the next attempt's
// time is kept as a distance from the caller's now on the database's
// clock.
const finishDeliverySQL = `UPDATE deliveries SET status = $1, last_status_code = $2, last_error = $3,
	next_attempt_at = ` + dbNow + ` + $4, lease_until = 0, owner = NULL, delivered_at = $5
	WHERE id = $6 AND owner = $7 AND attempts = $8`

// FinishDeliveries records attempts' outcomes: one transaction, its
// statements sent in one round trip, its commit not waiting for the WAL
// flush (a lost outcome means one more attempt, which at least once
// allows). Rows are updated in id order, so that two nodes finishing
// overlapping sets (a lapsed lease taken over) lock them in one order.
func (s *Store) FinishDeliveries(ctx context.Context, fs []silo.Finished) (int, error) {
	fs = slices.Clone(fs)
	slices.SortFunc(fs, func(a, b silo.Finished) int { return cmp.Compare(a.Delivery.ID, b.Delivery.ID) })
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		b := &pgx.Batch{}
		b.Queue(`SET LOCAL synchronous_commit = off`)
		for _, f := range fs {
			var delivered *int64
			if f.Status == silo.DeliveryDelivered {
				us := micros(f.At)
				delivered = &us
			}
			b.Queue(finishDeliverySQL, string(f.Status), f.StatusCode, f.Error, span(f.At, f.Next), delivered,
				f.Delivery.ID, f.Delivery.Owner, f.Delivery.Attempts)
		}
		br := tx.SendBatch(ctx, b)
		for range b.Len() {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				return err
			}
			if tag.String() != "SET" {
				n += int(tag.RowsAffected())
			}
		}
		return br.Close()
	})
	return n, err
}

// PruneOutbox deletes finished deliveries and the events and deleted
// endpoints they leave unneeded (see silo.OutboxStore). Nodes sweep side
// by side: SKIP LOCKED passes over rows another is deleting. Its commit
// does not wait for the WAL flush: rows a crash brings back are pruned by
// the next sweep.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time, limit int) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx pgx.Tx) error {
		n = 0
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries
				WHERE status <> 'pending' AND created_at < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)`, []any{micros(before), limit}},
			{`DELETE FROM events WHERE seq IN (SELECT seq FROM events e WHERE e.time < $1
				AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id) ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)`, []any{micros(before), limit}},
			{`DELETE FROM webhooks WHERE id IN (SELECT id FROM webhooks w WHERE w.deleted = 1
				AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id) LIMIT $1 FOR UPDATE SKIP LOCKED)`, []any{limit}},
		} {
			tag, err := tx.Exec(ctx, q.sql, q.args...)
			if err != nil {
				return err
			}
			n += int(tag.RowsAffected())
		}
		return nil
	})
	return n, err
}

// ReleaseDeliveries ends the leases of deliveries not owned by owner.
func (s *Store) ReleaseDeliveries(ctx context.Context, owner string) error {
	_, err := s.pool.Exec(ctx, `UPDATE deliveries SET lease_until = 0, owner = NULL WHERE status = 'pending' AND owner IS NOT NULL AND owner <> $1`, owner)
	return mapErr(err)
}

// OldestPendingDelivery returns when the oldest pending delivery was made.
func (s *Store) OldestPendingDelivery(ctx context.Context) (time.Time, error) {
	var at *int64
	if err := s.pool.QueryRow(ctx, `SELECT MIN(created_at) FROM deliveries WHERE status = 'pending'`).Scan(&at); err != nil {
		return time.Time{}, mapErr(err)
	}
	if at == nil {
		return time.Time{}, nil
	}
	return fromMicros(*at), nil
}

// OutboxCheck finds deliveries of missing events or endpoints.
func (s *Store) OutboxCheck(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, sqlq.OutboxCheckQuery)
	if err != nil {
		return nil, mapErr(err)
	}
	return mapped(sqlq.Collect(rows, sqlq.ScanProblem))
}

// The outbox's part of the changes' own transactions (datasets.go, jobs.go,
// orgdelete.go): one call each, so that the change's code stays its own.

// createdEvents records dataset.created and, if usage crossed a threshold,
// usage.threshold. The caller holds the org's row lock.
func createdEvents(ctx context.Context, tx pgx.Tx, d *silo.Dataset) error {
	if err := sqlq.AddDatasetEvent(ctx, outboxTx{tx}, silo.EventDatasetCreated, d, d.CreatedAt, ""); err != nil {
		return err
	}
	return sqlq.CheckThresholds(ctx, outboxTx{tx}, d.OrgID, d.ProjectID, d.CreatedAt)
}

// finishedEvent records dataset.validated or dataset.failed, from the row
// as FinishJob left it.
func finishedEvent(ctx context.Context, tx pgx.Tx, d *silo.Dataset) error {
	cur, err := scanDataset(tx.QueryRow(ctx, `SELECT `+datasetCols+` FROM datasets WHERE id = $1`, d.ID))
	if err != nil {
		return err
	}
	return sqlq.AddDatasetEvent(ctx, outboxTx{tx}, sqlq.FinishedEvent(cur), cur, cur.UpdatedAt, "")
}

// deletedEvents records dataset.deleted and re-arms the thresholds that
// usage fell below. The caller holds the org's row lock.
func deletedEvents(ctx context.Context, tx pgx.Tx, d *silo.Dataset, reason string) error {
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
func orgDeletedEvents(ctx context.Context, tx pgx.Tx, orgID string, removed []*silo.Dataset) error {
	if _, err := tx.Exec(ctx, `DELETE FROM deliveries WHERE status = 'pending' AND webhook_id IN (SELECT id FROM webhooks WHERE org_id = $1)`, orgID); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE webhooks SET deleted = 1 WHERE org_id = $1`, orgID); err != nil {
		return err
	}
	for _, d := range removed {
		if err := deletedEvents(ctx, tx, d, silo.ReasonOrgDeleted); err != nil {
			return err
		}
	}
	return nil
}

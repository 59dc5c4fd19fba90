package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo"
)

// The one lock order. Every transaction that changes an organisation's
// counters or what it holds locks the org's row first (lockOrg), then, as
// it needs them: the project's row, the resumable uploads, the
// reservations, the jobs, the datasets, the blobs. (A reservation step
// locks its reservation before its project's row: nothing that holds a
// project's row waits for a reservation without holding the org's row
// first, and the org's row lock admits one such transaction at a time.) A
// transaction that locks several rows of one table locks them in key order
// (ORDER BY ... FOR UPDATE). Keys and the admin-keys lock (lockAdminKeys)
// come before the org's row.
//
// DeleteOrg is why: it locks the org FOR UPDATE, which also stops new rows
// that reference the org (a new reservation, a new dataset) from being
// inserted, and then takes every reservation, job and dataset of the org.
// When an upload's Reserve locked its reservation before the org's row,
// and DeleteOrg the org before that reservation, each waited for the
// other ("deadlock detected", seen 9-16 times per run of a purge racing
// the org's own creates); likewise the worker (job, then dataset) against
// a purge that deleted datasets before jobs. A transaction that waits for
// the org's row here holds nothing DeleteOrg needs, and once the org is
// gone it finds nothing (ENOTFOUND).

// lockOrg takes the org's row lock, the first lock of every transaction
// that changes the org's counters. FOR NO KEY UPDATE, the lock an UPDATE of
// the counters takes anyway: it does not stop other transactions from
// inserting rows that reference the org (only DeleteOrg's FOR UPDATE
// does). pgx.ErrNoRows if the org is gone.
func lockOrg(ctx context.Context, tx pgx.Tx, id string) error {
	var one int
	return tx.QueryRow(ctx, `SELECT 1 FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, id).Scan(&one)
}

// lockReservationOrg is lockOrg for the org of a reservation, found in the
// same statement (a reservation's org never changes, so reading it without
// a lock is safe); the reservation is not locked. It returns the org's id
// and its quota numbers as of the lock. pgx.ErrNoRows if the reservation
// or its org is gone.
func lockReservationOrg(ctx context.Context, tx pgx.Tx, resID string) (string, *silo.QuotaError, error) {
	var orgID string
	var qe silo.QuotaError
	err := tx.QueryRow(ctx, `SELECT id, quota_bytes, used_bytes, reserved_bytes FROM orgs
		WHERE id = (SELECT org_id FROM reservations WHERE id = $1) FOR NO KEY UPDATE`, resID).
		Scan(&orgID, &qe.LimitBytes, &qe.UsedBytes, &qe.ReservedBytes)
	return orgID, &qe, err
}

// lockOrgNumbers is lockOrg that also returns the org's quota numbers as
// of the lock.
func lockOrgNumbers(ctx context.Context, tx pgx.Tx, id string) (*silo.QuotaError, error) {
	var qe silo.QuotaError
	err := tx.QueryRow(ctx, `SELECT quota_bytes, used_bytes, reserved_bytes FROM orgs WHERE id = $1 FOR NO KEY UPDATE`, id).
		Scan(&qe.LimitBytes, &qe.UsedBytes, &qe.ReservedBytes)
	return &qe, err
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/silo-datasets/silo"
)

// How long txKnown may take to learn a lost transaction's fate, and after
// how long it stops waiting for a backend that has not noticed its client
// is gone and ends it.
const (
	resolveTimeout = 30 * time.Second
	terminateAfter = 2 * time.Second
	maxPoll        = 50 * time.Millisecond
)

// txKnown is tx for the transactions a client is told the outcome of (a
// create, a delete): an error from it always means nothing was committed.
//
// When the connection fails or the context ends while the transaction is
// open, and above all while its COMMIT is on the wire, the server may have
// committed it or not. Instead of guessing, txKnown notes the
// transaction's id when it begins and then asks the server, on another
// connection, with txid_status: committed means success; aborted means the
// error stands. A transaction still in progress belongs to a backend that
// has not yet noticed its client is gone; after a moment it is terminated,
// which aborts it, so the answer is always certain. Only when the server
// cannot be asked at all does the error say the outcome is unknown.
func (s *Store) txKnown(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		var xid int64
		var pid uint32
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			xid = 0
			if err := tx.QueryRow(ctx, `SELECT txid_current(), pg_backend_pid()`).Scan(&xid, &pid); err != nil {
				return err
			}
			return fn(tx)
		})
		if attempt < maxAttempts && retryable(err) {
			continue
		}
		if err != nil && xid != 0 && outcomeInDoubt(err) {
			committed, rerr := s.resolve(ctx, xid, pid)
			switch {
			case rerr != nil:
				// 504: the outcome settles by itself; the client may retry
				// with its Idempotency-Key, or repeat the delete.
				return &silo.Error{Code: silo.ETIMEOUT, Message: "the database did not confirm the outcome in time; retrying with the same Idempotency-Key (or repeating a delete) is safe",
					Err: fmt.Errorf("postgres: transaction outcome unknown (%v) after: %w", rerr, err)}
			case committed:
				return nil
			}
		}
		return mapErr(err)
	}
}

// outcomeInDoubt reports whether err may have come after the server
// committed. An error the server answered (a PgError) aborted the
// transaction, and no rows is fn's own verdict, followed by a rollback.
func outcomeInDoubt(err error) bool {
	var pe *pgconn.PgError
	return !errors.As(err, &pe) && !errors.Is(err, pgx.ErrNoRows)
}

// resolve asks the server whether transaction xid committed.
func (s *Store) resolve(ctx context.Context, xid int64, pid uint32) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resolveTimeout)
	defer cancel()
	start := time.Now()
	terminated := false
	// The backend usually notices its lost client within a millisecond or
	// two: poll fast at first.
	wait := time.Millisecond
	for {
		var status *string
		if err := s.pool.QueryRow(ctx, `SELECT txid_status($1)`, xid).Scan(&status); err != nil {
			return false, err
		}
		switch {
		case status == nil:
			return false, fmt.Errorf("transaction %d is too old to look up", xid)
		case *status == "committed":
			return true, nil
		case *status == "aborted":
			return false, nil
		}
		if !terminated && time.Since(start) > terminateAfter {
			if _, err := s.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, int64(pid)); err != nil {
				return false, err
			}
			terminated = true
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("transaction %d still in progress: %w", xid, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, maxPoll)
	}
}

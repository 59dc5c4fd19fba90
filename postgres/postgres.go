// Package postgres is silo's metadata store on PostgreSQL, for several silo
// nodes that serve as one: it behaves exactly as the SQLite store (same
// schema, same semantics, same conformance suite), with the concurrency
// that SQLite's single writer gave for free made explicit:
//
//   - the quota is reserved with one conditional UPDATE of the org's row,
//     which PostgreSQL re-checks against the newest row version, so no
//     number of nodes can overshoot it;
//   - jobs are claimed with FOR UPDATE SKIP LOCKED, so nodes never wait on
//     each other's claims;
//   - migrations and bootstrap run under advisory locks, so nodes starting
//     together on an empty database migrate once and create one key;
//   - transactions lock rows in one order (reservation, job, dataset, blobs,
//     org), and are retried when PostgreSQL aborts one as a deadlock anyway;
//   - a create or delete whose connection is lost mid-COMMIT asks the server
//     what became of it (txKnown), so an error always means nothing changed.
//
// The store uses session features (advisory locks, prepared statements):
// point it at PostgreSQL itself or at a pooler in session mode.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/silo-datasets/silo"
)

// defaultMaxConns is the pool size when the URL does not set
// pool_max_conns: enough for a node's concurrent uploads and streamed lists.
const defaultMaxConns = 16

// Store is the PostgreSQL metadata store.
type Store struct {
	pool *pgxpool.Pool
	addr string // host:port/database, for messages; never the password
}

var _ silo.Store = (*Store)(nil)

// Open connects to the database of a postgres://user@host:port/db URL (any
// libpq connection URL; pool_max_conns sets the pool size), checks that it
// answers, and migrates it. It fails fast with a message naming the server
// when it cannot connect.
func Open(ctx context.Context, rawURL string) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("invalid PostgreSQL URL: want postgres://USER@HOST:PORT/DB?sslmode=disable")
	}
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, fmt.Errorf("invalid PostgreSQL URL for %s%s: want postgres://USER@HOST:PORT/DB?sslmode=disable", u.Host, u.Path)
	}
	if !u.Query().Has("pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	s := &Store{addr: fmt.Sprintf("%s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)}
	follow := followPrimary(cfg, u.Query().Has("target_session_attrs"))
	s.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %s: %w", s.addr, err)
	}
	follow(s.pool)
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.pool.Ping(pctx); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s: %w", s.addr, err)
	}
	if err := migrate(ctx, s.pool); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: migrating %s: %w", s.addr, err)
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks the database answers and commits a write: a full disk, a
// read-only server or a standby fails it.
func (s *Store) Ping(ctx context.Context) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ('ready_probe', $1) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`,
			time.Now().UTC().Format(time.RFC3339Nano))
		return err
	})
}

// maxAttempts bounds the retries of a transaction that PostgreSQL aborted
// as a deadlock or serialization failure: both leave nothing behind, and
// running it again is what PostgreSQL's documentation asks for.
const maxAttempts = 5

// tx runs fn in a READ COMMITTED transaction, committing if it returns nil.
// fn may run more than once; it must set its results anew each time.
func (s *Store) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, fn)
		if attempt < maxAttempts && retryable(err) {
			continue
		}
		return mapErr(err)
	}
}

func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// mapErr turns PostgreSQL's errors into silo's codes: not found,
// conflicts, and the faults of the server or the way to it (see fault).
func mapErr(err error) error {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return silo.Errorf(silo.ENOTFOUND, "not found")
	case errors.As(err, &pe) && pe.Code == "23505": // unique_violation
		return silo.Errorf(silo.ECONFLICT, "already exists")
	}
	return fault(err)
}

// fault classifies an error of the server or of the connection to it as
// unavailable (nothing changed; retry later) or a deadline, and returns
// any other error unchanged. The message never names the server: its
// address and user stay in the logs.
func fault(err error) error {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return silo.Fault(silo.DepDatabase, err)
	case errors.As(err, &ce), errors.Is(err, puddle.ErrClosedPool), pgconn.Timeout(err),
		pgconn.SafeToRetry(err): // nothing was sent, e.g. "conn closed" by a server restart
		// Whatever refused the connection (the server down or starting,
		// the database gone, too many clients), nothing was done.
		return silo.Unavailable(silo.DepDatabase, err)
	case errors.As(err, &pe):
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // admin/crash shutdown, cannot connect now
			strings.HasPrefix(pe.Code, "53"), // insufficient resources: disk full, out of memory, too many connections
			pe.Code == "25006",               // read-only transaction: a standby, or default_transaction_read_only
			pe.Code == "58030":               // io_error
			return silo.Unavailable(silo.DepDatabase, err)
		case pe.Code == "57014": // query_canceled: statement_timeout
			return silo.TimedOut(silo.DepDatabase, err)
		case pe.Code == "22021", pe.Code == "22P05": // bytes that are not UTF-8, or a NUL
			return &silo.Error{Code: silo.EINVALID, Message: "The request holds bytes that are not valid UTF-8 text.", Err: err}
		}
		return err
	}
	return silo.Fault(silo.DepDatabase, err)
}

// Setting returns the stored value of name, storing def first if unset.
// Concurrent first calls agree: the losers' INSERTs wait for the winner's
// commit and then do nothing.
func (s *Store) Setting(ctx context.Context, name, def string) (string, error) {
	var v string
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, def); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT value FROM settings WHERE name = $1`, name).Scan(&v)
	})
	return v, err
}

// mapped is mapErr for a function's two results.
func mapped[T any](v T, err error) (T, error) { return v, mapErr(err) }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

func fromNullMicros(us *int64) *time.Time {
	if us == nil {
		return nil
	}
	t := fromMicros(*us)
	return &t
}

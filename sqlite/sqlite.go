// Package sqlite is silo's embedded metadata store: one SQLite database file
// in WAL mode with synchronous=FULL, so that a transaction is on disk before
// a create or delete is acknowledged.
//
// Writes go through one connection (SQLite has one writer anyway; queuing in
// Go avoids SQLITE_BUSY storms) and every write transaction is BEGIN
// IMMEDIATE, so a read-then-write inside one is atomic. Reads use a pool.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/silo-datasets/silo"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite metadata store.
type Store struct {
	path string
	w    *sql.DB  // the one writer
	r    *sql.DB  // readers
	hot  hot      // statements of every request, prepared on r
	keys keyCache // what KeyWithOrg reads, cleared by every write (keycache.go)
}

var _ silo.Store = (*Store)(nil)

// ParseURL returns the database path of a sqlite:///path/silo.db URL.
func ParseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "sqlite" {
		return "", fmt.Errorf("invalid SQLite URL %q: want sqlite:///path/to/silo.db", raw)
	}
	p := u.Path
	if u.Host != "" { // sqlite://relative/path
		p = u.Host + u.Path
	}
	if p == "" {
		return "", fmt.Errorf("invalid SQLite URL %q: no path; want sqlite:///path/to/silo.db", raw)
	}
	return p, nil
}

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// vfs=unix-excl: SQLite holds the database file exclusively for this
	// process (its connections share the lock) and keeps the WAL index in
	// heap memory instead of a shared-memory file. Without it every read
	// transaction took and dropped POSIX locks on the -shm file with
	// fcntl: half of a usage request's CPU. silo already locks its data
	// directory (cmd/silo, fsck), so no other process may use the database
	// while it runs; now SQLite enforces that too. Durability is unchanged
	// (WAL, synchronous=FULL); after a crash the WAL index is rebuilt from
	// the WAL, as always.
	pragmas := "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)"
	const excl = "vfs=unix-excl&"
	w, err := sql.Open("sqlite", "file:"+path+"?"+excl+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &Store{path: path, w: w}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", "file:"+path+"?"+excl+pragmas+"&_pragma=query_only(ON)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s.r = r
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, sub)
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlite: migrating %s: %w", s.path, err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	err := s.hot.close()
	if s.r != nil {
		err = errors.Join(err, s.r.Close())
	}
	return errors.Join(err, s.w.Close())
}

// Ping checks the database answers and commits a write: a full or
// read-only disk fails it.
func (s *Store) Ping(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES ('ready_probe', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
			time.Now().UTC().Format(time.RFC3339Nano))
		return err
	})
}

// tx runs fn in a write transaction (BEGIN IMMEDIATE), committing if it
// returns nil. Every write to keys and orgs comes through here, so this is
// where the key cache learns of them: cleared after the commit (whatever its
// answer), before the caller can acknowledge anything.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	return s.run(tx, err, fn)
}

// run runs fn in tx (begun with err), committing if it returns nil.
func (s *Store) run(tx *sql.Tx, err error, fn func(*sql.Tx) error) error {
	if err != nil {
		return mapErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return mapErr(err)
	}
	err = tx.Commit()
	s.keys.clear()
	return mapErr(err)
}

// txNoSync is tx for a write that need not survive a crash: its commit
// is not fsynced (synchronous=NORMAL for that one transaction, on the one
// writer connection). The next ordinary commit's fsync of the WAL makes
// it durable too; a crash before then loses only it. Used for the
// reservation steps of a streaming create (issue 24: a chunked 512 MiB
// create committed ~100 of them, each with an fsync): a reservation is
// released at start-up and by the sweep anyway, and what depends on it (a
// dataset) commits with an fsync. If the setting cannot be put back, the
// connection is dropped, so that no later commit runs without an fsync.
func (s *Store) txNoSync(ctx context.Context, fn func(*sql.Tx) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return mapErr(err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA synchronous = FULL`); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	tx, err := conn.BeginTx(ctx, nil)
	return s.run(tx, err, fn)
}

// mapErr turns SQLite's errors into silo's codes: not found, conflicts,
// and the faults of the disk under the database (full, read-only, failing,
// locked past busy_timeout), which are the dependency's, not the user's.
func mapErr(err error) error {
	var se *sqlite.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return silo.Errorf(silo.ENOTFOUND, "not found")
	case errors.As(err, &se) && (se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY):
		return silo.Errorf(silo.ECONFLICT, "already exists")
	case errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY: // what the row refers to is gone (a deleted org)
		return silo.Errorf(silo.ENOTFOUND, "not found")
	case errors.As(err, &se):
		if f := fault(se.Code()&0xff, err); f != nil {
			return f
		}
	}
	return silo.Fault(silo.DepDatabase, err)
}

// fault classifies a primary SQLite result code, or returns nil.
func fault(code int, err error) error {
	switch code {
	case sqlite3.SQLITE_FULL:
		return &silo.Error{Code: silo.EUNAVAILABLE, Message: silo.MsgFull, Err: err}
	case sqlite3.SQLITE_READONLY:
		return &silo.Error{Code: silo.EUNAVAILABLE, Message: silo.MsgReadOnly, Err: err}
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
		return silo.Unavailable(silo.DepDatabase, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		// busy_timeout already waited: the database is held too long.
		return silo.Unavailable(silo.DepDatabase, err)
	}
	return nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMicros(n.Int64)
	return &t
}

// Setting returns the stored value of name, storing def first if unset.
func (s *Store) Setting(ctx context.Context, name, def string) (string, error) {
	var v string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, def); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	})
	return v, err
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

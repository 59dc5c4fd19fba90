package postgres

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Following the primary.
//
// libpq's multi-host URL (postgres://u@h1:p1,h2:p2/db?target_session_attrs=
// read-write) picks the primary only when a connection is opened: a pooled
// connection stays with the server it was opened to, even after that server
// was demoted (Patroni and pg_auto_failover turn the old primary read-only,
// or restart it as a standby) or was set read-only for maintenance. Such a
// pool would answer 503 until the node restarts. So the statement that
// learns that its server no longer takes writes (read-only, shutting down,
// in recovery) drops its pool's connections: the idle ones at once, the ones
// in use when they are released, none is returned to the pool. The next
// connection resolves the primary anew through the URL's hosts, and
// meanwhile requests get 503 (fault classifies these errors unavailable).
//
// A server in recovery (pg_is_in_recovery()) shows transaction_read_only =
// on, so the read-write check refuses a standby when a connection is
// opened, and a pooled connection cannot see its server enter recovery
// without being cut (that takes a restart). An idle node learns of a
// read-only server within about a second as well: its validation workers
// try to claim a job, a write, every second, which gets 25006.

// followPrimary makes the pool that cfg configures follow the primary:
// it asks for a read-write server when the URL names no target session
// attributes (silo writes on every connection; libpq's default, "any",
// would keep a standby or a read-only server), and drops the pool's
// connections when one finds its server gone from the primary's role. It
// returns the hook to call with the pool once it is made.
func followPrimary(cfg *pgxpool.Config, urlSetsTarget bool) func(*pgxpool.Pool) {
	if !urlSetsTarget {
		cfg.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
	d := &dropper{inner: cfg.ConnConfig.Tracer}
	cfg.ConnConfig.Tracer = d
	return func(p *pgxpool.Pool) { d.pool.Store(p) }
}

// dropper is a query tracer: it sees every statement's outcome on the
// connection that ran it, whichever store method (or transaction, or
// migration) sent it, so the decision lives here once.
type dropper struct {
	inner pgx.QueryTracer // a tracer configured before, called as well
	pool  atomic.Pointer[pgxpool.Pool]
}

func (d *dropper) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if d.inner != nil {
		return d.inner.TraceQueryStart(ctx, conn, data)
	}
	return ctx
}

func (d *dropper) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	if d.inner != nil {
		d.inner.TraceQueryEnd(ctx, conn, data)
	}
	if !notPrimary(data.Err) {
		return
	}
	// All the pool's connections were opened by the same resolution of the
	// URL, most likely to this same server: drop them all rather than
	// learn it once per connection, one failed request each.
	if p := d.pool.Load(); p != nil {
		p.Reset()
	}
}

// notPrimary reports whether err says that the connection's server does
// not take writes now and will not on this connection: read-only (25006:
// a standby, a demoted primary, default_transaction_read_only), or being
// shut down or not accepting connections (57P01 admin shutdown, 57P02 crash
// shutdown, 57P03 cannot connect now: starting, or in recovery).
func notPrimary(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "25006", "57P01", "57P02", "57P03":
		return true
	}
	return false
}

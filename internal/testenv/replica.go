package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// standbyName is the application_name the standby streams under, and
// the name the primary waits for in synchronous_standby_names.
const standbyName = "standby1"

// Standby makes a synchronous streaming standby of s, as an operator
// would: pg_basebackup -R (which writes primary_conninfo and
// standby.signal), started on its own port, then named in the primary's
// synchronous_standby_names so that every commit s acknowledges is on the
// standby too. It returns once pg_stat_replication shows it in sync. The
// standby is stopped and removed when t ends.
//
// synchronous_standby_names is set with ALTER SYSTEM after the base backup,
// so that the standby does not inherit it: once promoted, it must not wait
// for a standby of its own.
func (s *PGServer) Standby(t testing.TB) *PGServer {
	t.Helper()
	bin, err := findPgBin("pg_basebackup")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := tempDir("standby")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	sb := &PGServer{dir: dir, data: filepath.Join(dir, "data"), cred: s.cred}
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=%s", s.port, standbyName)
	if out, err := sb.cmd(bin, "-R", "-D", sb.data, "-d", conninfo, "--checkpoint=fast", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	sb.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = '"+standbyName+"'", "SELECT pg_reload_conf()"); err != nil {
		t.Fatal(err)
	}
	err = s.waitQuery(ctx, "SELECT count(*) = 1 FROM pg_stat_replication WHERE application_name = '"+standbyName+"' AND sync_state = 'sync'")
	if err != nil {
		t.Fatalf("the standby is not in sync: %v", err)
	}
	return sb
}

// exec runs each statement on a connection to the database silo.
func (s *PGServer) exec(ctx context.Context, stmts ...string) error {
	conn, err := s.Connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// waitQuery waits until the boolean query q answers true. There is no
// event to wait on for replication catching up: it polls.
func (s *PGServer) waitQuery(ctx context.Context, q string) error {
	for {
		conn, err := s.Connect(ctx)
		ok := false
		if err == nil {
			err = conn.QueryRow(ctx, q).Scan(&ok)
			conn.Close(context.Background())
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: still false (%v)", q, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Kill SIGKILLs the postmaster and every backend at once: the host died.
func (s *PGServer) Kill() error { return s.signal(syscall.SIGKILL) }

// Promote makes a standby the primary (pg_ctl promote); it returns once
// the server accepts writes.
func (s *PGServer) Promote() error { return s.ctl("promote") }

// SetReadOnly turns every new transaction read-only and reloads the
// configuration, as a switchover's demotion or a maintenance window does;
// transactions that then try to write fail with 25006.
func (s *PGServer) SetReadOnly(ctx context.Context) error {
	return s.exec(ctx, "ALTER SYSTEM SET default_transaction_read_only = on", "SELECT pg_reload_conf()")
}

// ClientConns counts the client connections to the database silo other
// than the one asking.
func (s *PGServer) ClientConns(ctx context.Context) (int, error) {
	conn, err := s.Connect(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.Background())
	var n int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
		WHERE datname = 'silo' AND backend_type = 'client backend' AND pid <> pg_backend_pid()`).Scan(&n)
	return n, err
}

// MultiHostURL is libpq's multi-host URL of the database silo on servers,
// in order, asking for the one that takes writes.
func MultiHostURL(servers ...*PGServer) string {
	var hosts []string
	for _, s := range servers {
		hosts = append(hosts, s.Addr())
	}
	return "postgres://postgres@" + strings.Join(hosts, ",") + "/silo?sslmode=disable&target_session_attrs=read-write"
}

// SetReadWrite undoes SetReadOnly (ALTER SYSTEM is allowed in a read-only
// session).
func (s *PGServer) SetReadWrite(ctx context.Context) error {
	return s.exec(ctx, "ALTER SYSTEM RESET default_transaction_read_only", "SELECT pg_reload_conf()")
}

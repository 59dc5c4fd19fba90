package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBinDir is where Debian's postgresql package puts the server binaries
// (they are not on PATH).
const pgBinDir = "/usr/lib/postgresql/15/bin"

// pgCluster is the one PostgreSQL cluster of this test binary.
type pgCluster struct {
	port int
	mu   sync.Mutex // serialises CREATE DATABASE on admin
	adm  *pgx.Conn
}

var (
	pgOnce sync.Once
	pg     *pgCluster
	pgErr  error
)

// Postgres returns the URL of a fresh, empty database on this test binary's
// PostgreSQL cluster, which it starts on first use. The database is dropped
// when t ends.
func Postgres(t testing.TB) string {
	t.Helper()
	requireMain(t)
	pgOnce.Do(func() { pg, pgErr = startPostgres() })
	if pgErr != nil {
		t.Fatalf("testenv: PostgreSQL: %v", pgErr)
	}
	name := uniqueName("silotest", "_")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pg.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE: a test that failed may have left connections open.
		if err := pg.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	return pg.url(name)
}

func (c *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

func (c *pgCluster) exec(ctx context.Context, sql string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.adm.Exec(ctx, sql)
	return err
}

func findPgBin(name string) (string, error) {
	if dir := os.Getenv("SILO_TEST_PG_BIN"); dir != "" {
		return filepath.Join(dir, name), nil
	}
	if p := filepath.Join(pgBinDir, name); fileExists(p) {
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found in %s or on PATH; %s (it runs apt-get install -y postgresql)", name, pgBinDir, installHint)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// pgCredential returns the user to run PostgreSQL as: initdb and postgres
// refuse to run as root, so as root they run as the postgres user.
func pgCredential() (*syscall.Credential, *user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, nil, fmt.Errorf("running as root needs a postgres user to run the server as: %w; %s", err, installHint)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, nil, fmt.Errorf("the postgres user's uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, nil, fmt.Errorf("the postgres user's gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, u, nil
}

func startPostgres() (*pgCluster, error) {
	initdb, err := findPgBin("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := findPgBin("postgres")
	if err != nil {
		return nil, err
	}
	cred, _, err := pgCredential()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: the cluster outlives any one test, and as root the
	// directory must be reachable by the postgres user (short, too: the
	// Unix socket lives in it and socket paths are limited to 107 bytes).
	dir, err := tempDir("pg")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// A free port can be taken between our probe and the server's bind:
	// try a few.
	for attempt := 0; ; attempt++ {
		c, srv, err := runPostgres(postgres, dir, data, cred)
		if err == nil {
			atExit(func() {
				c.adm.Close(context.Background())
				srv.stop(syscall.SIGQUIT) // immediate shutdown: the data is thrown away
				os.RemoveAll(dir)
			})
			return c, nil
		}
		if attempt == 4 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func runPostgres(bin, dir, data string, cred *syscall.Credential) (*pgCluster, *server, error) {
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, err
	}
	defer logf.Close()
	// Durability is irrelevant for a throwaway cluster; speed is not.
	cmd := exec.Command(bin, "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=32MB")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	srv, err := startServer(cmd)
	if err != nil {
		return nil, nil, fmt.Errorf("start postgres: %w", err)
	}
	c := &pgCluster{port: port}
	err = waitFor(srv, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.url("postgres"))
		if err != nil {
			return err
		}
		c.adm = conn
		return nil
	})
	if err != nil {
		srv.stop(syscall.SIGQUIT)
		log, _ := os.ReadFile(logPath)
		return nil, nil, fmt.Errorf("postgres on port %d: %v\n%s", port, err, strings.TrimSpace(string(log)))
	}
	return c, srv, nil
}

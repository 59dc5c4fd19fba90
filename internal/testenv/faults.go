package testenv

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"
)

// PGServer is a PostgreSQL cluster of one test's own, run by pg_ctl so that
// the test can restart it, freeze it and thaw it as an operator's mishaps
// would, without touching the shared cluster other tests use.
type PGServer struct {
	URL  string // of database silo
	port int
	dir  string
	data string
	cred *syscall.Credential
}

// OwnPostgres starts a private PostgreSQL cluster with a database silo;
// it is stopped and removed when t ends.
func OwnPostgres(t testing.TB) *PGServer {
	t.Helper()
	initdb, err := findPgBin("initdb")
	if err != nil {
		t.Fatal(err)
	}
	cred, _, err := pgCredential()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := tempDir("ownpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	s := &PGServer{dir: dir, data: filepath.Join(dir, "data"), cred: cred}
	return s.initAndStart(t, initdb)
}

// initAndStart makes s's cluster with initdb, starts it on a free port and
// creates the database silo.
func (s *PGServer) initAndStart(t testing.TB, initdb string) *PGServer {
	t.Helper()
	if out, err := s.cmd(initdb, "-D", s.data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable", s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE silo"); err != nil {
		t.Fatal(err)
	}
	return s
}

// start starts s's cluster on a free port (extra: more -c settings) and
// stops it when t ends.
func (s *PGServer) start(t testing.TB, extra ...string) {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200 -c shared_buffers=32MB", port, s.dir)
	for _, e := range extra {
		opts += " -c " + e
	}
	if err := s.ctl("start", "-o", opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Thaw(); s.ctl("stop", "-m", "immediate") })
	s.port = port
	s.URL = fmt.Sprintf("postgres://postgres@%s/silo?sslmode=disable", s.Addr())
}

// Addr is the server's host:port.
func (s *PGServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Connect opens a connection of the test's own to the database silo.
func (s *PGServer) Connect(ctx context.Context) (*pgx.Conn, error) { return pgx.Connect(ctx, s.URL) }

func (s *PGServer) cmd(bin string, args ...string) *exec.Cmd {
	c := exec.Command(bin, args...)
	c.Dir = s.dir
	c.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return c
}

func (s *PGServer) ctl(args ...string) error {
	bin, err := findPgBin("pg_ctl")
	if err != nil {
		return err
	}
	args = append([]string{"-D", s.data, "-w", "-t", "60", "-l", filepath.Join(s.dir, "postgres.log")}, args...)
	if out, err := s.cmd(bin, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
		return fmt.Errorf("pg_ctl %s: %v\n%s\n%s", strings.Join(args, " "), err, out, log)
	}
	return nil
}

// Restart is pg_ctl restart -m mode (fast or immediate); it returns once
// the server accepts connections again.
func (s *PGServer) Restart(mode string) error { return s.ctl("restart", "-m", mode) }

// pids returns the postmaster's pid and its children's.
func (s *PGServer) pids() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(s.data, "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return nil, err
	}
	out, _ := exec.Command("pgrep", "-P", strconv.Itoa(pid)).Output() // exit 1: no children
	pids := []int{pid}
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

func (s *PGServer) signal(sig syscall.Signal) error {
	pids, err := s.pids()
	if err != nil {
		return err
	}
	for _, p := range pids {
		syscall.Kill(p, sig)
	}
	return nil
}

// Freeze stops the postmaster and every backend (SIGSTOP): the server
// accepts TCP connections but answers nothing, as a hung host does.
func (s *PGServer) Freeze() error { return s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server.
func (s *PGServer) Thaw() error { return s.signal(syscall.SIGCONT) }

// S3Proc is a versitygw of one test's own, which the test can stop and
// start again on the same port and directory.
type S3Proc struct {
	S3Server
	bin, dir, root string
	gw             *s3Gateway
	srv            *server
}

// OwnS3 starts a private versitygw with one bucket; it is stopped and
// removed when t ends.
func OwnS3(t testing.TB) *S3Proc {
	t.Helper()
	bin, err := findVersitygw()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := tempDir("owns3")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &S3Proc{bin: bin, dir: dir, root: filepath.Join(dir, "root")}
	if err := os.Mkdir(p.root, 0o700); err != nil {
		t.Fatal(err)
	}
	if p.gw, p.srv, err = runVersitygw(bin, dir, p.root); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bucket := uniqueName("silofaults", "-")
	if err := p.gw.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: p.gw.region}); err != nil {
		t.Fatal(err)
	}
	q := url.Values{"endpoint": {"http://" + p.gw.endpoint}, "region": {p.gw.region}}
	p.S3Server = S3Server{Endpoint: "http://" + p.gw.endpoint, Region: p.gw.region, AccessKey: p.gw.access,
		Secret: p.gw.secret, Bucket: bucket, URL: "s3://" + bucket + "?" + q.Encode()}
	return p
}

// Stop kills the gateway (SIGKILL: an object store that goes away).
func (p *S3Proc) Stop() {
	if p.srv != nil {
		p.srv.stop(syscall.SIGKILL)
	}
}

// Start starts the gateway again on the same port and directory.
func (p *S3Proc) Start() error {
	port, err := strconv.Atoi(p.gw.endpoint[strings.LastIndex(p.gw.endpoint, ":")+1:])
	if err != nil {
		return err
	}
	var srv *server
	for attempt := 0; attempt < 50; attempt++ {
		_, srv, err = runVersitygwOn(p.bin, p.dir, p.root, port)
		if err == nil {
			p.srv = srv
			return nil
		}
		time.Sleep(100 * time.Millisecond) // the port may linger a moment
	}
	return err
}

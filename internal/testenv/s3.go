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
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Server is a fresh bucket on this test binary's S3 server.
type S3Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	Region    string
	AccessKey string
	Secret    string
	Bucket    string
	// URL names the bucket as silo's --blobs flag does:
	// s3://BUCKET?endpoint=http://127.0.0.1:PORT&region=us-east-1. The
	// credentials are not in it; they go in AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY (see Env).
	URL string
}

// Env returns the environment variables that give a silo process the
// server's credentials, as KEY=VALUE pairs for exec.Cmd.Env.
func (s S3Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.Secret}
}

// Client returns an S3 client for the server, for tests that look inside the
// bucket behind the code under test.
func (s S3Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := newS3Client(strings.TrimPrefix(s.Endpoint, "http://"), s.AccessKey, s.Secret, s.Region)
	if err != nil {
		t.Fatalf("testenv: s3 client: %v", err)
	}
	return c
}

type s3Gateway struct {
	endpoint, access, secret, region string
	client                           *minio.Client
}

var (
	s3Once sync.Once
	gw     *s3Gateway
	gwErr  error
)

// S3 returns a fresh, empty bucket on this test binary's S3 server
// (versitygw), which it starts on first use.
func S3(t testing.TB) S3Server {
	t.Helper()
	requireMain(t)
	s3Once.Do(func() { gw, gwErr = startVersitygw() })
	if gwErr != nil {
		t.Fatalf("testenv: S3: %v", gwErr)
	}
	bucket := uniqueName("silotest", "-")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := gw.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: gw.region}); err != nil {
		t.Fatalf("testenv: make bucket %s: %v", bucket, err)
	}
	q := url.Values{"endpoint": {"http://" + gw.endpoint}, "region": {gw.region}}
	return S3Server{
		Endpoint:  "http://" + gw.endpoint,
		Region:    gw.region,
		AccessKey: gw.access,
		Secret:    gw.secret,
		Bucket:    bucket,
		URL:       "s3://" + bucket + "?" + q.Encode(),
	}
}

// findVersitygw looks on PATH, then where go install puts binaries.
func findVersitygw() (string, error) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "versitygw"); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("versitygw not found on PATH or in %s; %s (it runs go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)",
		strings.Join(dirs, ", "), installHint)
}

func newS3Client(hostport, access, secret, region string) (*minio.Client, error) {
	return minio.New(hostport, &minio.Options{
		Creds:        credentials.NewStaticV4(access, secret, ""),
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
	})
}

func startVersitygw() (*s3Gateway, error) {
	bin, err := findVersitygw()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("s3")
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		g, srv, err := runVersitygw(bin, dir, root)
		if err == nil {
			atExit(func() {
				srv.stop(syscall.SIGTERM)
				os.RemoveAll(dir)
			})
			return g, nil
		}
		if attempt == 4 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func runVersitygw(bin, dir, root string) (*s3Gateway, *server, error) {
	port, err := freePort()
	if err != nil {
		return nil, nil, err
	}
	return runVersitygwOn(bin, dir, root, port)
}

func runVersitygwOn(bin, dir, root string, port int) (*s3Gateway, *server, error) {
	g := &s3Gateway{
		endpoint: "127.0.0.1:" + strconv.Itoa(port),
		access:   "silotestaccess",
		secret:   "silotestsecret" + strconv.Itoa(os.Getpid()),
		region:   "us-east-1",
	}
	logPath := filepath.Join(dir, "versitygw.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "--access", g.access, "--secret", g.secret, "--region", g.region,
		"--port", g.endpoint, "--quiet", "posix", root)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Only what the gateway needs: its ROOT_* and VGW_* variables must not
	// leak in from the test's environment and change its behaviour.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	srv, err := startServer(cmd)
	if err != nil {
		return nil, nil, fmt.Errorf("start versitygw: %w", err)
	}
	if g.client, err = newS3Client(g.endpoint, g.access, g.secret, g.region); err != nil {
		srv.stop(syscall.SIGKILL)
		return nil, nil, err
	}
	err = waitFor(srv, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := g.client.ListBuckets(ctx)
		return err
	})
	if err != nil {
		srv.stop(syscall.SIGKILL)
		log, _ := os.ReadFile(logPath)
		return nil, nil, fmt.Errorf("versitygw on %s: %v\n%s", g.endpoint, err, strings.TrimSpace(string(log)))
	}
	return g, srv, nil
}

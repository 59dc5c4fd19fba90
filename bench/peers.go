package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/silo-datasets/silo"
)

// minioPeer compares silo's upload with a single-node MinIO PUT of the
// same file on the same disk (make bench-peers builds MinIO).
func (b *bench) minioPeer() error {
	bin, err := exec.LookPath("minio")
	if err != nil {
		bin = filepath.Join(b.root, ".bench", "bin", "minio")
		if _, err := os.Stat(bin); err != nil {
			b.note("MinIO not found (run make bench-peers): the peer row was skipped")
			return nil
		}
	}
	file, err := b.dataFile("chat", b.sz.Upload)
	if err != nil {
		return err
	}
	size := fileSize(file)
	const user, pass = "benchadmin", "benchadmin-secret"
	dir := filepath.Join(b.tmp, "minio")
	// MinIO prints the address it listens on only when it was given one.
	api, console := freePort(), freePort()
	m, err := startProc("minio", bin, []string{"server", "--address", api, "--console-address", console, dir},
		[]string{"MINIO_ROOT_USER=" + user, "MINIO_ROOT_PASSWORD=" + pass, "MINIO_BROWSER=off", "MINIO_UPDATE=off"},
		b.tmp, regexp.MustCompile(`(?:API|S3-API): http://(127\.0\.0\.1:\d+)`))
	if err != nil {
		return err
	}
	defer m.stop()
	mc, err := minio.New(m.addr, &minio.Options{Creds: credentials.NewStaticV4(user, pass, "")})
	if err != nil {
		return err
	}
	ctx := context.Background()
	for i := 0; ; i++ {
		if err = mc.MakeBucket(ctx, "bench", minio.MakeBucketOptions{}); err == nil || i > 50 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("minio: make bucket: %w", err)
	}
	s, err := b.siloServer("silo-peers", filepath.Join(b.tmp, "peers"))
	if err != nil {
		return err
	}
	defer s.stop()
	c := newClient(s.url(), adminKey)
	var mr, sr []float64
	for range b.sz.Rounds {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		start := time.Now()
		// Single PUT with a known size and an unsigned payload, as a client
		// streaming a file would; MinIO fsyncs the object before it answers.
		_, err = mc.PutObject(ctx, "bench", "obj", f, size, minio.PutObjectOptions{DisableMultipart: true, ContentType: "application/octet-stream"})
		f.Close()
		if err != nil {
			return fmt.Errorf("minio put: %w", err)
		}
		mr = append(mr, mbps(size, time.Since(start)))
		id, took, err := c.upload(file, string(silo.TypeChatFinetune), true)
		if err != nil {
			return err
		}
		sr = append(sr, mbps(size, took))
		if _, err := c.waitFinal(id, 30*time.Minute); err != nil {
			return err
		}
		if err := c.delete(id); err != nil {
			return err
		}
	}
	b.ratioRow("3 upload (peers)", fmt.Sprintf("POST /v1/datasets of %s vs MinIO single-node PUT", fmtMiB(size)),
		fmtMBps(median(sr)), fmtMBps(median(mr))+" MinIO PUT", median(sr)/median(mr), ">=", 1.4)
	return nil
}

// freePort returns a loopback address whose port was free a moment ago.
func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

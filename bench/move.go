package main

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/silo-datasets/silo"
)

// move is workload 7 (issue 12): silo backup of a running server against
// tar of its data directory, and silo migrate to an S3 server against a
// client copying the same files there, each on a small and a large data
// directory: throughput against the baseline, and memory that does not
// grow with the data.
func (b *bench) move() error {
	gw, err := startVersitygw(b.tmp)
	if err != nil {
		b.note("versitygw not found: the migrate rows were skipped (%v)", err)
	}
	if gw != nil {
		defer gw.stop()
	}
	type result struct {
		backup, tar, migrate, client float64 // MB/s, medians of the rounds
		data                         int64
		serverRSS, migrateRSS        int64
	}
	var res []result
	for i, n := range []int{b.sz.MoveSmall, b.sz.MoveLarge} {
		dir := filepath.Join(b.tmp, fmt.Sprintf("move-%d", i))
		if err := b.populate(dir, n); err != nil {
			return err
		}
		r := result{data: dirSize(dir)}
		rounds := b.sz.Rounds
		if i == 0 {
			rounds = 1 // the small directory is there for memory only
		}
		var backup, tar, migrate, client []float64
		for round := range rounds {
			bk, rss, err := b.timeBackup(dir, fmt.Sprintf("silo-move-%d-%d", i, round))
			if err != nil {
				return err
			}
			backup, r.serverRSS = append(backup, bk), max(r.serverRSS, rss)
			t, err := b.timeTar(dir)
			if err != nil {
				return err
			}
			tar = append(tar, t)
			if gw == nil {
				continue
			}
			name := fmt.Sprintf("move%d%d", i, round)
			blobs := dirSize(filepath.Join(dir, "blobs"))
			if err := gw.bucket(name); err != nil {
				return err
			}
			db := "sqlite://" + filepath.Join(b.tmp, name+".db")
			took, rss, err := b.runSilo(gw.env(), "migrate", "--from-data", dir, "--to-db", db, "--to-blobs", gw.url(name))
			if err != nil {
				return err
			}
			migrate, r.migrateRSS = append(migrate, mbps(blobs, took)), max(r.migrateRSS, rss)
			gw.drop(name)
			if err := gw.bucket(name + "c"); err != nil {
				return err
			}
			if took, err = gw.putAll(name+"c", filepath.Join(dir, "blobs")); err != nil {
				return err
			}
			client = append(client, mbps(blobs, took))
			gw.drop(name + "c")
		}
		r.backup, r.tar = median(backup), median(tar)
		if gw != nil {
			r.migrate, r.client = median(migrate), median(client)
		}
		res = append(res, r)
	}
	w := "7 move"
	small, large := res[0], res[1]
	b.ratioRow(w, fmt.Sprintf("silo backup of a running server, %s data dir, to a file", fmtMiB(large.data)),
		fmtMBps(large.backup), fmtMBps(large.tar)+" tar -cf of the data dir + fsync", large.backup/large.tar, ">=", 0.7)
	b.ratioRow(w, fmt.Sprintf("server peak RSS with a backup: %s vs %s data dir", fmtMiB(large.data), fmtMiB(small.data)),
		fmtMiB(large.serverRSS), fmtMiB(small.serverRSS), float64(large.serverRSS)/float64(small.serverRSS), "<=", 1.5)
	if gw != nil {
		b.ratioRow(w, fmt.Sprintf("silo migrate of a %s data dir to SQLite + S3 (versitygw), SHA-256 verified", fmtMiB(large.data)),
			fmtMBps(large.migrate), fmtMBps(large.client)+" minio-go PutObject of the same files", large.migrate/large.client, ">=", 0.7)
		b.ratioRow(w, fmt.Sprintf("silo migrate peak RSS: %s vs %s data dir", fmtMiB(large.data), fmtMiB(small.data)),
			fmtMiB(large.migrateRSS), fmtMiB(small.migrateRSS), float64(large.migrateRSS)/float64(small.migrateRSS), "<=", 1.5)
	}
	return nil
}

// timeBackup starts a server on dir (fresh, so that its peak RSS is that
// of the backup), takes a backup of it with the command line client into a
// file, and returns the backup's MB/s and the server's peak RSS.
func (b *bench) timeBackup(dir, name string) (float64, int64, error) {
	s, err := b.siloServer(name, dir)
	if err != nil {
		return 0, 0, err
	}
	defer s.stop()
	out := filepath.Join(b.tmp, "backup.tar")
	defer os.Remove(out)
	env := []string{"SILO_URL=" + s.url(), "SILO_API_KEY=" + adminKey}
	took, _, err := b.runSilo(env, "backup", "-o", out)
	if err != nil {
		return 0, 0, err
	}
	rss, err := s.peakRSS()
	return mbps(fileSize(out), took), rss, err
}

// timeTar is the backup's baseline: tar of the (stopped) data directory
// into a file, fsynced as silo backup's output is.
func (b *bench) timeTar(dir string) (float64, error) {
	out := filepath.Join(b.tmp, "plain.tar")
	defer os.Remove(out)
	start := time.Now()
	if err := exec.Command("tar", "-cf", out, "-C", dir, ".").Run(); err != nil {
		return 0, fmt.Errorf("tar: %w", err)
	}
	if err := fsyncFile(out); err != nil {
		return 0, err
	}
	return mbps(fileSize(out), time.Since(start)), nil
}

// populate makes a data directory holding n validated chat datasets of
// b.sz.MoveEach bytes each (originals and Avro parts).
func (b *bench) populate(dir string, n int) error {
	file, err := b.dataFile("chat", b.sz.MoveEach)
	if err != nil {
		return err
	}
	s, err := b.siloServer("silo-populate", dir)
	if err != nil {
		return err
	}
	defer s.stop()
	c := newClient(s.url(), adminKey)
	for range n {
		id, _, err := c.upload(file, string(silo.TypeChatFinetune), true)
		if err != nil {
			return err
		}
		if _, err := c.waitFinal(id, 30*time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// runSilo runs the silo binary and returns how long it took and its peak
// RSS.
func (b *bench) runSilo(env []string, args ...string) (time.Duration, int64, error) {
	cmd := exec.Command(b.siloBin, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("silo %v: %w\n%s", args, err, out)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	return took, rss, nil
}

func fsyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// gateway is a versitygw S3 server on a temp directory.
type gateway struct {
	cmd  *exec.Cmd
	addr string
	root string
	mc   *minio.Client
}

const gwAccess, gwSecret = "benchaccess", "benchsecret-0123456789"

func startVersitygw(tmp string) (*gateway, error) {
	bin, err := exec.LookPath("versitygw")
	if err != nil {
		home, _ := os.UserHomeDir()
		bin = filepath.Join(home, "go", "bin", "versitygw")
		if _, err := os.Stat(bin); err != nil {
			return nil, err
		}
	}
	root := filepath.Join(tmp, "s3")
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	g := &gateway{addr: freePort(), root: root}
	g.cmd = exec.Command(bin, "--access", gwAccess, "--secret", gwSecret, "--port", g.addr, "posix", root)
	logf, err := os.Create(filepath.Join(tmp, "versitygw.log"))
	if err != nil {
		return nil, err
	}
	g.cmd.Stdout, g.cmd.Stderr = logf, logf
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	if g.mc, err = minio.New(g.addr, &minio.Options{Creds: credentials.NewStaticV4(gwAccess, gwSecret, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath}); err != nil {
		g.stop()
		return nil, err
	}
	for i := 0; ; i++ {
		if _, err = g.mc.ListBuckets(context.Background()); err == nil {
			return g, nil
		}
		if i > 100 {
			g.stop()
			return nil, fmt.Errorf("versitygw did not answer: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (g *gateway) stop() {
	g.cmd.Process.Kill()
	g.cmd.Wait()
}

func (g *gateway) bucket(name string) error {
	return g.mc.MakeBucket(context.Background(), name, minio.MakeBucketOptions{Region: "us-east-1"})
}

// drop removes a bucket with its objects: with the posix backend it is a
// directory of the gateway's root.
func (g *gateway) drop(bucket string) { os.RemoveAll(filepath.Join(g.root, bucket)) }

func (g *gateway) url(bucket string) string {
	return "s3://" + bucket + "?endpoint=http://" + g.addr + "&region=us-east-1"
}

func (g *gateway) env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + gwAccess, "AWS_SECRET_ACCESS_KEY=" + gwSecret}
}

// putAll is the client baseline: every file of dir into bucket, one after
// the other, with its size known (as silo's copier knows it).
func (g *gateway) putAll(bucket, dir string) (time.Duration, error) {
	start := time.Now()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return err
		}
		_, err = g.mc.PutObject(context.Background(), bucket, filepath.Base(path), f, info.Size(), minio.PutObjectOptions{})
		return err
	})
	if err != nil {
		log.Printf("client copy: %v", err)
	}
	return time.Since(start), err
}

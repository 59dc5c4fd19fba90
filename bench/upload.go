package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/internal/mpart"
	"github.com/silo-datasets/silo/validate"
)

// copyFsync is the baseline of the upload workloads: what the disk can do
// for the same bytes, a plain read/write copy of the file with a 1 MiB
// buffer into a new file on the same file system, then fsync (as
// `dd bs=1M conv=fsync`). copy_file_range is kept out on purpose: silo
// receives its bytes from a socket and must write them itself.
func copyFsync(src, dst string) (time.Duration, error) {
	start := time.Now()
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer os.Remove(dst)
	defer out.Close()
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(struct{ io.Writer }{out}, struct{ io.Reader }{in}, buf); err != nil {
		return 0, err
	}
	if err := out.Sync(); err != nil {
		return 0, err
	}
	return time.Since(start), out.Close()
}

// copyFsyncDrop is the same copy written by silo's disk store (a Put of
// the file, as a plain reader): 1 MiB reads and writes, an fsync each
// 64 MiB in the background with each fsynced range dropped from the page
// cache, the final fsync, the rename and the directory's fsync. Dropping
// recycles the pages (disk/cache.go says why that is much cheaper on a VM
// that hands free memory back to its host); it is the ceiling of silo's
// own way of writing, reported beside the plain copy, whose speed on such
// a VM depends on how much free memory the host has taken back.
func copyFsyncDrop(src, dir string) (time.Duration, error) {
	defer os.RemoveAll(dir)
	start := time.Now()
	if _, _, err := putFile(src, dir); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// putFile stores the file src as a blob of a disk store in dir (which the
// caller removes) and returns the store and the blob's key.
func putFile(src, dir string) (*disk.Store, string, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, "", err
	}
	defer in.Close()
	st, err := disk.Open(dir)
	if err != nil {
		return nil, "", err
	}
	key := silo.NewBlobKey()
	if _, err := st.Put(context.Background(), key, struct{ io.Reader }{in}); err != nil {
		return nil, "", err
	}
	return st, key, nil
}

// validationFloor is what the time from a create's 200 to `validated`
// cannot go below on the machine: the validate package alone, in this
// process, reading the file as a just-stored blob (a disk store's Open of
// a blob its Put dropped from the page cache) and writing the Avro part
// through the disk store's Put as the worker does (silo.Service's
// AvroWriter: buffers in flight, hashed off the validator's goroutine). No
// HTTP, database, job queue or claim: only the work that a validation must
// do.
func validationFloor(src, dir string) (time.Duration, error) {
	return floorOf(src, dir, func(blob io.Reader, out io.Writer) error {
		d := &silo.Dataset{Type: silo.TypeChatFinetune}
		file := silo.ValidationFile{Part: &silo.Part{Kind: silo.PartTrain, Format: silo.FormatJSONL}, Data: blob, Avro: out}
		v, err := validate.New(validate.Options{}).Validate(context.Background(), d, []silo.ValidationFile{file})
		if err == nil && !v.OK {
			err = fmt.Errorf("%s did not validate: %s", src, v.Report.Error)
		}
		return err
	})
}

// ioFloor is the I/O under validationFloor alone: the just-stored blob
// read back, 1 MiB at a time as the validator reads it, and written again
// through the same writer, with nothing decoded. A validation moves these
// bytes (its Avro part is ~93% of a chat file) whatever its parser costs.
func ioFloor(src, dir string) (time.Duration, error) {
	return floorOf(src, dir, func(blob io.Reader, out io.Writer) error {
		_, err := io.CopyBuffer(out, struct{ io.Reader }{blob}, make([]byte, 1<<20))
		return err
	})
}

// floorOf stores src as a blob of a disk store in dir (untimed), then
// times work reading it back and writing what it writes as a new blob
// through the worker's Avro writer.
func floorOf(src, dir string, work func(blob io.Reader, out io.Writer) error) (time.Duration, error) {
	defer os.RemoveAll(dir)
	st, key, err := putFile(src, dir)
	if err != nil {
		return 0, err
	}
	ctx := context.Background()
	start := time.Now()
	blob, err := st.Open(ctx, key, 0, -1)
	if err != nil {
		return 0, err
	}
	defer blob.Close()
	out, done := (&silo.Service{Blobs: st}).AvroWriter(ctx, silo.NewBlobKey())
	err = work(blob, out)
	if derr := done(err); err == nil {
		err = derr
	}
	if err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// upload is workload 3: a large file through POST /v1/datasets against
// the copy with fsync.
func (b *bench) upload() error {
	file, err := b.dataFile("chat", b.sz.Upload)
	if err != nil {
		return err
	}
	size := fileSize(file)
	dir := filepath.Join(b.tmp, "upload")
	s, err := b.siloServer("silo-upload", dir)
	if err != nil {
		return err
	}
	defer s.stop()
	c := newClient(s.url(), adminKey)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bare, err := startProc("bare-upload", self, []string{"bare-upload", "127.0.0.1:0"}, nil, b.tmp, bareUploadListening)
	if err != nil {
		return err
	}
	defer bare.stop()
	bc := newClient(bare.url(), "")
	bareDisk, err := startProc("bare-upload-disk", self, []string{"bare-upload", "127.0.0.1:0", filepath.Join(b.tmp, "bare-disk")}, nil, b.tmp, bareUploadListening)
	if err != nil {
		return err
	}
	defer bareDisk.stop()
	bdc := newClient(bareDisk.url(), "")
	var cp, cpDrop, up, e2e, hashOnly, hashDisk, lag, floor, ioFl []float64
	for range b.sz.Rounds {
		_, took, err := bc.upload(file, string(silo.TypeChatFinetune), true)
		if err != nil {
			return err
		}
		hashOnly = append(hashOnly, mbps(size, took))
		if _, took, err = bdc.upload(file, string(silo.TypeChatFinetune), true); err != nil {
			return err
		}
		hashDisk = append(hashDisk, mbps(size, took))
		d, err := copyFsync(file, filepath.Join(dir, "copy.tmp"))
		if err != nil {
			return err
		}
		cp = append(cp, mbps(size, d))
		if d, err = copyFsyncDrop(file, filepath.Join(b.tmp, "copy-drop")); err != nil {
			return err
		}
		cpDrop = append(cpDrop, mbps(size, d))
		floorD, err := validationFloor(file, filepath.Join(b.tmp, "floor"))
		if err != nil {
			return err
		}
		ioD, err := ioFloor(file, filepath.Join(b.tmp, "floor"))
		if err != nil {
			return err
		}
		start := time.Now()
		id, took, err := c.upload(file, string(silo.TypeChatFinetune), true)
		if err != nil {
			return err
		}
		up = append(up, mbps(size, took))
		if _, err := c.waitFinal(id, 30*time.Minute); err != nil {
			return err
		}
		e2e = append(e2e, mbps(size, time.Since(start)))
		// Issue 14: validated no later after the ack than the upload took.
		lag = append(lag, float64(time.Since(start)-took)/float64(took))
		floor, ioFl = append(floor, floorD.Seconds()/took.Seconds()), append(ioFl, ioD.Seconds()/took.Seconds())
		if err := c.delete(id); err != nil {
			return err
		}
	}
	b.uploadMBps, b.copyMBps = median(up), median(cp)
	w := "3 upload"
	b.ratioRow(w, fmt.Sprintf("POST /v1/datasets of %s (streamed multipart, Content-Length) until 200", fmtMiB(size)),
		fmtMBps(median(up)), fmtMBps(median(cp))+" Go copy + fsync", median(up)/median(cp), ">=", 0.6) // issue 14's targets

	b.ratioRow(w, "the same vs silo's disk store writing the file alone (a Go copy + fsync that drops its pages behind it)", fmtMBps(median(up)),
		fmtMBps(median(cpDrop))+" disk store Put", median(up)/median(cpDrop), "", 0)
	b.ratioRow(w, "ceiling: a bare server that parses the multipart body and hashes it (SHA-256), no disk", fmtMBps(median(hashOnly)),
		fmtMBps(median(cp))+" Go copy + fsync", median(hashOnly)/median(cp), "", 0)
	b.ratioRow(w, "silo vs that bare multipart + SHA-256 server", fmtMBps(median(up)), fmtMBps(median(hashOnly)),
		median(up)/median(hashOnly), ">=", 0.9)
	b.ratioRow(w, "silo vs the same bare server also storing the file (silo's disk store Put, fsync, on its one goroutine)", fmtMBps(median(up)),
		fmtMBps(median(hashDisk)), median(up)/median(hashDisk), "", 0)
	b.ratioRow(w, "create → validated end to end (chat JSONL)", fmtMBps(median(e2e)), fmtMBps(median(cp))+" Go copy + fsync",
		median(e2e)/median(cp), "", 0)
	upSecs := float64(size) / 1e6 / median(up)
	b.ratioRow(w, "time from the create's 200 to `validated` / the upload's own time", fmt.Sprintf("%.2f s", median(lag)*upSecs),
		fmt.Sprintf("%.2f s upload", upSecs), median(lag), "<=", 1)
	b.ratioRow(w, "floor: the validate package alone reading the stored blob and writing its Avro part through the disk store (no HTTP, database or queue) / the upload's own time",
		fmt.Sprintf("%.2f s", median(floor)*upSecs), fmt.Sprintf("%.2f s upload", upSecs), median(floor), "", 0)
	b.ratioRow(w, "I/O floor: the stored blob read back and written again through the disk store, hashed, nothing decoded (a validation's reads and writes) / the upload's own time",
		fmt.Sprintf("%.2f s", median(ioFl)*upSecs), fmt.Sprintf("%.2f s upload", upSecs), median(ioFl), "", 0)
	return nil
}

// memory is workload 4: the server's peak RSS while a large file uploads
// and validates, against the budget and against a small file. The small
// file's peak is the median of 3 servers: it moved between 49 and 59 MB
// from run to run (where the GC happens to be when the validation ends),
// against 58-60 MB for the large one, and one low run made the growth row
// fail with nothing grown.
func (b *bench) memory() error {
	peakOf := func(size int64, runs int) (int64, error) {
		file, err := b.dataFile("chat", size)
		if err != nil {
			return 0, err
		}
		defer os.Remove(file) // the largest file of the run: make room
		var peaks []int64
		for i := range runs {
			dir := filepath.Join(b.tmp, fmt.Sprintf("memory-%d-%d", size, i))
			s, err := b.siloServer(fmt.Sprintf("silo-memory-%d-%d", size, i), dir)
			if err != nil {
				return 0, err
			}
			c := newClient(s.url(), adminKey)
			id, _, err := c.upload(file, string(silo.TypeChatFinetune), true)
			if err == nil {
				_, err = c.waitFinal(id, time.Hour)
			}
			var peak int64
			if err == nil {
				peak, err = s.peakRSS()
			}
			s.stop()
			os.RemoveAll(dir)
			if err != nil {
				return 0, err
			}
			log.Printf("peak RSS with %s: %.1f MB", fmtMiB(size), float64(peak)/1e6)
			peaks = append(peaks, peak)
		}
		return median(peaks), nil
	}
	small, err := peakOf(b.sz.MemSmall, 3)
	if err != nil {
		return err
	}
	large, err := peakOf(b.sz.MemLarge, 1)
	if err != nil {
		return err
	}
	w := "4 memory"
	b.ratioRow(w, fmt.Sprintf("server peak RSS (VmHWM), %s upload + validation", fmtMiB(b.sz.MemLarge)),
		fmt.Sprintf("%.1f MB", float64(large)/1e6), "100 MB budget", float64(large)/100e6, "<=", 1)
	b.ratioRow(w, fmt.Sprintf("peak RSS growth, %s / %s file (median of 3 servers)", fmtMiB(b.sz.MemLarge), fmtMiB(b.sz.MemSmall)),
		fmt.Sprintf("%.1f MB", float64(large)/1e6), fmt.Sprintf("%.1f MB with %s", float64(small)/1e6, fmtMiB(b.sz.MemSmall)),
		float64(large)/float64(small), "<=", 1.2)
	return nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// parallel is workload 6: Parallel uploads at once against one at a time,
// and the quota counter's contention cost: the same parallel uploads, sent
// without Content-Length so that each reserves quota step by step as its
// bytes arrive, in an organisation whose quota barely fits them against
// one with a huge quota.
func (b *bench) parallel() error {
	file, err := b.dataFile("chat", b.sz.ParallelEach)
	if err != nil {
		return err
	}
	n, each := b.sz.Parallel, fileSize(file)
	total := int64(n) * each
	data := filepath.Join(b.tmp, "parallel")
	s, err := b.siloServer("silo-parallel", data)
	if err != nil {
		return err
	}
	defer s.stop()
	admin := newClient(s.url(), adminKey)
	// Near the data size: the files plus what each upload may reserve
	// ahead of its bytes (one reservation step).
	tight := total + int64(n)*silo.DefaultReserveStep
	run := func(name string, quota int64, parallel, sized bool) (float64, error) {
		c, err := admin.newOrgKey(fmt.Sprintf("%s-%d", name, time.Now().UnixNano()), quota)
		if err != nil {
			return 0, err
		}
		ids := make([]string, n)
		errs := make([]error, n)
		start := time.Now()
		var took time.Duration
		if parallel {
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() { defer wg.Done(); ids[i], _, errs[i] = c.upload(file, string(silo.TypeChatFinetune), sized) }()
			}
			wg.Wait()
			took = time.Since(start)
		} else {
			// One at a time means alone: each upload's validation ends
			// (untimed) before the next starts, or the serial side would
			// pay for validations that the parallel side runs after its
			// clock stops.
			for i := range n {
				var d time.Duration
				if ids[i], d, errs[i] = c.upload(file, string(silo.TypeChatFinetune), sized); errs[i] != nil {
					break
				}
				took += d
				if _, err := c.waitFinal(ids[i], time.Hour); err != nil {
					return 0, err
				}
			}
		}
		for _, err := range errs {
			if err != nil {
				return 0, fmt.Errorf("%s: %w", name, err)
			}
		}
		// Let validation finish before the next run, so that it does not
		// eat the next run's CPU, and give the space back.
		for _, id := range ids {
			if _, err := c.waitFinal(id, time.Hour); err != nil {
				return 0, err
			}
			if err := c.delete(id); err != nil {
				return 0, err
			}
		}
		// A delete answers once committed and its blobs go in the
		// background: the next run starts when they are gone, or it would
		// share the disk with their removal.
		if err := waitNoBlobs(data, 5*time.Minute); err != nil {
			return 0, err
		}
		return mbps(total, took), nil
	}
	type kind struct {
		out      *[]float64
		name     string
		quota    int64
		parallel bool
		sized    bool
	}
	var serial, par, huge, tightR []float64
	for round := range b.sz.Rounds {
		for _, r := range append([]kind{
			{&serial, "serial", 1 << 50, false, true},
			{&par, "parallel", 1 << 50, true, true},
		}, inTurn(round, kind{&huge, "huge-quota", 1 << 50, true, false}, kind{&tightR, "tight-quota", tight, true, false})...) {
			v, err := run(r.name, r.quota, r.parallel, r.sized)
			if err != nil {
				return err
			}
			*r.out = append(*r.out, v)
		}
	}
	w := "6 parallel"
	b.ratioRow(w, fmt.Sprintf("%d parallel uploads of %s, aggregate", n, fmtMiB(each)), fmtMBps(median(par)),
		fmtMBps(median(serial))+" one at a time", median(par)/median(serial), ">=", 0.9)
	b.ratioRow(w, fmt.Sprintf("%d parallel chunked uploads, quota = data + %d × reserve step", n, n), fmtMBps(median(tightR)),
		fmtMBps(median(huge))+" with a huge quota", median(tightR)/median(huge), ">=", 0.95)
	b.note("Workload 6: tight/huge quota per round: %s.", roundRatios(tightR, huge))
	if b.copyMBps > 0 {
		b.ratioRow(w, "parallel aggregate vs Go copy + fsync of workload 3", fmtMBps(median(par)), fmtMBps(b.copyMBps), median(par)/b.copyMBps, "", 0)
	}
	return nil
}

// waitNoBlobs waits until the embedded blob store of the data directory
// dataDir holds no blob (its layout: blobs/blobs/KEY).
func waitNoBlobs(dataDir string, timeout time.Duration) error {
	dir := filepath.Join(dataDir, "blobs", "blobs")
	for deadline := time.Now().Add(timeout); ; {
		left, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d blobs still in %s after %v", len(left), dir, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var bareUploadListening = regexp.MustCompile(`bare-upload listening addr=(\S+)`)

// serveBareUpload is a ceiling for workload 3: a bare net/http server that
// does the part of a create that the checksum contract makes unavoidable:
// it parses the multipart body (through a buffer the size of silo's own)
// and computes the SHA-256 of the file part, then throws the bytes away.
// No disk, no quota, no metadata. Given a directory, it also stores the
// file there as silo's disk store does (Put: write, fsync, rename), read,
// hashed and written on the request's goroutine, and deletes it after
// answering: the simplest server that stores what it acknowledges.
func serveBareUpload(addr, dir string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	var st *disk.Store
	if dir != "" {
		if st, err = disk.Open(dir); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "bare-upload listening addr=%s\n", ln.Addr())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mr := multipart.NewReader(bufio.NewReaderSize(r.Body, mpart.BufSize), params["boundary"])
		h := sha256.New()
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			} else if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if st != nil {
				key := silo.NewBlobKey()
				if _, err := st.Put(r.Context(), key, io.TeeReader(p, h)); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				defer func() { // after the answer
					if err := st.Delete(context.Background(), key); err != nil {
						log.Printf("bare-upload: %v", err)
					}
				}()
				continue
			}
			if _, err := io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{p}, make([]byte, 1<<20)); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		// A length, so that the client has the whole answer at the flush,
		// before the deferred deletes.
		body := fmt.Sprintf(`{"id":"%x"}`, h.Sum(nil)[:4])
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		io.WriteString(w, body)
		w.(http.Flusher).Flush()
	}))
}

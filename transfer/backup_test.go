package transfer_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/transfer"
)

// records is a metadata store that exports fixed records and takes nothing.
type records []*silo.Record

func (rs records) Export(ctx context.Context, fn func(*silo.Record) error) error {
	for _, r := range rs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (records) Import(context.Context, func(put func(*silo.Record) error) error) error {
	return fmt.Errorf("read-only")
}

// synthBlobs is a blob store of made-up files: each key is either small
// bytes held in memory or a run of zeros of any length, generated as it
// is read, so a file of many GiB costs no disk and no memory.
type synthBlobs struct {
	small map[string][]byte
	zeros map[string]int64
}

func (b *synthBlobs) Open(_ context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if data, ok := b.small[key]; ok {
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	if n, ok := b.zeros[key]; ok {
		return io.NopCloser(&zeroReader{n: n}), nil
	}
	return nil, silo.Errorf(silo.ENOTFOUND, "no blob %s", key)
}

func (b *synthBlobs) Put(context.Context, string, io.Reader) (int64, error) {
	return 0, fmt.Errorf("read-only")
}
func (b *synthBlobs) Delete(context.Context, string) error { return fmt.Errorf("read-only") }
func (b *synthBlobs) List(context.Context, func(string, int64) error) error {
	return fmt.Errorf("not listed")
}
func (b *synthBlobs) Ping(context.Context) error { return nil }

type zeroReader struct{ n int64 }

func (z *zeroReader) Read(p []byte) (int, error) {
	if z.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n)]
	clear(p)
	z.n -= int64(len(p))
	return len(p), nil
}

const (
	// One byte over USTAR's largest size (8 GiB - 1), plus a tail that is
	// not a whole tar block.
	hugeSize = 8<<30 + 4097
	// The SHA-256 of hugeSize zero bytes, computed once (the verifier in
	// the backup writer checks it as the file streams).
	hugeSHA256 = "61b36852f86d0b37c6c0ec1f4b573decfce2facc1d018a8daba3c903fd5cb0ef"
)

// A backup holds files of 8 GiB and more. A synthetic file of 8 GiB + 4097
// zero bytes streams through the backup writer (nothing on disk) into Go's
// archive/tar and GNU tar -tvf at once; both list every file with its size,
// the file after the huge one comes back byte for byte (the huge one's
// header and padding are right), and the archive is exactly as long as the
// snapshot said (the answer's Content-Length). With USTAR headers, as
// before, WriteTo fails on the huge file's header.
func TestBackupOver8GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 8 GiB through SHA-256 and two tar readers")
	}
	gnuTar, err := exec.LookPath("tar")
	if err != nil {
		t.Fatalf("GNU tar is needed to read the archive back: %v", err)
	}
	huge, small := silo.NewBlobKey(), silo.NewBlobKey()
	tail := []byte("{\"text\":\"after the huge file\"}\n")
	sum := sha256.Sum256(tail)
	now := time.Now().UTC()
	d := &silo.Dataset{ID: "huge-ds", OrgID: "org_a", Name: "huge", Type: silo.TypeEmbedInput, Status: silo.StatusValidated,
		CreatedAt: now, UpdatedAt: now, SizeBytes: hugeSize + int64(len(tail)),
		Parts: []silo.Part{
			{ID: "dp_1", Name: "huge.jsonl", Kind: silo.PartTrain, Format: silo.FormatJSONL, BlobKey: huge, SizeBytes: hugeSize, SHA256: hugeSHA256},
			{ID: "dp_2", Index: 1, Name: "tail.jsonl", Kind: silo.PartEval, Format: silo.FormatJSONL, BlobKey: small, SizeBytes: int64(len(tail)), SHA256: hex.EncodeToString(sum[:])},
		}}
	b := &transfer.Backup{
		Store: records{{Org: &silo.Org{ID: "org_a", Name: "a", UsedBytes: d.SizeBytes, CreatedAt: now}}, {Dataset: d}},
		Blobs: &synthBlobs{small: map[string][]byte{small: tail}, zeros: map[string]int64{huge: hugeSize}},
		Pins:  &silo.Pins{}, TempDir: t.TempDir(),
	}
	snap, err := b.Snapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()

	goR, goW := io.Pipe()
	var goList []string
	var goErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		goList, goErr = listTar(goR, tail)
		goR.CloseWithError(goErr) // a reader that gave up stops the writer
	}()
	tarCmd := exec.Command(gnuTar, "-tvf", "-")
	tarIn, err := tarCmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var tarOut, tarErr bytes.Buffer
	tarCmd.Stdout, tarCmd.Stderr = &tarOut, &tarErr
	if err := tarCmd.Start(); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	n, err := snap.WriteTo(io.MultiWriter(goW, tarIn))
	elapsed := time.Since(start)
	goW.Close()
	tarIn.Close()
	wg.Wait()
	tarWait := tarCmd.Wait()
	if err != nil {
		t.Fatalf("WriteTo after %d bytes: %v", n, err)
	}
	t.Logf("streamed %d bytes in %v (%.0f MB/s) through the verifier, archive/tar and GNU tar", n, elapsed, float64(n)/elapsed.Seconds()/1e6)
	if n != snap.Size() {
		t.Errorf("WriteTo wrote %d bytes, Size said %d", n, snap.Size())
	}
	if goErr != nil {
		t.Fatalf("archive/tar: %v", goErr)
	}
	if tarWait != nil {
		t.Fatalf("tar -tvf: %v\n%s", tarWait, tarErr.String())
	}
	want := []string{"manifest.json", "metadata.jsonl", fmt.Sprintf("blobs/%s %d", huge, hugeSize), fmt.Sprintf("blobs/%s %d", small, len(tail))}
	gnuList := gnuListing(t, tarOut.String())
	for i, got := range [][]string{goList, gnuList} {
		reader := []string{"archive/tar", "GNU tar"}[i]
		if len(got) != len(want) {
			t.Fatalf("%s lists %q, want %d files", reader, got, len(want))
		}
		for j := 2; j < len(want); j++ { // the first two sizes depend on the run
			if got[j] != want[j] {
				t.Errorf("%s: file %d is %q, want %q", reader, j, got[j], want[j])
			}
		}
	}
}

// listTar reads a tar to the end and lists "name size" of every file; the
// file holding tail (the last) must hold exactly it.
func listTar(r io.Reader, tail []byte) ([]string, error) {
	tr := tar.NewReader(r)
	var list []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			return list, err
		}
		var buf bytes.Buffer
		w := io.Writer(io.Discard)
		if hdr.Size < 1<<20 {
			w = &buf
		}
		n, err := io.Copy(w, tr)
		if err != nil {
			return list, fmt.Errorf("%s after %d bytes: %w", hdr.Name, n, err)
		}
		if n != hdr.Size {
			return list, fmt.Errorf("%s holds %d bytes, its header says %d", hdr.Name, n, hdr.Size)
		}
		if hdr.Size == int64(len(tail)) && !bytes.Equal(buf.Bytes(), tail) {
			return list, fmt.Errorf("%s holds %q, want %q", hdr.Name, buf.Bytes(), tail)
		}
		list = append(list, fmt.Sprintf("%s %d", hdr.Name, n))
	}
	for i := range min(len(list), 2) {
		list[i] = strings.Fields(list[i])[0]
	}
	return list, nil
}

// gnuListing turns tar -tvf's lines ("-rw------- 0/0 8589938689 2026-12-07
// 22:10 blobs/b...") into "name size", the first two as names only.
func gnuListing(t *testing.T, out string) []string {
	t.Helper()
	var list []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			t.Fatalf("tar -tvf printed %q", sc.Text())
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("tar -tvf printed %q: %v", sc.Text(), err)
		}
		if len(list) < 2 {
			list = append(list, f[len(f)-1])
			continue
		}
		list = append(list, fmt.Sprintf("%s %d", f[len(f)-1], size))
	}
	return list
}

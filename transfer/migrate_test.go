package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/transfer"
)

// embedded opens a new pair of embedded stores in a temp dir.
func embedded(t *testing.T) transfer.Stores {
	t.Helper()
	dir := t.TempDir()
	meta, err := sqlite.Open(t.Context(), filepath.Join(dir, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	blobs, err := disk.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	return transfer.Stores{Meta: meta, Blobs: blobs}
}

func addOrg(t *testing.T, s transfer.Stores) string {
	t.Helper()
	o := &silo.Org{ID: silo.NewID("org_"), Name: "acme", QuotaBytes: 1 << 30, CreatedAt: time.Now().UTC()}
	if err := s.Meta.CreateOrg(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// addDataset stores a dataset with one part per file as an upload does:
// reservation, pending blob, the bytes, then the dataset in one step.
func addDataset(t *testing.T, s transfer.Stores, orgID, name string, files ...string) *silo.Dataset {
	t.Helper()
	ctx := context.Background() // also called from a blob store's hook
	now := time.Now().UTC()
	r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: orgID, Node: "n1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	d := &silo.Dataset{ID: silo.NewDatasetID(name), OrgID: orgID, Name: name, Type: silo.TypeEmbedInput,
		Status: silo.StatusQueued, CreatedAt: now, UpdatedAt: now}
	must(t, s.Meta.OpenReservation(ctx, r))
	for i, data := range files {
		key := silo.NewBlobKey()
		must(t, s.Meta.AddPendingBlob(ctx, r.ID, orgID, key))
		if _, err := s.Blobs.Put(ctx, key, strings.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(data))
		d.Parts = append(d.Parts, silo.Part{ID: silo.NewID("dp_"), Index: i, Name: "data.jsonl", Kind: silo.PartTrain,
			Format: silo.FormatJSONL, BlobKey: key, SizeBytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
		d.SizeBytes += int64(len(data))
	}
	if _, err := s.Meta.Reserve(ctx, r.ID, d.SizeBytes, d.SizeBytes); err != nil {
		t.Fatal(err)
	}
	must(t, s.Meta.CreateDataset(ctx, d, r.ID))
	return d
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// hookedBlobs calls onOpen before the first Open, and fails every Put
// after the first failAfter (0: none fail), as a kill would stop a run.
type hookedBlobs struct {
	silo.BlobStore
	once      sync.Once
	onOpen    func()
	failAfter int
	puts      int
}

func (h *hookedBlobs) Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if h.onOpen != nil {
		h.once.Do(h.onOpen)
	}
	return h.BlobStore.Open(ctx, key, off, n)
}

func (h *hookedBlobs) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if h.puts++; h.failAfter > 0 && h.puts > h.failAfter {
		return 0, errors.New("killed")
	}
	return h.BlobStore.Put(ctx, key, r)
}

// marker is the target's migration marker ("" if none).
func marker(t *testing.T, s transfer.Stores) string {
	t.Helper()
	var v string
	must(t, s.Meta.Export(t.Context(), func(r *silo.Record) error {
		if r.Setting != nil && r.Setting.Name == "transfer.migration" {
			v = r.Setting.Value
		}
		return nil
	}))
	return v
}

// A source written to while it is copied (a PostgreSQL source still in
// use) is refused at the end: a dataset created after its files were
// listed would come without them. Nothing is imported and the target is
// not marked done. Run again once the source is quiet, the migration
// resumes: it copies what is missing and removes what the source no
// longer refers to.
func TestMigrateRefusesASourceChangedWhileCopying(t *testing.T) {
	src, dst := embedded(t), embedded(t)
	org := addOrg(t, src)
	first := addDataset(t, src, org, "first", "{\"text\":\"a\"}\n", "{\"text\":\"b\"}\n")
	var late *silo.Dataset
	mig := &transfer.Migration{
		From: transfer.Stores{Meta: src.Meta, Blobs: &hookedBlobs{BlobStore: src.Blobs, onOpen: func() {
			late = addDataset(t, src, org, "late", "{\"text\":\"created while migrate copied\"}\n")
		}}},
		To:      dst,
		Workers: 1,
	}
	_, err := mig.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "the source changed while it was copied") {
		t.Fatalf("migrating a source that changed meanwhile: %v", err)
	}
	if !strings.Contains(err.Error(), late.ID) {
		t.Errorf("the refusal does not name the dataset created meanwhile (%s): %v", late.ID, err)
	}
	orgs, err := dst.Meta.Orgs(t.Context())
	must(t, err)
	if len(orgs) != 0 {
		t.Fatalf("a refused migration imported %d organisations", len(orgs))
	}
	if m := marker(t, dst); !strings.HasSuffix(m, " copying") {
		t.Fatalf("target marker %q after a refused migration, want it still copying", m)
	}

	// Quiet now, and without the dataset whose files the first run copied.
	if _, err := src.Meta.DeleteDataset(t.Context(), org, first.ID); err != nil {
		t.Fatal(err)
	}
	res, err := (&transfer.Migration{From: src, To: dst}).Run(t.Context())
	if err != nil {
		t.Fatalf("migrating again once the source is quiet: %v", err)
	}
	if !res.Resumed || res.Datasets != 1 {
		t.Errorf("second run: resumed %v, %d datasets; want it to resume with 1", res.Resumed, res.Datasets)
	}
	var left []string
	must(t, dst.Blobs.List(t.Context(), func(k string, _ int64) error { left = append(left, k); return nil }))
	if len(left) != 1 || left[0] != late.Parts[0].BlobKey {
		t.Errorf("the target holds files %v, want only %s (the deleted dataset's copies removed)", left, late.Parts[0].BlobKey)
	}
	if m := marker(t, dst); !strings.HasSuffix(m, " done") {
		t.Errorf("target marker %q, want done", m)
	}
}

// An interrupted migration resumed checks the files it finds in the
// target by their SHA-256, not their size: a copy with a flipped byte is
// copied again.
func TestMigrateResumeVerifiesFiles(t *testing.T) {
	src, dst := embedded(t), embedded(t)
	org := addOrg(t, src)
	d := addDataset(t, src, org, "ds", strings.Repeat("{\"text\":\"first file\"}\n", 100), "{\"text\":\"second file\"}\n")
	killed := &transfer.Migration{From: src, To: transfer.Stores{Meta: dst.Meta, Blobs: &hookedBlobs{BlobStore: dst.Blobs, failAfter: 1}}, Workers: 1}
	if _, err := killed.Run(t.Context()); err == nil {
		t.Fatal("the interrupted run did not fail")
	}
	var keys []string
	must(t, dst.Blobs.List(t.Context(), func(k string, _ int64) error { keys = append(keys, k); return nil }))
	if len(keys) != 1 {
		t.Fatalf("the interrupted run left %d files, want 1", len(keys))
	}
	// The copy goes bad with its size unchanged.
	want := blobBytes(t, src.Blobs, keys[0])
	bad := bytes.Clone(want)
	bad[len(bad)/2] ^= 1
	if _, err := dst.Blobs.Put(t.Context(), keys[0], bytes.NewReader(bad)); err != nil {
		t.Fatal(err)
	}

	res, err := (&transfer.Migration{From: src, To: dst, Workers: 1}).Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !res.Resumed || res.BlobsPresent != 0 || res.BlobsCopied != 2 {
		t.Errorf("resumed %v, %d files kept, %d copied; want the bad copy copied again (0 kept, 2 copied)", res.Resumed, res.BlobsPresent, res.BlobsCopied)
	}
	for _, p := range d.Parts {
		if got := blobBytes(t, dst.Blobs, p.BlobKey); !bytes.Equal(got, blobBytes(t, src.Blobs, p.BlobKey)) {
			t.Errorf("target file %s differs from the source's after the resumed migration", p.BlobKey)
		}
	}
	if m := marker(t, dst); !strings.HasSuffix(m, " done") {
		t.Errorf("target marker %q, want done", m)
	}
}

// A source with no organisation (an empty store: a mistyped path, a new
// database) is refused before the target is marked with it.
func TestMigrateRefusesAnEmptySource(t *testing.T) {
	src, dst := embedded(t), embedded(t)
	_, err := (&transfer.Migration{From: src, To: dst}).Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "holds no organisations") {
		t.Fatalf("migrating an empty source: %v", err)
	}
	if m := marker(t, dst); m != "" {
		t.Fatalf("a refused migration marked the target %q", m)
	}
}

func blobBytes(t *testing.T, s silo.BlobStore, key string) []byte {
	t.Helper()
	r, err := s.Open(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

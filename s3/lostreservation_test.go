package s3_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/s3"
	"github.com/silo-datasets/silo/sqlite"
)

// heldPut holds back every Put once it has read the whole body (the file's
// end reached the blob store, its last request not yet landed): it says so
// on reached and stores only when release is closed, whatever its context
// says meanwhile, as an object store commits a body it has whole. With
// off, it is the store itself.
// LandingDelay is the S3 store's: the wrapper holds its PUTs back, it does
// not change how late they may land.
func (h *heldPut) LandingDelay() time.Duration { return h.BlobStore.(silo.LateLander).LandingDelay() }

type heldPut struct {
	silo.BlobStore
	off     bool
	reached chan string
	release chan struct{}
}

func (b *heldPut) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if b.off {
		return b.BlobStore.Put(ctx, key, r)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	b.reached <- key
	<-b.release
	return b.BlobStore.Put(context.WithoutCancel(ctx), key, bytes.NewReader(body))
}

// TestLostReservationLeavesNoOrphan: an upload to S3 loses its reservation
// (its org is purged, or its lease lapsed and a sweep released it) after
// its file's end reached the blob store and before the last PUT landed; a
// sweep runs in between. Whatever lands stays in the ledger (fsck sees
// it), and a later sweep deletes it. Or it loses it while the file still
// streams in (midway: the whole file reserved up front, so no reservation
// step notices): the PUT must not land at all. Each failed before: the
// sweep deleted the key (nothing there yet) and forgot it, the PUT then
// landed, and the bucket kept an object that no ledger row names.
func TestLostReservationLeavesNoOrphan(t *testing.T) {
	for _, lose := range []string{"purge", "lease", "purge midway"} {
		t.Run(lose, func(t *testing.T) { testLostReservation(t, lose) })
	}
}

func testLostReservation(t *testing.T, lose string) {
	ctx := context.Background()
	srv := testenv.S3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.Secret)
	bucket, err := s3.Open(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var (
		mu    sync.Mutex
		clock = time.Now()
	)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	held := &heldPut{BlobStore: bucket, reached: make(chan string), release: make(chan struct{})}
	held.off = lose == "purge midway"
	svc := &silo.Service{Store: store, Blobs: held, Node: "n1", Now: now, LeaseTTL: time.Minute,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	org := &silo.Org{ID: silo.NewID("org_"), Name: "acme", QuotaBytes: 1 << 30, CreatedAt: now()}
	if err := store.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	writer := &silo.Caller{Key: &silo.Key{ID: "key_w", OrgID: org.ID, Role: silo.RoleWriter}}
	admin := &silo.Caller{Key: &silo.Key{ID: "key_a", OrgID: "org_other", Role: silo.RoleAdmin}}

	file := strings.Repeat("{\"text\":\"a\"}\n", 1000)
	u, err := svc.BeginUpload(ctx, writer, silo.UploadRequest{Name: "d", Type: silo.TypeEmbedInput,
		ContentLength: int64(len(file)) + silo.MultipartSlack})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	added := make(chan error, 1)
	go func() { added <- u.AddFile(ctx, silo.PartTrain, "d.jsonl", pr) }()
	if _, err := pw.Write([]byte(file[:len(file)/2])); err != nil {
		t.Fatal(err)
	}
	var key string
	if held.off {
		key = waitPending(t, store) // its bytes stream into the Put
	} else {
		go func() { pw.Write([]byte(file[len(file)/2:])); pw.Close() }()
		key = <-held.reached
	}
	switch lose {
	case "purge", "purge midway":
		if err := svc.DeleteOrg(ctx, admin, org.ID, true); err != nil {
			t.Fatal(err)
		}
	case "lease":
		advance(2 * time.Minute) // nothing renewed it: the sweep releases it
	}
	if err := svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	close(held.release)
	if held.off {
		go func() { pw.Write([]byte(file[len(file)/2:])); pw.Close() }()
	}
	if err := <-added; err == nil {
		if _, err := u.Commit(ctx); err == nil {
			t.Fatal("an upload whose reservation was released committed")
		}
	}

	// The PUT has landed (or, midway, was stopped): whatever it left, the
	// ledger names.
	ledger := map[string]silo.BlobState{}
	if err := store.Blobs(ctx, func(k string, s silo.BlobState) error { ledger[k] = s; return nil }); err != nil {
		t.Fatal(err)
	}
	stored := listed(t, bucket)
	for _, k := range stored {
		if _, ok := ledger[k]; !ok {
			t.Fatalf("object %s (the upload's blob %s) is in the bucket with no ledger row: an orphan only a listing finds", k, key)
		}
	}
	if lose == "lease" {
		// The writer's node is gone for good (no Abort): a later sweep,
		// once no PUT can land any more, deletes what it left.
		advance(time.Hour)
		if err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	} else {
		u.Abort() // the writer, whose writes all returned, deletes it at once
	}
	if s := listed(t, bucket); len(s) != 0 {
		t.Fatalf("left in the bucket after the sweep: %v", s)
	}
	n := 0
	if err := store.Blobs(ctx, func(string, silo.BlobState) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d ledger rows left", n)
	}
}

// waitPending waits until the ledger holds a pending blob and returns its key.
func waitPending(t *testing.T, store silo.Store) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var key string
		err := store.Blobs(context.Background(), func(k string, s silo.BlobState) error {
			if s == silo.BlobPending {
				key = k
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			return key
		}
	}
	t.Fatal("no pending blob in the ledger after 10 s")
	return ""
}

func listed(t *testing.T, b silo.BlobStore) []string {
	t.Helper()
	var keys []string
	if err := b.List(context.Background(), func(k string, _ int64) error { keys = append(keys, k); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

package postgres_test

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/internal/testenv"
)

// Two nodes on one PostgreSQL whose clocks disagree by twice the lease TTL
// (injected: faketime does not reach Go's clock). The node whose clock
// runs ahead sweeps, claims and retries a key by its clock while the slow
// node has an upload in flight, a validation running and a create's key
// held: it takes none of them, because leases run on the database's clock.
// The slow node then finishes all three.
func TestSkewedNodesTakeNothingLive(t *testing.T) {
	const ttl = 30 * time.Second
	raw := testenv.Postgres(t)
	ctx := t.Context()
	blobs, err := disk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	var fastValidated atomic.Int32
	slow := &silo.Service{Store: open(t, raw), Blobs: blobs, Node: "slow", LeaseTTL: ttl,
		Validator: validatorFunc(func() { close(started); <-release })}
	fast := &silo.Service{Store: open(t, raw), Blobs: blobs, Node: "fast", LeaseTTL: ttl,
		Validator: validatorFunc(func() { fastValidated.Add(1) }),
		Now:       func() time.Time { return time.Now().Add(2 * ttl) }}
	defer slow.Store.Close()
	defer fast.Store.Close()
	c := writer(t, slow)

	// The slow node's validation: it holds the job until released.
	if _, err := create(ctx, slow, c, "queued", strings.NewReader(rows)); err != nil {
		t.Fatal(err)
	}
	validated := make(chan error, 1)
	go func() { validated <- slow.RunJob(ctx) }()
	<-started
	// Its upload in flight, part sent.
	pr, pw := io.Pipe()
	uploaded := make(chan error, 1)
	go func() { _, err := create(ctx, slow, c, "inflight", pr); uploaded <- err }()
	if _, err := pw.Write([]byte(strings.Repeat(rows, 5000))); err != nil { // past the first reservation step
		t.Fatal(err)
	}
	waitReserved(t, slow, c)
	// Its create's key.
	if _, err := slow.ClaimIdempotency(ctx, c, "k", "fp"); err != nil {
		t.Fatal(err)
	}

	if err := fast.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fast.RunJob(ctx); err == nil || fastValidated.Load() != 0 {
		t.Fatalf("the fast node ran a job (%v): it took the slow node's live validation", err)
	}
	if _, err := fast.ClaimIdempotency(ctx, c, "k", "fp"); silo.ErrorCode(err) != silo.ECONFLICT {
		t.Fatalf("the fast node's claim of the slow node's running key: %v, want a conflict (still running)", err)
	}
	if o, _, err := slow.Usage(ctx, c); err != nil || o.ReservedBytes == 0 {
		t.Fatalf("the slow node's upload lost its reservation to the fast node's sweep: %+v, %v", o, err)
	}

	close(release)
	if err := <-validated; err != nil {
		t.Fatalf("the slow node's validation: %v", err)
	}
	pw.Close()
	if err := <-uploaded; err != nil {
		t.Fatalf("the slow node's upload: %v", err)
	}
	if o, _, err := slow.Usage(ctx, c); err != nil || o.ReservedBytes != 0 {
		t.Fatalf("after both nodes: %+v, %v", o, err)
	}
}

const rows = "{\"text\":\"a\"}\n{\"text\":\"b\"}\n"

// validatorFunc accepts every file after calling fn.
type validatorFunc func()

func (f validatorFunc) Validate(_ context.Context, _ *silo.Dataset, files []silo.ValidationFile) (*silo.Validation, error) {
	f()
	v := &silo.Validation{OK: true}
	for _, fl := range files {
		if _, err := io.Copy(fl.Avro, fl.Data); err != nil {
			return nil, err
		}
		v.Parts = append(v.Parts, silo.PartStats{NumRows: 2})
	}
	return v, nil
}

func writer(t *testing.T, s *silo.Service) *silo.Caller {
	t.Helper()
	o := &silo.Org{ID: silo.NewID("org_"), Name: "skew", QuotaBytes: 1 << 20, CreatedAt: time.Now()}
	if err := s.Store.CreateOrg(t.Context(), o); err != nil {
		t.Fatal(err)
	}
	k := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleWriter, Hash: silo.HashSecret(silo.NewSecret()), CreatedAt: time.Now()}
	if err := s.Store.CreateKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return &silo.Caller{Key: k}
}

func create(ctx context.Context, s *silo.Service, c *silo.Caller, name string, r io.Reader) (*silo.Dataset, error) {
	u, err := s.BeginUpload(ctx, c, silo.UploadRequest{Name: name, Type: silo.TypeEmbedInput, ContentLength: -1})
	if err != nil {
		return nil, err
	}
	defer u.Abort()
	if err := u.AddFile(ctx, silo.PartTrain, name+".jsonl", r); err != nil {
		return nil, err
	}
	return u.Commit(ctx)
}

// waitReserved waits until the org holds reserved bytes: the upload's
// first bytes have arrived.
func waitReserved(t *testing.T, s *silo.Service, c *silo.Caller) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o, _, err := s.Usage(t.Context(), c)
		if err == nil && o.ReservedBytes > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing reserved after 10s: %+v, %v", o, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package silo_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/fsck"
	"github.com/silo-datasets/silo/internal/faultstore"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/validate"
)

// faultEnv is a service on real SQLite and disk stores, wrapped in fault
// injection, with the books of what clients were told.
type faultEnv struct {
	F     *faultstore.Faults
	st    *sqlite.Store
	bl    *disk.Store
	svc   *silo.Service
	c     *silo.Caller
	orgID string

	mu              sync.Mutex
	acked           map[string]bool // creates answered 2xx, not deleted since
	deleted         map[string]bool // deletes answered 2xx
	unknownCreates  int             // creates answered 504
	unknownDeletes  map[string]bool // deletes answered 504
	failedAnswers   []string        // other non-2xx answers, for the log
	unexpectedCodes []string        // EINTERNAL (500) answers
}

// The lease and deadlines are short so that lapses settle fast, but long
// enough that a loaded CI machine (the race detector, other packages'
// tests) never lapses a live upload or times out a healthy call.
// Under -short (the race detector's run, the slowest) they are longer
// still.
func faultLease() time.Duration {
	if testing.Short() {
		return 12 * time.Second
	}
	return 6 * time.Second
}

func faultDeadline() time.Duration {
	if testing.Short() {
		return 5 * time.Second
	}
	return 3 * time.Second
}

func startFaulty(t *testing.T, wrapBlobs ...func(silo.BlobStore) silo.BlobStore) *faultEnv {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	bl, err := disk.Open(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	f := &faultstore.Faults{}
	fb := faultstore.WrapBlobs(bl, f)
	// Writes "land late" by a lease: the create's hold of its blobs
	// (HoldPendingBlobs) is part of what these faults hit, and a dead
	// upload's holds run out within the settling time.
	fb.Landing = faultLease()
	var blobs silo.BlobStore = fb
	for _, w := range wrapBlobs {
		blobs = w(blobs)
	}
	svc := &silo.Service{
		Store: silo.WithDeadlines(faultstore.Wrap(st, f), faultDeadline()), Blobs: blobs,
		Validator: validate.New(validate.Options{}), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Node: silo.NewID("node_"), LeaseTTL: faultLease(), SettleTimeout: 2 * faultDeadline(), Workers: 2,
	}
	e := &faultEnv{F: f, st: st, bl: bl, svc: svc, acked: map[string]bool{}, deleted: map[string]bool{}, unknownDeletes: map[string]bool{}}
	if _, err := svc.Bootstrap(ctx, "silo_faults_admin"); err != nil {
		t.Fatal(err)
	}
	k, err := svc.Authenticate(ctx, "silo_faults_admin")
	if err != nil {
		t.Fatal(err)
	}
	admin := &silo.Caller{Key: k}
	quota := int64(1 << 30)
	org, err := svc.CreateOrg(ctx, admin, "acme", &quota)
	if err != nil {
		t.Fatal(err)
	}
	w, err := svc.CreateKey(ctx, admin, org.ID, "", silo.RoleWriter, "w")
	if err != nil {
		t.Fatal(err)
	}
	if k, err = svc.Authenticate(ctx, w.Secret); err != nil {
		t.Fatal(err)
	}
	e.c, e.orgID = &silo.Caller{Key: k}, org.ID
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(rctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return e
}

var faultRows = strings.Repeat(`{"text":"a row of text"}`+"\n", 20)

// create uploads a valid file and books the answer.
func (e *faultEnv) create(ctx context.Context, withEval bool) (string, error) {
	u, err := e.svc.BeginUpload(ctx, e.c, silo.UploadRequest{Name: "d", Type: silo.TypeEmbedInput, ContentLength: -1,
		Params: silo.CreateParams{KeepOriginalFile: true}})
	if err == nil {
		defer u.Abort()
		if withEval {
			err = u.AddFile(ctx, silo.PartEval, "e.jsonl", strings.NewReader(faultRows))
		}
	}
	if err == nil {
		err = u.AddFile(ctx, silo.PartTrain, "d.jsonl", strings.NewReader(faultRows))
	}
	var d *silo.Dataset
	if err == nil {
		d, err = u.Commit(ctx)
	}
	e.book("create", err)
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case err == nil:
		e.acked[d.ID] = true
		return d.ID, nil
	case silo.ErrorCode(err) == silo.ETIMEOUT:
		e.unknownCreates++
	}
	return "", err
}

// mustCreate is create for a test's own setup, which no fault targets: it
// retries what a loaded machine may answer (503, 504; both booked).
func (e *faultEnv) mustCreate(t *testing.T, withEval bool) string {
	t.Helper()
	for try := 1; ; try++ {
		id, err := e.create(t.Context(), withEval)
		if err == nil {
			return id
		}
		if !silo.IsTransient(err) || try == 5 {
			t.Fatal(err)
		}
	}
}

// createNoData is an upload that fails at Commit (no data part): its
// reservation and blob are released by Abort.
func (e *faultEnv) createNoData(ctx context.Context) error {
	u, err := e.svc.BeginUpload(ctx, e.c, silo.UploadRequest{Name: "d", Type: silo.TypeEmbedInput, ContentLength: -1})
	if err != nil {
		return err
	}
	defer u.Abort()
	if err := u.AddFile(ctx, silo.PartEval, "e.jsonl", strings.NewReader(faultRows)); err != nil {
		return err
	}
	_, err = u.Commit(ctx)
	return err
}

func (e *faultEnv) delete(ctx context.Context, id string) error {
	err := e.svc.DeleteDataset(ctx, e.c, id)
	e.book("delete", err)
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case err == nil:
		delete(e.acked, id)
		e.deleted[id] = true
	case silo.ErrorCode(err) == silo.ETIMEOUT:
		e.unknownDeletes[id] = true
	}
	return err
}

func (e *faultEnv) book(op string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case err == nil:
	case silo.ErrorCode(err) == silo.EINTERNAL:
		e.unexpectedCodes = append(e.unexpectedCodes, fmt.Sprintf("%s: %v", op, err))
	default:
		e.failedAnswers = append(e.failedAnswers, fmt.Sprintf("%s: %s", op, silo.ErrorCode(err)))
	}
}

// settled clears the faults and waits, within the lease and backoffs,
// until the stores are consistent: nothing reserved, no job pending, fsck
// clean (no live blob missing, usage equal to the sum, no leftovers),
// every acknowledged dataset there and validated, every deleted one gone,
// and no create answered other than 2xx or 504 stored anything.
func (e *faultEnv) settled(t *testing.T) {
	t.Helper()
	e.F.Clear()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p := e.problem(t, ctx)
		if p == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not settled 60 s after the fault: %s", p)
		}
		e.svc.Sweep(ctx) // as the background sweep does, sooner
		time.Sleep(50 * time.Millisecond)
	}
	if len(e.unexpectedCodes) > 0 {
		t.Fatalf("answers that blamed no cause (500): %v", e.unexpectedCodes)
	}
}

func (e *faultEnv) problem(t *testing.T, ctx context.Context) string {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	org, err := e.st.Org(ctx, e.orgID)
	if err != nil {
		t.Fatal(err)
	}
	if org.ReservedBytes != 0 {
		return fmt.Sprintf("%d bytes reserved", org.ReservedBytes)
	}
	stored := map[string]*silo.Dataset{}
	err = e.st.Datasets(ctx, silo.DatasetFilter{OrgID: e.orgID}, func(d *silo.Dataset) error { stored[d.ID] = d; return nil })
	if err != nil {
		t.Fatal(err)
	}
	for id := range e.acked {
		d := stored[id]
		switch {
		case d == nil:
			t.Fatalf("acknowledged dataset %s lost", id)
		case d.Status == silo.StatusFailed:
			t.Fatalf("dataset %s failed although its file is fine: %s", id, d.Report.Error)
		case d.Status != silo.StatusValidated:
			return fmt.Sprintf("dataset %s still %s", id, d.Status)
		}
	}
	extra := 0
	for id := range stored {
		if e.deleted[id] {
			t.Fatalf("dataset %s is back after its delete was acknowledged", id)
		}
		if !e.acked[id] && !e.unknownDeletes[id] {
			extra++
		}
	}
	if extra > e.unknownCreates {
		t.Fatalf("%d datasets stored that no create acknowledged, and only %d creates answered 504", extra, e.unknownCreates)
	}
	if n, err := e.st.PendingJobs(ctx); err != nil {
		t.Fatal(err)
	} else if n != 0 {
		return fmt.Sprintf("%d validation jobs pending", n)
	}
	rep, err := (&fsck.Checker{Store: e.st, Blobs: e.bl}).Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(fsck.KindMissing) > 0 || rep.Count(fsck.KindUsage) > 0 || rep.Count(fsck.KindCorrupt) > 0 {
		t.Fatalf("fsck: %v", rep.Findings)
	}
	if !rep.OK() {
		return fmt.Sprintf("fsck: %v", rep.Findings)
	}
	return ""
}

// waitHits waits until a fault on method was hit n times.
func (e *faultEnv) waitHits(t *testing.T, method string, n int) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for e.F.Hits(method) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the fault on %s was hit %d times in 45 s, want %d", method, e.F.Hits(method), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type fault struct {
	method string
	mode   faultstore.Mode
	times  int // < 0: until the fault is cleared
	skip   int // calls let through first
}

func (f fault) String() string {
	n := "always"
	if f.times >= 0 {
		n = fmt.Sprint(f.times)
	}
	return fmt.Sprintf("%s-%s-%s", f.method, f.mode, n)
}

// want is the set of error codes an operation may answer under a fault.
func want(codes ...string) map[string]bool {
	m := map[string]bool{}
	for _, c := range codes {
		m[c] = true
	}
	return m
}

func caseName(fs []fault) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return strings.Join(s, "+")
}

// runCases runs one subtest per case, many at once: each mostly waits for
// leases to lapse, so they need wall time, not CPU, and t.Parallel would
// run only GOMAXPROCS of them at a time.
//
// Under -short (the race detector's run) every third case runs, fewer at a
// time; the full set runs without -short.
func runCases(t *testing.T, cases [][]fault, fn func(t *testing.T, fc []fault)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	if testing.Short() {
		var some [][]fault
		for i, fc := range cases {
			if i%3 == 0 {
				some = append(some, fc)
			}
		}
		t.Logf("-short: %d of the %d fault cases run; the full set runs without -short", len(some), len(cases))
		cases, sem = some, make(chan struct{}, 6)
	}
	for _, fc := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(caseName(fc), func(t *testing.T) { fn(t, fc) })
		}()
	}
	wg.Wait()
}

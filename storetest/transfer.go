package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// TestTransfer runs the TransferStore conformance suite: a store populated
// through its ordinary methods (every kind of row, and what an export must
// leave out) is exported and imported into a fresh store of via, and that
// one into a fresh store of back (from = back = via for one backend;
// SQLite -> PostgreSQL -> SQLite across them). Every hop keeps every
// record, and the copies behave as the original.
func TestTransfer(t *testing.T, from, via, back OpenStore) {
	src := from(t)
	t.Cleanup(func() { src.Close() })
	want := Populate(t, src)
	mid := via(t)
	t.Cleanup(func() { mid.Close() })
	copyStore(t, src, mid)
	dst := back(t)
	t.Cleanup(func() { dst.Close() })
	copyStore(t, mid, dst)

	srcRecs, skipped := exportAll(t, src)
	if n := countThresholds(srcRecs); n != 2 {
		t.Errorf("source export holds %d crossed thresholds, want 2 (an org's and a project's)", n)
	}
	if skipped.Reservations != 1 || skipped.PendingBlobs != 1 || skipped.GarbageBlobs != 1 {
		t.Errorf("source export skipped %+v, want 1 reservation, 1 pending and 1 garbage blob", skipped)
	}
	for _, s := range []silo.Store{mid, dst} {
		got, skipped := exportAll(t, s)
		if skipped != (silo.Skipped{}) {
			t.Errorf("copy holds what was skipped: %+v", skipped)
		}
		if !reflect.DeepEqual(got, srcRecs) {
			a, _ := json.MarshalIndent(got, "", " ")
			b, _ := json.MarshalIndent(srcRecs, "", " ")
			t.Fatalf("copy exports other records:\n got %s\nwant %s", a, b)
		}
		checkCopy(t, s, want)
	}

	// An import that fails leaves nothing behind.
	empty := back(t)
	t.Cleanup(func() { empty.Close() })
	boom := errors.New("boom")
	err := empty.Import(ctx(t), func(put func(*silo.Record) error) error {
		must(t, put(&silo.Record{Org: want.org}))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("failed import: %v, want boom", err)
	}
	if recs, _ := exportAll(t, empty); len(recs) != 0 {
		t.Fatalf("a failed import left %d records", len(recs))
	}
}

func countThresholds(recs []*silo.Record) int {
	n := 0
	for _, r := range recs {
		if r.Threshold != nil && r.Threshold.Percent == 80 {
			n++
		}
	}
	return n
}

// Populated is what Populate made, for checks on copies.
type Populated struct {
	org       *silo.Org
	secret    string // of a live key
	revoked   string // secret of a revoked key
	validated *silo.Dataset
	queued    *silo.Dataset
	project   *silo.Project
	inProject *silo.Dataset // a dataset of project
	near      *silo.Dataset // 85 % of its org's and its project's quotas
	hook      *silo.Webhook
	pending   []string // events of the hook's pending deliveries, in order
}

// Populate fills s with every kind of row: orgs with usage, live and
// revoked keys, usage samples, a validated dataset whose original was
// dropped, a failed one, a queued one, a deleted one (a garbage blob), an
// upload in flight (a reservation and a pending blob), an idempotent
// create's answer, a setting, webhook endpoints (one deleted) and their
// deliveries, delivered and pending.
func Populate(t *testing.T, s silo.Store) *Populated {
	t.Helper()
	p := &Populated{org: newOrg(t, s, 1_000_000)}
	other := newOrg(t, s, 5000)
	p.hook = newWebhook(t, s, p.org.ID, silo.EventDatasetCreated, silo.EventDatasetDeleted)
	must(t, s.DeleteWebhook(ctx(t), newWebhook(t, s, "").ID))
	p.secret, p.revoked = silo.NewSecret(), silo.NewSecret()
	for _, k := range []*silo.Key{
		{ID: silo.NewID("key_"), OrgID: p.org.ID, Role: silo.RoleWriter, Name: "w", Hash: silo.HashSecret(p.secret), CreatedAt: t0},
		{ID: silo.NewID("key_"), OrgID: other.ID, Role: silo.RoleReader, Name: "r", Hash: silo.HashSecret(p.revoked), CreatedAt: t0},
	} {
		must(t, s.CreateKey(ctx(t), k))
	}
	revokedKey, err := s.KeyByHash(ctx(t), silo.HashSecret(p.revoked))
	must(t, err)
	_, err = s.RevokeKey(ctx(t), revokedKey.ID, t0.Add(time.Minute))
	must(t, err)
	_, err = s.Setting(ctx(t), "url_signing_key", "secret-of-the-source")
	must(t, err)

	p.validated = createDataset(t, s, p.org.ID, "d-validated", 300, t0.Add(time.Second))
	failed := createDataset(t, s, p.org.ID, "d-failed", 200, t0.Add(2*time.Second))
	for _, d := range []*silo.Dataset{p.validated, failed} {
		job, err := s.ClaimJob(ctx(t), "n1", t0.Add(time.Hour), t0.Add(2*time.Hour))
		must(t, err)
		if job == nil || job.DatasetID != d.ID {
			t.Fatalf("claimed %+v, want the job of %s", job, d.ID)
		}
		if d == p.validated {
			avro := silo.NewBlobKey()
			must(t, s.AddJobBlob(ctx(t), job, avro))
			d.Status = silo.StatusValidated
			d.Parts[0].NumRows, d.Parts[0].Samples = 3, []string{`{"a":1}`}
			d.Parts[0].AvroKey, d.Parts[0].AvroSize, d.Parts[0].AvroSHA256 = avro, 120, "cd"
			d.Parts[0].OriginalDropped = true
			d.Report = silo.Report{Schema: "s", Metrics: json.RawMessage(`{"n":1}`)}
		} else {
			d.Status = silo.StatusFailed
			d.Report = silo.Report{Error: "bad row 2"}
		}
		d.UpdatedAt = t0.Add(time.Hour)
		must(t, s.FinishJob(ctx(t), job, d))
	}
	must(t, s.ForgetBlobs(ctx(t), []string{p.validated.Parts[0].BlobKey})) // the dropped original, deleted
	p.queued = createByKey(t, s, other.ID, "d-queued", revokedKey.ID, 400, t0.Add(3*time.Second))
	// A project with a quota, a key and a dataset: all carried over.
	p.project = newProject(t, s, p.org.ID, quota(5000))
	must(t, s.CreateKey(ctx(t), &silo.Key{ID: silo.NewID("key_"), OrgID: p.org.ID, ProjectID: p.project.ID, Role: silo.RoleReader,
		Name: "team", Hash: silo.HashSecret(p.projectSecret()), CreatedAt: t0}))
	p.inProject = createIn(t, s, p.org.ID, p.project.ID, "d-project", 70, t0.Add(5*time.Second))
	// An org and its project above 80 % of their quotas: their crossed
	// thresholds are carried, so a copy does not announce them again.
	near := newOrg(t, s, 100)
	p.near = createIn(t, s, near.ID, newProject(t, s, near.ID, quota(100)).ID, "d-near", 85, t0.Add(6*time.Second))
	gone := createDataset(t, s, p.org.ID, "d-deleted", 50, t0.Add(4*time.Second))
	_, err = s.DeleteDataset(ctx(t), p.org.ID, gone.ID)
	must(t, err)
	// The first delivery is made; the others are pending.
	now := time.Now()
	cs, err := s.ClaimDeliveries(ctx(t), "n1", now, now.Add(time.Minute), 1, nil)
	must(t, err)
	must(t, finishDelivery(t, s, cs[0], silo.Outcome{Status: silo.DeliveryDelivered, At: now}))
	ds, err := s.Deliveries(ctx(t), p.hook.ID, 100)
	must(t, err)
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].Status == silo.DeliveryPending {
			p.pending = append(p.pending, ds[i].EventID)
		}
	}
	if len(p.pending) != 4 { // the creates of d-queued, d-project and d-deleted, and its delete
		t.Fatalf("pending deliveries %v, want 4", p.pending)
	}

	if is, ok := s.(silo.IdempotencyStore); ok {
		rec := idemRec(p.org.ID, "idem-1", "fp", t0)
		claim(t, is, rec, t0)
		must(t, is.FinishIdempotency(ctx(t), p.org.ID, "idem-1", rec.Claim, 400, []byte(`{"message":"no"}`)))
	}
	// An upload in flight: never acknowledged, so never copied.
	r := openRes(t, s, p.org.ID, "n1", t0.Add(time.Hour))
	must(t, s.AddPendingBlob(ctx(t), r.ID, p.org.ID, silo.NewBlobKey()))
	_, err = s.Reserve(ctx(t), r.ID, 10, 10)
	must(t, err)
	p.org, err = s.Org(ctx(t), p.org.ID)
	must(t, err)
	p.project, err = s.Project(ctx(t), p.project.ID)
	must(t, err)
	return p
}

// projectSecret is the secret of the project's key: derived from the
// writer's, so that Populated needs no more fields than it shows.
func (p *Populated) projectSecret() string { return p.secret + "-team" }

func copyStore(t *testing.T, from, to silo.Store) {
	t.Helper()
	must(t, to.Import(ctx(t), func(put func(*silo.Record) error) error { return from.Export(ctx(t), put) }))
}

func exportAll(t *testing.T, s silo.Store) ([]*silo.Record, silo.Skipped) {
	t.Helper()
	var recs []*silo.Record
	var skipped silo.Skipped
	must(t, s.Export(ctx(t), func(r *silo.Record) error {
		if r.Skipped != nil {
			skipped.Add(r.Skipped)
			return nil
		}
		recs = append(recs, r)
		return nil
	}))
	return recs, skipped
}

// checkCopy checks that a copy behaves as its source did where it matters
// to clients: counters, keys, datasets, usage history, the ledger and the
// validation queue.
func checkCopy(t *testing.T, s silo.Store, p *Populated) {
	t.Helper()
	o, err := s.Org(ctx(t), p.org.ID)
	must(t, err)
	if o.UsedBytes != p.org.UsedBytes || o.ReservedBytes != 0 || o.QuotaBytes != p.org.QuotaBytes {
		t.Errorf("copied org %+v, source %+v (reserved bytes are not copied)", o, p.org)
	}
	k, err := s.KeyByHash(ctx(t), silo.HashSecret(p.secret))
	must(t, err)
	if k.Revoked() || k.Role != silo.RoleWriter {
		t.Errorf("copied key %+v", k)
	}
	k, err = s.KeyByHash(ctx(t), silo.HashSecret(p.revoked))
	must(t, err)
	if !k.Revoked() {
		t.Errorf("revoked key came back live")
	}
	d, err := s.Dataset(ctx(t), p.org.ID, p.validated.ID)
	must(t, err)
	if !reflect.DeepEqual(d, p.validated) {
		t.Errorf("copied dataset\n got %+v\nwant %+v", d, p.validated)
	}
	q, err := s.Dataset(ctx(t), p.queued.OrgID, p.queued.ID)
	must(t, err)
	if !reflect.DeepEqual(q, p.queued) {
		t.Errorf("copied dataset\n got %+v\nwant %+v", q, p.queued)
	}
	pr, err := s.Project(ctx(t), p.project.ID)
	must(t, err)
	if want := *p.project; pr.UsedBytes != want.UsedBytes || pr.ReservedBytes != 0 || *pr.QuotaBytes != *want.QuotaBytes || pr.Name != want.Name {
		t.Errorf("copied project %+v, source %+v", pr, want)
	}
	pk, err := s.KeyByHash(ctx(t), silo.HashSecret(p.projectSecret()))
	must(t, err)
	if pk.ProjectID != p.project.ID {
		t.Errorf("copied project key %+v", pk)
	}
	pd, err := s.Dataset(ctx(t), p.org.ID, p.inProject.ID)
	must(t, err)
	if !reflect.DeepEqual(pd, p.inProject) {
		t.Errorf("copied dataset\n got %+v\nwant %+v", pd, p.inProject)
	}
	if ph, err := s.ProjectUsageHistory(ctx(t), p.project.ID, time.Time{}, 10); err != nil || len(ph) != 1 || ph[0].UsedBytes != 70 {
		t.Errorf("copied project history %+v (%v)", ph, err)
	}
	hist, err := s.UsageHistory(ctx(t), p.org.ID, time.Time{}, 100)
	must(t, err)
	if len(hist) != 5 || hist[len(hist)-1].UsedBytes != p.org.UsedBytes {
		t.Errorf("copied usage history %+v", hist)
	}
	v, err := s.Setting(ctx(t), "url_signing_key", "other")
	must(t, err)
	if v != "secret-of-the-source" {
		t.Errorf("signing key %q", v)
	}
	want := map[string]silo.BlobState{p.validated.Parts[0].AvroKey: silo.BlobLive, p.queued.Parts[0].BlobKey: silo.BlobLive}
	want[p.inProject.Parts[0].BlobKey] = silo.BlobLive
	want[p.near.Parts[0].BlobKey] = silo.BlobLive
	for _, d := range []string{"d-failed"} {
		f, err := s.Dataset(ctx(t), p.org.ID, d)
		must(t, err)
		want[f.Parts[0].BlobKey] = silo.BlobLive
	}
	if got := ledger(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("copied ledger %v, want %v", got, want)
	}
	// The endpoint, with its secret, and its pending deliveries, in order.
	h, err := s.Webhook(ctx(t), p.hook.ID)
	must(t, err)
	if !reflect.DeepEqual(h, p.hook) {
		t.Errorf("copied webhook %+v, want %+v", h, p.hook)
	}
	var events []string
	for _, c := range claimAll(t, s, false) {
		events = append(events, c.EventID)
	}
	if !reflect.DeepEqual(events, p.pending) {
		t.Errorf("copied pending deliveries %v, want %v", events, p.pending)
	}
	// The queued dataset's job comes back queued: a node claims it.
	job, err := s.ClaimJob(ctx(t), "n2", time.Now(), time.Now().Add(time.Minute))
	must(t, err)
	if job == nil || job.DatasetID != p.queued.ID {
		t.Fatalf("claimed %+v after the copy, want the job of %s", job, p.queued.ID)
	}
}

// createByKey stores a queued dataset created by the given API key.
func createByKey(t *testing.T, s silo.Store, orgID, id, keyID string, size int64, at time.Time) *silo.Dataset {
	t.Helper()
	r := openRes(t, s, orgID, "n1", at.Add(time.Hour))
	blob := silo.NewBlobKey()
	must(t, s.AddPendingBlob(ctx(t), r.ID, orgID, blob))
	_, err := s.Reserve(ctx(t), r.ID, size, size)
	must(t, err)
	d := &silo.Dataset{
		ID: id, OrgID: orgID, Name: id, Type: silo.TypeChatFinetune, Status: silo.StatusQueued, KeyID: keyID,
		CreatedAt: at, UpdatedAt: at, ClientName: "sdk", SizeBytes: size, ExpiresAt: &at,
		Params: silo.CreateParams{CSVDelimiter: ";"},
		Parts:  []silo.Part{{ID: "dp_1", Name: "d.csv", Kind: silo.PartTrain, Format: silo.FormatCSV, BlobKey: blob, SizeBytes: size, SHA256: "ef"}},
	}
	must(t, s.CreateDataset(ctx(t), d, r.ID))
	return d
}

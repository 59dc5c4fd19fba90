package storetest

import (
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// testDeleteOrg checks DeleteOrg: it refuses an org that holds datasets or
// uploads unless told to take them; with them, everything of the org goes in
// one step (datasets, jobs, reservations, history), its blobs become
// garbage, its keys stay revoked, and another org is untouched.
func testDeleteOrg(t *testing.T, s silo.Store) {
	at := t0.Add(time.Hour)
	_, err := s.DeleteOrg(ctx(t), "org_nope", true, at)
	wantCode(t, err, silo.ENOTFOUND)

	o := newOrg(t, s, 10_000)
	other := newOrg(t, s, 10_000)
	k := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleWriter, Name: "w", Hash: silo.HashSecret("del-w"), CreatedAt: t0}
	must(t, s.CreateKey(ctx(t), k))
	ko := &silo.Key{ID: silo.NewID("key_"), OrgID: other.ID, Role: silo.RoleWriter, Hash: silo.HashSecret("del-o"), CreatedAt: t0}
	must(t, s.CreateKey(ctx(t), ko))
	d1 := createDataset(t, s, o.ID, "d1-aaaaaa", 100, t0)
	d2 := createDataset(t, s, o.ID, "d2-aaaaaa", 250, t0.Add(time.Second))
	keep := createDataset(t, s, other.ID, "keep-aaaaaa", 40, t0)
	inflight := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	pending := silo.NewBlobKey()
	must(t, s.AddPendingBlob(ctx(t), inflight.ID, o.ID, pending))
	_, err = s.Reserve(ctx(t), inflight.ID, 5, 5)
	must(t, err)

	// Refused while it holds datasets: nothing changes.
	_, err = s.DeleteOrg(ctx(t), o.ID, false, at)
	wantCode(t, err, silo.ECONFLICT)
	checkCounters(t, s, o.ID, 350, 5)
	if got, err := s.KeyByHash(ctx(t), silo.HashSecret("del-w")); err != nil || got.Revoked() {
		t.Fatalf("a refused DeleteOrg revoked the key: %+v, %v", got, err)
	}

	removed, err := s.DeleteOrg(ctx(t), o.ID, true, at)
	must(t, err)
	if len(removed) != 2 || removed[0].SizeBytes+removed[1].SizeBytes != 350 {
		t.Fatalf("DeleteOrg removed %+v, want d1 and d2", removed)
	}
	_, err = s.Org(ctx(t), o.ID)
	wantCode(t, err, silo.ENOTFOUND)
	orgs, err := s.Orgs(ctx(t))
	must(t, err)
	for _, x := range orgs {
		if x.ID == o.ID {
			t.Fatalf("Orgs still lists the deleted org")
		}
	}
	for _, id := range []string{d1.ID, d2.ID} {
		_, err := s.Dataset(ctx(t), o.ID, id)
		wantCode(t, err, silo.ENOTFOUND)
	}
	got, err := s.KeyByHash(ctx(t), silo.HashSecret("del-w"))
	must(t, err)
	if !got.Revoked() || !got.RevokedAt.Equal(at) {
		t.Fatalf("key of the deleted org = %+v, want revoked at %v", got, at)
	}
	late := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleWriter, Hash: silo.HashSecret("del-late"), CreatedAt: at}
	wantCode(t, s.CreateKey(ctx(t), late), silo.ENOTFOUND)
	l := ledger(t, s)
	for _, key := range []string{d1.Parts[0].BlobKey, d2.Parts[0].BlobKey, pending} {
		if l[key] != silo.BlobGarbage {
			t.Fatalf("blob %s of the deleted org is %q, want garbage", key, l[key])
		}
	}
	res, err := s.Reservations(ctx(t))
	must(t, err)
	if len(res) != 0 {
		t.Fatalf("reservations after DeleteOrg: %+v", res)
	}
	// The upload in flight cannot commit into the deleted org.
	lateDS := &silo.Dataset{ID: "late-aaaaaa", OrgID: o.ID, Name: "late", Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
		CreatedAt: at, UpdatedAt: at, SizeBytes: 5,
		Parts: []silo.Part{{ID: "dp_1", Name: "data.jsonl", Kind: silo.PartTrain, Format: silo.FormatJSONL, BlobKey: pending, SizeBytes: 5}}}
	wantCode(t, s.CreateDataset(ctx(t), lateDS, inflight.ID), silo.ENOTFOUND)
	// Nor grow its reservation, nor open a new one (a create whose key
	// was checked before the delete): not found, never the foreign key's
	// error.
	_, err = s.Reserve(ctx(t), inflight.ID, 1, 1)
	wantCode(t, err, silo.ENOTFOUND)
	wantCode(t, s.OpenReservation(ctx(t), &silo.Reservation{ID: silo.NewID("res_"), OrgID: o.ID, Node: "n1", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}),
		silo.ENOTFOUND)
	dropped, err := s.DropReservation(ctx(t), inflight.ID, time.Time{})
	if err != nil || dropped {
		t.Fatalf("releasing the deleted org's reservation: %v, %v; want nothing to release", dropped, err)
	}
	hist, err := s.UsageHistory(ctx(t), o.ID, time.Time{}, 100)
	must(t, err)
	if len(hist) != 0 {
		t.Fatalf("usage history of the deleted org: %+v", hist)
	}
	sums, err := s.UsageSums(ctx(t))
	must(t, err)
	if _, ok := sums[o.ID]; ok || sums[other.ID] != 40 {
		t.Fatalf("UsageSums after DeleteOrg = %v", sums)
	}
	n, err := s.PendingJobs(ctx(t))
	must(t, err)
	if n != 1 { // keep's job
		t.Fatalf("PendingJobs = %d, want 1 (the other org's)", n)
	}

	// The other org is untouched.
	checkCounters(t, s, other.ID, 40, 0)
	if _, err := s.Dataset(ctx(t), other.ID, keep.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := s.KeyByHash(ctx(t), silo.HashSecret("del-o")); err != nil || got.Revoked() {
		t.Fatalf("the other org's key: %+v, %v", got, err)
	}
	if l[keep.Parts[0].BlobKey] != silo.BlobLive {
		t.Fatalf("the other org's blob is %q", l[keep.Parts[0].BlobKey])
	}

	// An empty org goes without purge; its name is free again; twice is
	// not found.
	empty := newOrg(t, s, 1)
	_, err = s.DeleteOrg(ctx(t), empty.ID, false, at)
	must(t, err)
	_, err = s.DeleteOrg(ctx(t), empty.ID, false, at)
	wantCode(t, err, silo.ENOTFOUND)
	must(t, s.CreateOrg(ctx(t), &silo.Org{ID: silo.NewID("org_"), Name: empty.Name, QuotaBytes: 1, CreatedAt: t0}))

	// An org with only an upload in flight is busy too.
	busy := newOrg(t, s, 1)
	openRes(t, s, busy.ID, "n1", t0.Add(time.Hour))
	_, err = s.DeleteOrg(ctx(t), busy.ID, false, at)
	wantCode(t, err, silo.ECONFLICT)
}

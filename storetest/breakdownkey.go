package storetest

import (
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// testBreakdownByKey checks that a dataset remembers the key that created
// it and that the breakdown groups by it with the key's name, revoked keys
// included; datasets of no recorded key (created before silo recorded it)
// form their own group; and the split by key sums to the org's usage.
func testBreakdownByKey(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1_000_000)
	alice := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleWriter, Name: "alice", Hash: silo.HashSecret("bk-a"), CreatedAt: t0}
	bob := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: silo.RoleWriter, Name: "bob", Hash: silo.HashSecret("bk-b"), CreatedAt: t0}
	must(t, s.CreateKey(ctx(t), alice))
	must(t, s.CreateKey(ctx(t), bob))
	mk := func(keyID string, typ silo.DatasetType, size int64, i int) *silo.Dataset {
		at := t0.Add(time.Duration(i) * time.Second)
		r := openRes(t, s, o.ID, "n1", at.Add(time.Hour))
		blob := silo.NewBlobKey()
		must(t, s.AddPendingBlob(ctx(t), r.ID, o.ID, blob))
		_, err := s.Reserve(ctx(t), r.ID, size, size)
		must(t, err)
		d := &silo.Dataset{ID: silo.NewDatasetID("k"), OrgID: o.ID, Name: "k", Type: typ, Status: silo.StatusQueued,
			CreatedAt: at, UpdatedAt: at, ClientName: "cli", KeyID: keyID, SizeBytes: size,
			Parts: []silo.Part{{ID: "dp_1", Name: "data.jsonl", Kind: silo.PartTrain, Format: silo.FormatJSONL, BlobKey: blob, SizeBytes: size, SHA256: "ab"}}}
		must(t, s.CreateDataset(ctx(t), d, r.ID))
		return d
	}
	d := mk(alice.ID, silo.TypeEmbedInput, 100, 0)
	mk(alice.ID, silo.TypeChatFinetune, 20, 1)
	mk(bob.ID, silo.TypeEmbedInput, 300, 2)
	mk("", silo.TypeEmbedInput, 5, 3)
	got, err := s.Dataset(ctx(t), o.ID, d.ID)
	must(t, err)
	if got.KeyID != alice.ID {
		t.Fatalf("Dataset.KeyID = %q, want %q", got.KeyID, alice.ID)
	}
	_, err = s.RevokeKey(ctx(t), bob.ID, t0.Add(time.Hour))
	must(t, err)

	groups, err := s.UsageBreakdown(ctx(t), o.ID)
	must(t, err)
	b := silo.SplitUsage(groups)
	want := []silo.UsageShare{
		{Key: bob.ID, Name: "bob", Datasets: 1, Bytes: 300},
		{Key: alice.ID, Name: "alice", Datasets: 2, Bytes: 120},
		{Key: "", Name: silo.UnknownKeyName, Datasets: 1, Bytes: 5},
	}
	if len(b.ByKey) != len(want) {
		t.Fatalf("by key = %+v, want %+v", b.ByKey, want)
	}
	var sum int64
	for i := range want {
		if b.ByKey[i] != want[i] {
			t.Fatalf("by key = %+v, want %+v", b.ByKey, want)
		}
		sum += b.ByKey[i].Bytes
	}
	checkCounters(t, s, o.ID, sum, 0)
}

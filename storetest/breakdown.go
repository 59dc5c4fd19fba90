package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// testBreakdown checks the GROUP BY behind the usage breakdown: one group per
// (type, client name), only the org's own live datasets, largest first.
func testBreakdown(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1_000_000)
	other := newOrg(t, s, 1_000_000)
	empty, err := s.UsageBreakdown(ctx(t), o.ID)
	must(t, err)
	if len(empty) != 0 {
		t.Fatalf("UsageBreakdown of an org without datasets = %+v", empty)
	}
	for i, d := range []struct {
		org    string
		typ    silo.DatasetType
		client string
		size   int64
	}{
		{o.ID, silo.TypeEmbedInput, "cli", 100},
		{o.ID, silo.TypeEmbedInput, "cli", 50},
		{o.ID, silo.TypeEmbedInput, "", 7},
		{o.ID, silo.TypeChatFinetune, "cli", 1000},
		{o.ID, silo.TypeChatFinetune, "web", 0},
		{other.ID, silo.TypeEmbedInput, "cli", 99999},
	} {
		createTyped(t, s, d.org, silo.NewDatasetID("b"), d.typ, d.client, d.size, t0.Add(time.Duration(i)*time.Second))
	}
	gone := createTyped(t, s, o.ID, silo.NewDatasetID("gone"), silo.TypeEmbedInput, "cli", 5000, t0)
	_, err = s.DeleteDataset(ctx(t), o.ID, gone.ID)
	must(t, err)

	got, err := s.UsageBreakdown(ctx(t), o.ID)
	must(t, err)
	want := []silo.UsageGroup{
		{Type: silo.TypeChatFinetune, ClientName: "cli", Datasets: 1, Bytes: 1000},
		{Type: silo.TypeEmbedInput, ClientName: "cli", Datasets: 2, Bytes: 150},
		{Type: silo.TypeEmbedInput, ClientName: "", Datasets: 1, Bytes: 7},
		{Type: silo.TypeChatFinetune, ClientName: "web", Datasets: 1, Bytes: 0},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UsageBreakdown =\n %+v\nwant\n %+v", got, want)
	}
	var sum int64
	for _, g := range got {
		sum += g.Bytes
	}
	checkCounters(t, s, o.ID, sum, 0)
}

// createTyped stores a dataset of a given type and client name through the
// same calls as an upload.
func createTyped(t *testing.T, s silo.Store, orgID, id string, typ silo.DatasetType, client string, size int64, at time.Time) *silo.Dataset {
	t.Helper()
	r := openRes(t, s, orgID, "n1", at.Add(time.Hour))
	key := silo.NewBlobKey()
	must(t, s.AddPendingBlob(ctx(t), r.ID, orgID, key))
	if size > 0 {
		_, err := s.Reserve(ctx(t), r.ID, size, size)
		must(t, err)
	}
	d := &silo.Dataset{
		ID: id, OrgID: orgID, Name: id, Type: typ, Status: silo.StatusQueued,
		CreatedAt: at, UpdatedAt: at, ClientName: client, SizeBytes: size,
		Parts: []silo.Part{{ID: "dp_1", Name: "data.jsonl", Kind: silo.PartTrain, Format: silo.FormatJSONL, BlobKey: key, SizeBytes: size, SHA256: "ab"}},
	}
	must(t, s.CreateDataset(ctx(t), d, r.ID))
	return d
}

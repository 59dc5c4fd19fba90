package transfer

import (
	"strings"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// contents refuses, naming it, the first record that disagrees with the
// others, and lets a consistent set through.
func TestContents(t *testing.T) {
	blob := silo.NewBlobKey()
	org := func(used int64) *silo.Record {
		return &silo.Record{Org: &silo.Org{ID: "org_a", Name: "acme", UsedBytes: used}}
	}
	ds := func(edit func(d *silo.Dataset)) *silo.Record {
		d := &silo.Dataset{ID: "ds-abc123", OrgID: "org_a", Name: "train", SizeBytes: 10,
			Parts: []silo.Part{{ID: "dp_1", Name: "train.jsonl", BlobKey: blob, SizeBytes: 10, SHA256: "ab"}}}
		if edit != nil {
			edit(d)
		}
		return &silo.Record{Dataset: d}
	}
	key := func(id, orgID, name string, project ...string) *silo.Record {
		k := &silo.Record{Key: &silo.KeyRecord{Key: silo.Key{ID: id, OrgID: orgID, Name: name}}}
		if len(project) > 0 {
			k.Key.ProjectID = project[0]
		}
		return k
	}
	revoked := func(r *silo.Record) *silo.Record {
		at := time.Now()
		r.Key.RevokedAt = &at
		return r
	}
	prj := func(id, orgID string, used int64) *silo.Record {
		return &silo.Record{Project: &silo.Project{ID: id, OrgID: orgID, Name: "team " + id, UsedBytes: used}}
	}
	for _, tc := range []struct {
		name    string
		records []*silo.Record
		want    string // "" : consistent
	}{
		{"consistent", []*silo.Record{org(10), key("key_a", "org_a", "ci"), ds(nil),
			{Job: &silo.JobRecord{DatasetID: "ds-abc123", OrgID: "org_a"}},
			{Usage: &silo.UsageRecord{OrgID: "org_gone"}}}, ""},
		{"usage off by one", []*silo.Record{org(11), ds(nil)}, "usage_bytes is 11 but its datasets sum to 10"},
		{"usage of no dataset", []*silo.Record{org(1)}, "usage_bytes is 1 but its datasets sum to 0"},
		{"NUL in an org name", []*silo.Record{{Org: &silo.Org{ID: "org_a", Name: "a\x00b"}}}, "holds a NUL character"},
		{"invalid UTF-8 in a key name", []*silo.Record{org(0), key("key_a", "org_a", "\xff")}, "is not valid UTF-8"},
		{"NUL in a part name", []*silo.Record{org(10), ds(func(d *silo.Dataset) { d.Parts[0].Name = "x\x00.jsonl" })}, "part name"},
		{"a slash in an id", []*silo.Record{org(10), ds(func(d *silo.Dataset) { d.ID = "../etc" })}, `dataset id "../etc" is not valid`},
		{"an empty id", []*silo.Record{{Org: &silo.Org{Name: "a"}}}, `organisation id "" is not valid`},
		{"a key of no org", []*silo.Record{org(0), key("key_a", "org_b", "ci")}, `belongs to organisation "org_b", which is not there`},
		{"a dataset of no org", []*silo.Record{ds(nil)}, "which is not there"},
		{"a job of no dataset", []*silo.Record{org(0), {Job: &silo.JobRecord{DatasetID: "ds-x", OrgID: "org_a"}}}, "refers to no dataset"},
		{"an org twice", []*silo.Record{org(0), org(0)}, "is there twice"},
		{"a blob claimed twice", []*silo.Record{org(20), ds(nil), ds(func(d *silo.Dataset) { d.ID = "ds-other" })}, "belongs to both dataset ds-abc123 and dataset ds-other"},
		{"a blob key silo never writes", []*silo.Record{org(10), ds(func(d *silo.Dataset) { d.Parts[0].BlobKey = "../../etc/passwd" })}, "not a blob silo writes"},
		{"projects consistent", []*silo.Record{org(10), prj("prj_a", "org_a", 10), prj("prj_b", "org_a", 0),
			key("key_a", "org_a", "ci", "prj_a"), revoked(key("key_b", "org_a", "gone", "prj_gone")),
			ds(func(d *silo.Dataset) { d.ProjectID = "prj_a" })}, ""},
		{"project usage off", []*silo.Record{org(10), prj("prj_a", "org_a", 7), ds(func(d *silo.Dataset) { d.ProjectID = "prj_a" })},
			"project prj_a: usage_bytes is 7 but its datasets sum to 10"},
		{"project usage of a dataset of no project", []*silo.Record{org(10), prj("prj_a", "org_a", 10), ds(nil)},
			"project prj_a: usage_bytes is 10 but its datasets sum to 0"},
		{"a project of no org", []*silo.Record{org(0), prj("prj_a", "org_b", 0)}, `project "prj_a" belongs to organisation "org_b", which is not there`},
		{"a project twice", []*silo.Record{org(0), prj("prj_a", "org_a", 0), prj("prj_a", "org_a", 0)}, "project prj_a is there twice"},
		{"a dataset of no project", []*silo.Record{org(10), ds(func(d *silo.Dataset) { d.ProjectID = "prj_x" })},
			`dataset "ds-abc123" belongs to project "prj_x", which is not there`},
		{"a dataset in another org's project", []*silo.Record{org(10), {Org: &silo.Org{ID: "org_b", Name: "b"}}, prj("prj_b", "org_b", 10),
			ds(func(d *silo.Dataset) { d.ProjectID = "prj_b" })}, `belongs to project "prj_b" of organisation "org_b"`},
		{"a live key of no project", []*silo.Record{org(0), key("key_a", "org_a", "ci", "prj_x")}, `key "key_a" belongs to project "prj_x", which is not there`},
		{"a NUL in a project name", []*silo.Record{org(0), {Project: &silo.Project{ID: "prj_a", OrgID: "org_a", Name: "a\x00"}}}, "holds a NUL character"},
		{"a negative size", []*silo.Record{org(-10), ds(func(d *silo.Dataset) { d.SizeBytes = -10 })}, "negative size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newContents()
			var err error
			for _, r := range tc.records {
				if err = c.add(r); err != nil {
					break
				}
			}
			if err == nil {
				err = c.check()
			}
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused a consistent set: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// matchFiles wants the manifest's files to be exactly the referenced ones,
// with their recorded sizes and checksums.
func TestMatchFiles(t *testing.T) {
	a, b := silo.NewBlobKey(), silo.NewBlobKey()
	c := newContents()
	for _, r := range []*silo.Record{
		{Org: &silo.Org{ID: "org_a", Name: "a", UsedBytes: 3}},
		{Dataset: &silo.Dataset{ID: "ds-1", OrgID: "org_a", Name: "d", SizeBytes: 3, Parts: []silo.Part{
			{ID: "dp_1", BlobKey: a, SizeBytes: 1, SHA256: "aa"}, {ID: "dp_2", BlobKey: b, SizeBytes: 2, SHA256: "bb"}}}},
	} {
		if err := c.add(r); err != nil {
			t.Fatal(err)
		}
	}
	fa, fb := File{Name: blobPrefix + a, Size: 1, SHA256: "aa"}, File{Name: blobPrefix + b, Size: 2, SHA256: "bb"}
	for _, tc := range []struct {
		name  string
		files []File
		want  string
	}{
		{"exact", []File{fa, fb}, ""},
		{"in another order", []File{fb, fa}, ""},
		{"one missing", []File{fa}, "refers to file blobs/" + b + ", which is not in the backup"},
		{"one more", []File{fa, fb, {Name: blobPrefix + silo.NewBlobKey(), Size: 1}}, "is not a file of any dataset"},
		{"not a blob", []File{fa, fb, {Name: "notes.txt"}}, "backup file notes.txt is not a file of any dataset"},
		{"another size", []File{fa, {Name: fb.Name, Size: 3, SHA256: "bb"}}, "is 3 bytes with SHA-256 bb, but dataset ds-1 records 2 bytes"},
		{"another checksum", []File{fa, {Name: fb.Name, Size: 2, SHA256: "cc"}}, "SHA-256 cc, but dataset ds-1 records 2 bytes with SHA-256 bb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.matchFiles(tc.files)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

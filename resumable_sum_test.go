package silo_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/fsck"
	"github.com/silo-datasets/silo/internal/silotest"
)

// TestUploadSHA256ByValidation: a PATCH keeps no SHA-256 of the whole
// file, so a dataset made of an upload has none until its validation
// records it, of the whole file, also when the validator stopped reading
// early; fsck is clean afterwards.
func TestUploadSHA256ByValidation(t *testing.T) {
	e := silotest.Start(t, silotest.Options{})
	orgID, key := e.Org(t, "acme", 1<<30, silo.RoleWriter)
	c := caller(t, e, key)
	ctx := t.Context()
	rows := bytes.Repeat([]byte("{\"text\":\"a row of an upload\"}\n"), 40000)
	csv := append([]byte("title,body\n"), bytes.Repeat([]byte("a title,a body of a row\n"), 400000)...)
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       silo.Status
	}{
		{"valid", "s.jsonl", rows, silo.StatusValidated},
		{"bad first row", "s.jsonl", append([]byte("not json\n"), rows...), silo.StatusFailed},
		// The validator stops at the header (no text column): the
		// rest is read for the SHA-256 alone.
		{"refused header", "s.csv", csv, silo.StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := int64(len(tc.data))
			u, err := e.Service.CreateResumable(ctx, c, silo.NewResumable{Length: n})
			if err != nil {
				t.Fatal(err)
			}
			for off := int64(0); off < n; off += 300_000 { // several PATCHes
				end := min(off+300_000, n)
				if _, err := e.Service.AppendResumable(ctx, c, silo.Patch{ID: u.ID, Offset: off, Body: bytes.NewReader(tc.data[off:end]), Length: end - off}); err != nil {
					t.Fatal(err)
				}
			}
			d, err := e.Service.DatasetFromUploads(ctx, c, silo.UploadRequest{Name: "s", Type: silo.TypeEmbedInput},
				func(*silo.ResumableUpload) string { return tc.file }, []string{u.ID})
			if err != nil {
				t.Fatal(err)
			}
			if d.Parts[0].SHA256 != "" {
				t.Fatalf("a part from an upload has SHA-256 %q before its validation", d.Parts[0].SHA256)
			}
			d = e.WaitValidated(t, orgID, d.ID)
			if d.Status != tc.want {
				t.Fatalf("status %s, want %s (%s)", d.Status, tc.want, d.Report.Error)
			}
			sum := sha256.Sum256(tc.data)
			if d.Parts[0].SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("part SHA-256 %q, want %x", d.Parts[0].SHA256, sum)
			}
			rep, err := (&fsck.Checker{Store: e.Store, Blobs: e.Blobs}).Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("fsck: %v", rep.Findings)
			}
		})
	}
}

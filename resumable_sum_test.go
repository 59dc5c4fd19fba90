package silo_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/fsck"
	fs "github.com/silo-datasets/silo/internal/faultstore"
)

// TestUploadSHA256AtCreation: a dataset made of a resumable upload has its
// part's SHA-256 when it is created, as one made by a create does: an
// upload's PATCHes keep the running SHA-256 of the whole file, and a
// concatenation hashes the partials while their blobs are joined (inside
// the blob store, or through silo for one that cannot join). A join or a
// read for the sum that fails leaves the partials as they were, and the
// concatenation asked again succeeds. fsck is clean afterwards.
func TestUploadSHA256AtCreation(t *testing.T) {
	data := bytes.Repeat([]byte("{\"text\":\"a row of an upload\"}\n"), 60000) // 1.8 MB
	sum := sha256.Sum256(data)
	wantSum := hex.EncodeToString(sum[:])
	// Where the partials of a concatenation start: one of a single byte,
	// one empty, pieces that cut rows.
	cuts := []int{0, 700_001, 700_002, 700_002, 1_300_000}
	for _, tc := range []struct {
		name   string
		concat bool
		noJoin bool   // the blob store cannot join: silo copies
		fault  string // fails once during the first concatenation
	}{
		{name: "patches"},
		{name: "concatenation", concat: true},
		{name: "concatenation without Joiner", concat: true, noJoin: true},
		{name: "concatenation, read for the sum fails", concat: true, fault: "Blobs.Open"},
		{name: "concatenation, join fails", concat: true, fault: "Blobs.Join"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var e *faultEnv
			if tc.noJoin {
				e = startFaulty(t, func(b silo.BlobStore) silo.BlobStore {
					return struct {
						silo.BlobStore
						silo.Appender
					}{b, b.(silo.Appender)}
				})
			} else {
				e = startFaulty(t)
			}
			ctx := t.Context()
			var id, failedKey string
			if tc.concat {
				var ids []string
				for i, from := range cuts {
					to := len(data)
					if i+1 < len(cuts) {
						to = cuts[i+1]
					}
					ids = append(ids, tusUpload(t, e, data[from:to], true))
				}
				if tc.fault != "" {
					blobs, ledger := blobKeys(t, e), ledgerKeys(t, e)
					e.F.Set(tc.fault, fs.Fail, 1)
					_, err := e.svc.ConcatResumable(ctx, e.c, silo.NewResumable{}, ids)
					checkAnswer(t, "concatenation", err, want(silo.EUNAVAILABLE))
					if e.F.Hits(tc.fault) == 0 {
						t.Fatalf("the fault on %s was never hit", tc.fault)
					}
					e.F.Clear()
					for _, id := range ids { // sealed (the empty one is a blob now)
						u, err := e.st.Upload(ctx, e.orgID, id)
						if err != nil {
							t.Fatal(err)
						}
						blobs[u.BlobKey] = true
					}
					if got := blobKeys(t, e); !maps.Equal(got, blobs) {
						t.Fatalf("blobs after a failed concatenation %v, want the partials' %v", got, blobs)
					}
					for k := range ledgerKeys(t, e) {
						if !ledger[k] {
							failedKey = k
						}
					}
				}
				final, err := e.svc.ConcatResumable(ctx, e.c, silo.NewResumable{}, ids)
				if err != nil {
					t.Fatal(err)
				}
				id = final.ID
			} else {
				id = tusUpload(t, e, data, false)
			}
			d, err := e.svc.DatasetFromUploads(ctx, e.c, silo.UploadRequest{Name: "s", Type: silo.TypeEmbedInput},
				func(*silo.ResumableUpload) string { return "s.jsonl" }, []string{id})
			if err != nil {
				t.Fatal(err)
			}
			if d.Parts[0].SHA256 != wantSum || d.SizeBytes != int64(len(data)) {
				t.Fatalf("part at creation %+v, want %d bytes with SHA-256 %s", d.Parts[0], len(data), wantSum)
			}
			if failedKey == "" {
				e.mu.Lock()
				e.acked[d.ID] = true
				e.mu.Unlock()
				e.settled(t) // validated, and fsck checks the file against that sum
				return
			}
			// A failed concatenation left its final blob's ledger row
			// pending under the first partial's reservation; the
			// dataset's commit makes it garbage (only the parts' blobs
			// go live), so nothing is orphaned.
			if d = waitStatus(t, e, d.ID); d.Status != silo.StatusValidated {
				t.Fatalf("dataset %s: %s", d.Status, d.Report.Error)
			}
			state := ""
			err = e.st.Blobs(ctx, func(key string, st silo.BlobState) error {
				if key == failedKey {
					state = string(st)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if state != "" && state != string(silo.BlobGarbage) {
				t.Fatalf("the failed concatenation's blob %s is %q, want garbage (or gone)", failedKey, state)
			}
			if err := e.svc.Sweep(ctx); err != nil { // deletes it
				t.Fatal(err)
			}
			rep, err := (&fsck.Checker{Store: e.st, Blobs: e.bl}).Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) != 0 {
				t.Fatalf("fsck: %v", rep.Findings)
			}
		})
	}
}

// tusUpload sends data as a resumable upload in several PATCHes and returns
// its id.
func tusUpload(t *testing.T, e *faultEnv, data []byte, partial bool) string {
	t.Helper()
	n := int64(len(data))
	u, err := e.svc.CreateResumable(t.Context(), e.c, silo.NewResumable{Length: n, Partial: partial})
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(0); off < n; off += 300_000 {
		end := min(off+300_000, n)
		if _, err := e.svc.AppendResumable(t.Context(), e.c, silo.Patch{ID: u.ID, Offset: off, Body: bytes.NewReader(data[off:end]), Length: end - off}); err != nil {
			t.Fatal(err)
		}
	}
	return u.ID
}

func blobKeys(t *testing.T, e *faultEnv) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	if err := e.bl.List(t.Context(), func(k string, _ int64) error { keys[k] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func ledgerKeys(t *testing.T, e *faultEnv) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	if err := e.st.Blobs(t.Context(), func(k string, _ silo.BlobState) error { keys[k] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

// waitStatus waits until the dataset's validation has ended.
func waitStatus(t *testing.T, e *faultEnv, id string) *silo.Dataset {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		d, err := e.st.Dataset(t.Context(), e.orgID, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == silo.StatusValidated || d.Status == silo.StatusFailed {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("dataset %s still %s after 30 s", id, d.Status)
		}
	}
}

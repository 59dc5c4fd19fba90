package silo_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	fs "github.com/silo-datasets/silo/internal/faultstore"
)

// TestFaultsPatch: the store fails, hangs or loses the answer of each call
// a resumable upload's PATCH makes. The PATCH answers 503/504 (or 2xx),
// never 500; the offset HEAD says afterwards is the old one or the new one,
// never bytes that were not stored; the upload then finishes from there and
// its dataset's file is the one sent, with its SHA-256; fsck is clean.
func TestFaultsPatch(t *testing.T) {
	for _, m := range []string{"LockUpload", "AdvanceUpload", "UnlockUpload"} {
		for _, mode := range []fs.Mode{fs.Fail, fs.Hang, fs.Lose} {
			t.Run(m+"-"+mode.String(), func(t *testing.T) {
				t.Parallel()
				e := startFaulty(t)
				data := bytes.Repeat([]byte("{\"text\":\"resumable row\"}\n"), 4000)
				u, err := e.svc.CreateResumable(t.Context(), e.c, silo.NewResumable{Length: int64(len(data))})
				if err != nil {
					t.Fatal(err)
				}
				half := int64(len(data) / 2)
				e.F.Set(m, mode, 1)
				_, err = e.svc.AppendResumable(t.Context(), e.c, silo.Patch{ID: u.ID, Body: bytes.NewReader(data[:half]), Length: half})
				checkAnswer(t, "PATCH", err, want(silo.EUNAVAILABLE, silo.ETIMEOUT, ""))
				if e.F.Hits(m) == 0 {
					t.Fatalf("the fault on %s was never hit", m)
				}
				e.F.Clear()
				// Resume from what the store says, as a client does after HEAD;
				// a lock whose release was lost lapses within its lease.
				deadline := time.Now().Add(60 * time.Second)
				for {
					got, err := e.svc.ResumableUpload(t.Context(), e.c, u.ID)
					if err != nil {
						t.Fatal(err)
					}
					if got.Offset != 0 && got.Offset != half {
						t.Fatalf("offset %d after a faulty PATCH of %d bytes", got.Offset, half)
					}
					_, err = e.svc.AppendResumable(t.Context(), e.c, silo.Patch{ID: u.ID, Offset: got.Offset,
						Body: bytes.NewReader(data[got.Offset:]), Length: int64(len(data)) - got.Offset})
					if err == nil {
						break
					}
					if silo.ErrorCode(err) != silo.ELOCKED || time.Now().After(deadline) {
						t.Fatalf("resuming at %d: %v", got.Offset, err)
					}
					time.Sleep(100 * time.Millisecond)
				}
				d, err := e.svc.DatasetFromUploads(t.Context(), e.c, silo.UploadRequest{Name: "r", Type: silo.TypeEmbedInput},
					func(*silo.ResumableUpload) string { return "r.jsonl" }, []string{u.ID})
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(data)
				if d.Parts[0].SHA256 != hex.EncodeToString(sum[:]) || d.SizeBytes != int64(len(data)) {
					t.Fatalf("part %+v, want %d bytes with SHA-256 %x", d.Parts[0], len(data), sum)
				}
				e.mu.Lock()
				e.acked[d.ID] = true
				e.mu.Unlock()
				e.settled(t)
			})
		}
	}
}

package storetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

func newUpload(s silo.Store, org *silo.Org, length int64, partial bool) *silo.ResumableUpload {
	return &silo.ResumableUpload{
		ID: silo.NewID("up_"), OrgID: org.ID, KeyID: "key_1", ReservationID: silo.NewID("res_"),
		Length: length, Metadata: "name bmFtZQ==", Partial: partial, BlobKey: silo.NewBlobKey(),
		HashState: []byte("h0"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
	}
}

// testUploads: an upload reserves its whole length at once, advances under
// its lock only from the offset it had, and gives its bytes back when it
// is deleted.
func testUploads(t *testing.T, s silo.Store) {
	org := newOrg(t, s, 100)
	u := newUpload(s, org, 60, false)
	u.ExpiresAt = t0.Add(-time.Second) // idle too long already: only an advance keeps it
	must(t, s.CreateUpload(ctx(t), u))
	checkCounters(t, s, org.ID, 0, 60)
	// The quota holds: 60 + 41 > 100, and a refusal stores nothing.
	over := newUpload(s, org, 41, false)
	var qe *silo.QuotaError
	if err := s.CreateUpload(ctx(t), over); !errors.As(err, &qe) || qe.LimitBytes != 100 || qe.ReservedBytes != 60 {
		t.Fatalf("CreateUpload over quota: %v", err)
	}
	_, err := s.Upload(ctx(t), org.ID, over.ID)
	wantCode(t, err, silo.ENOTFOUND)
	checkCounters(t, s, org.ID, 0, 60)

	got, err := s.Upload(ctx(t), org.ID, u.ID)
	must(t, err)
	if got.Length != 60 || got.Offset != 0 || got.Metadata != u.Metadata || got.BlobKey != u.BlobKey ||
		!bytes.Equal(got.HashState, []byte("h0")) || got.ReservationID != u.ReservationID {
		t.Fatalf("Upload = %+v", got)
	}
	other := newOrg(t, s, 100)
	_, err = s.Upload(ctx(t), other.ID, u.ID)
	wantCode(t, err, silo.ENOTFOUND)

	// One lock at a time; its owner may take it again; a lapsed one is free.
	_, err = s.LockUpload(ctx(t), org.ID, u.ID, "a", time.Now(), time.Now().Add(time.Minute))
	must(t, err)
	_, err = s.LockUpload(ctx(t), org.ID, u.ID, "b", time.Now(), time.Now().Add(time.Minute))
	wantCode(t, err, silo.ELOCKED)
	_, err = s.LockUpload(ctx(t), other.ID, u.ID, "b", time.Now(), time.Now().Add(time.Minute))
	wantCode(t, err, silo.ENOTFOUND)
	_, err = s.LockUpload(ctx(t), org.ID, u.ID, "a", time.Now(), time.Now().Add(-time.Second))
	must(t, err)
	_, err = s.LockUpload(ctx(t), org.ID, u.ID, "b", time.Now(), time.Now().Add(time.Minute))
	must(t, err)

	// Only the lock's owner advances, and only from the stored offset.
	u.Offset, u.BlobState, u.HashState, u.ExpiresAt = 25, []byte(`{"s":1}`), []byte("h1"), t0.Add(2*time.Hour)
	wantCode(t, s.AdvanceUpload(ctx(t), u, "a", 0, t0), silo.ENOTFOUND)
	wantCode(t, s.AdvanceUpload(ctx(t), u, "b", 5, t0), silo.ENOTFOUND)
	must(t, s.AdvanceUpload(ctx(t), u, "b", 0, t0))
	created := got
	got, err = s.Upload(ctx(t), org.ID, u.ID)
	must(t, err)
	if got.Offset != 25 || string(got.BlobState) != `{"s":1}` || string(got.HashState) != "h1" || !got.ExpiresAt.After(created.ExpiresAt) {
		t.Fatalf("after AdvanceUpload: %+v (created %+v)", got, created)
	}
	// The upload's expiry and its reservation's lease moved on: they had
	// run out at the store's now, and run now.
	dead, err := s.ExpiredReservations(ctx(t), t0)
	must(t, err)
	if len(dead) != 0 {
		t.Fatalf("ExpiredReservations: %+v, want none (the upload moved its lease on)", dead)
	}
	if exp, err := s.ExpiredUploads(ctx(t), t0, 10); err != nil || len(exp) != 0 {
		t.Fatalf("ExpiredUploads = %+v, %v; want none", exp, err)
	}
	must(t, s.UnlockUpload(ctx(t), u.ID, "b"))
	_, err = s.LockUpload(ctx(t), org.ID, u.ID, "c", time.Now(), time.Now().Add(time.Minute))
	must(t, err)

	list, err := s.Uploads(ctx(t), org.ID)
	must(t, err)
	if len(list) != 1 || list[0].ID != u.ID {
		t.Fatalf("Uploads = %+v", list)
	}

	// Deleting gives the bytes back and makes the blob garbage.
	must(t, s.DeleteUpload(ctx(t), org.ID, u.ID))
	checkCounters(t, s, org.ID, 0, 0)
	wantCode(t, s.DeleteUpload(ctx(t), org.ID, u.ID), silo.ENOTFOUND)
	if st := blobState(t, s, u.BlobKey); st != silo.BlobGarbage {
		t.Fatalf("blob of a deleted upload: %q, want garbage", st)
	}
}

func blobState(t *testing.T, s silo.Store, key string) silo.BlobState {
	t.Helper()
	var state silo.BlobState
	must(t, s.Blobs(ctx(t), func(k string, st silo.BlobState) error {
		if k == key {
			state = st
		}
		return nil
	}))
	return state
}

// testUploadExpiry: an upload's reservation lapses with it; dropping it
// (the sweep) removes the upload too.
func testUploadExpiry(t *testing.T, s silo.Store) {
	org := newOrg(t, s, 100)
	u := newUpload(s, org, 10, false)
	u.ExpiresAt = t0.Add(-time.Second) // expired by the store's now (see testLeases)
	must(t, s.CreateUpload(ctx(t), u))
	dead, err := s.ExpiredReservations(ctx(t), t0)
	must(t, err)
	if len(dead) != 1 || dead[0].Node != silo.ResumableNode || dead[0].Bytes != 10 {
		t.Fatalf("ExpiredReservations = %+v", dead)
	}
	if exp, err := s.ExpiredUploads(ctx(t), t0, 10); err != nil || len(exp) != 1 || exp[0].ID != u.ID {
		t.Fatalf("ExpiredUploads = %+v, %v; want %s", exp, err, u.ID)
	}
	dropped, err := s.DropReservation(ctx(t), u.ReservationID, t0)
	must(t, err)
	if !dropped {
		t.Fatal("DropReservation did not drop the upload's reservation")
	}
	_, err = s.Upload(ctx(t), org.ID, u.ID)
	wantCode(t, err, silo.ENOTFOUND)
	checkCounters(t, s, org.ID, 0, 0)
	// And deleting the org removes its uploads.
	u2 := newUpload(s, org, 10, false)
	must(t, s.CreateUpload(ctx(t), u2))
	_, err = s.DeleteOrg(ctx(t), org.ID, false, t0)
	wantCode(t, err, silo.ECONFLICT)
	_, err = s.DeleteOrg(ctx(t), org.ID, true, t0)
	must(t, err)
	_, err = s.Upload(ctx(t), org.ID, u2.ID)
	wantCode(t, err, silo.ENOTFOUND)
}

func completeUpload(t *testing.T, s silo.Store, u *silo.ResumableUpload) {
	t.Helper()
	_, err := s.LockUpload(ctx(t), u.OrgID, u.ID, "w", time.Now(), time.Now().Add(time.Minute))
	must(t, err)
	from := u.Offset
	u.Offset = u.Length
	must(t, s.AdvanceUpload(ctx(t), u, "w", from, t0))
	must(t, s.UnlockUpload(ctx(t), u.ID, "w"))
}

// testUploadConcatAndDataset: partials join into a final upload without
// their bytes counted twice, and a dataset takes an upload's reservation
// as usage in one step.
func testUploadConcatAndDataset(t *testing.T, s silo.Store) {
	org := newOrg(t, s, 100)
	p1, p2 := newUpload(s, org, 30, true), newUpload(s, org, 20, true)
	must(t, s.CreateUpload(ctx(t), p1))
	must(t, s.CreateUpload(ctx(t), p2))
	final := &silo.ResumableUpload{
		ID: silo.NewID("up_"), OrgID: org.ID, KeyID: "key_1", Length: 50, Offset: 50, BlobKey: silo.NewBlobKey(),
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
	}
	// Incomplete partials cannot be joined.
	wantCode(t, s.ConcatUploads(ctx(t), final, []string{p1.ID, p2.ID}), silo.ECONFLICT)
	completeUpload(t, s, p1)
	completeUpload(t, s, p2)
	wantCode(t, s.ConcatUploads(ctx(t), &silo.ResumableUpload{ID: silo.NewID("up_"), OrgID: org.ID, Length: 49, Offset: 49,
		BlobKey: silo.NewBlobKey(), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, []string{p1.ID, p2.ID}), silo.ECONFLICT)
	must(t, s.AddPendingBlob(ctx(t), p1.ReservationID, org.ID, final.BlobKey))
	must(t, s.ConcatUploads(ctx(t), final, []string{p1.ID, p2.ID}))
	checkCounters(t, s, org.ID, 0, 50)
	for _, p := range []*silo.ResumableUpload{p1, p2} {
		_, err := s.Upload(ctx(t), org.ID, p.ID)
		wantCode(t, err, silo.ENOTFOUND)
		if st := blobState(t, s, p.BlobKey); st != silo.BlobGarbage {
			t.Fatalf("a joined partial's blob is %q, want garbage", st)
		}
	}
	if st := blobState(t, s, final.BlobKey); st != silo.BlobPending {
		t.Fatalf("the final blob is %q, want pending", st)
	}
	// A partial upload cannot be a dataset; the final one can.
	p3 := newUpload(s, org, 5, true)
	must(t, s.CreateUpload(ctx(t), p3))
	completeUpload(t, s, p3)
	d := &silo.Dataset{ID: silo.NewID("ds-"), OrgID: org.ID, Name: "n", Type: silo.DatasetTypes[0], Status: silo.StatusQueued,
		CreatedAt: t0, UpdatedAt: t0, SizeBytes: 50,
		Parts: []silo.Part{{ID: "dp_1", Kind: silo.PartTrain, BlobKey: final.BlobKey, SizeBytes: 50}}}
	wantCode(t, s.CreateDatasetFromUploads(ctx(t), d, []string{p3.ID}), silo.ECONFLICT)
	must(t, s.CreateDatasetFromUploads(ctx(t), d, []string{final.ID}))
	checkCounters(t, s, org.ID, 50, 5)
	got, err := s.Upload(ctx(t), org.ID, final.ID)
	must(t, err)
	if got.DatasetID != d.ID || got.ReservationID != "" {
		t.Fatalf("the upload after its dataset: %+v", got)
	}
	if st := blobState(t, s, final.BlobKey); st != silo.BlobLive {
		t.Fatalf("the dataset's blob is %q, want live", st)
	}
	// Twice is refused; the list leaves datasets out; deleting the upload
	// now leaves the dataset's bytes alone.
	d2 := *d
	d2.ID = silo.NewID("ds-")
	wantCode(t, s.CreateDatasetFromUploads(ctx(t), &d2, []string{final.ID}), silo.ECONFLICT)
	list, err := s.Uploads(ctx(t), org.ID)
	must(t, err)
	if len(list) != 1 || list[0].ID != p3.ID {
		t.Fatalf("Uploads = %+v, want only the partial", list)
	}
	must(t, s.DeleteUpload(ctx(t), org.ID, final.ID))
	checkCounters(t, s, org.ID, 50, 5)
	if st := blobState(t, s, final.BlobKey); st != silo.BlobLive {
		t.Fatalf("the dataset's blob is %q after its upload went, want live", st)
	}
}

// testUploadsRace: uploads racing for the last bytes of a quota never take
// it over.
func testUploadsRace(t *testing.T, s silo.Store) {
	org := newOrg(t, s, 1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.CreateUpload(ctx(t), newUpload(s, org, 300, false))
			var qe *silo.QuotaError
			switch {
			case err == nil:
				mu.Lock()
				ok++
				mu.Unlock()
			case errors.As(err, &qe):
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if ok != 3 {
		t.Fatalf("%d uploads of 300 bytes fit a quota of 1000, want 3", ok)
	}
	checkCounters(t, s, org.ID, 0, 900)
}

// TestAppender is the conformance suite of blob stores that take
// resumable uploads.
func TestAppender(t *testing.T, open OpenBlobStore) {
	t.Run("Pieces", func(t *testing.T) {
		b := open(t)
		a := b.(silo.Appender)
		// Pieces of many sizes: tiny, under and over S3's 5 MiB minimum part.
		sizes := []int{1, 100, 3 << 20, 6 << 20, 2 << 20, 17 << 20, 5}
		var data []byte
		for _, n := range sizes {
			data = append(data, randomBytes(n)...)
		}
		key := silo.NewBlobKey()
		length := int64(len(data))
		var state []byte
		var off int64
		for i, n := range sizes {
			piece := data[off : off+int64(n)]
			// A piece that is not recorded changes nothing.
			if i == 2 {
				_, _, err := a.Append(ctx(t), key, state, off, length, bytes.NewReader(randomBytes(n)))
				must(t, err)
			}
			st, got, err := a.Append(ctx(t), key, state, off, length, bytes.NewReader(piece))
			must(t, err)
			if got != int64(n) {
				t.Fatalf("piece %d: Append took %d bytes, want %d", i, got, n)
			}
			state, off = st, off+got
		}
		must(t, a.Seal(ctx(t), key, state, length))
		must(t, a.Seal(ctx(t), key, state, length)) // twice: a lost answer
		if got := readAll(t, b, key, 0, -1); !bytes.Equal(got, data) {
			t.Fatalf("sealed blob differs: %d bytes, want %d", len(got), len(data))
		}
		must(t, b.Delete(ctx(t), key))
		if l := listed(t, b); len(l) != 0 {
			t.Fatalf("after Delete: %v", l)
		}
	})
	t.Run("CutOff", func(t *testing.T) {
		b := open(t)
		a := b.(silo.Appender)
		data := randomBytes(7 << 20)
		key := silo.NewBlobKey()
		// A body that fails part-way: what arrived is kept, with the error.
		state, n, err := a.Append(ctx(t), key, nil, 0, int64(len(data)), &failingReader{r: bytes.NewReader(data[:4<<20]), err: errors.New("connection cut")})
		if err == nil || n != 4<<20 {
			t.Fatalf("Append of a cut body: n %d err %v, want %d and the body's error", n, err, 4<<20)
		}
		state, m, err := a.Append(ctx(t), key, state, n, int64(len(data)), bytes.NewReader(data[n:]))
		must(t, err)
		must(t, a.Seal(ctx(t), key, state, n+m))
		if got := readAll(t, b, key, 0, -1); !bytes.Equal(got, data) {
			t.Fatal("blob differs after a cut-off piece")
		}
		// An upload never sealed: listed (so fsck sees it), and Delete removes it.
		key2 := silo.NewBlobKey()
		_, _, err = a.Append(ctx(t), key2, nil, 0, 10<<20, bytes.NewReader(randomBytes(1<<20)))
		must(t, err)
		if _, ok := listed(t, b)[key2]; !ok {
			t.Fatal("an unsealed upload is not listed")
		}
		must(t, b.Delete(ctx(t), key2))
		must(t, b.Delete(ctx(t), key))
		if l := listed(t, b); len(l) != 0 {
			t.Fatalf("after Delete: %v", l)
		}
	})
	t.Run("Empty", func(t *testing.T) {
		b := open(t)
		key := silo.NewBlobKey()
		must(t, b.(silo.Appender).Seal(ctx(t), key, nil, 0))
		if got := readAll(t, b, key, 0, -1); len(got) != 0 {
			t.Fatalf("empty upload reads %d bytes", len(got))
		}
	})
}

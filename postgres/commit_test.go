package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
)

// A create whose context ends at any moment, even while COMMIT is on the
// wire, answers nil exactly when the dataset was stored: an error must mean
// nothing was stored, so that clients can retry safely.
func TestCreateOutcomeIsKnown(t *testing.T) {
	s := open(t, testenv.Postgres(t))
	defer s.Close()
	org, _ := seed(t, s, 0)
	bg := context.Background()
	var stored, refused int
	for i := 0; i < 160; i++ {
		now := time.Now()
		r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: org.ID, Node: "n", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.OpenReservation(bg, r); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Reserve(bg, r.ID, 10, 10); err != nil {
			t.Fatal(err)
		}
		d := &silo.Dataset{ID: fmt.Sprintf("c-%06d", i), OrgID: org.ID, Name: "c", Type: silo.TypeEmbedInput,
			Status: silo.StatusQueued, CreatedAt: now, UpdatedAt: now, SizeBytes: 10}
		// Deadlines spread over the few milliseconds a create takes.
		ctx, cancel := context.WithTimeout(bg, time.Duration(i%40)*250*time.Microsecond)
		err := s.CreateDataset(ctx, d, r.ID)
		cancel()
		_, gerr := s.Dataset(bg, org.ID, d.ID)
		exists := gerr == nil
		if (err == nil) != exists {
			t.Fatalf("create %d answered %v, but the dataset exists: %v", i, err, exists)
		}
		if exists {
			stored++
		} else {
			refused++
			if err := s.ReleaseReservation(bg, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d stored, %d refused", stored, refused)
	o, err := s.Org(bg, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.UsedBytes != int64(stored)*10 || o.ReservedBytes != 0 {
		t.Fatalf("org used %d reserved %d, want used %d reserved 0", o.UsedBytes, o.ReservedBytes, stored*10)
	}
}

// The same for deletes: nil exactly when the dataset is gone.
func TestDeleteOutcomeIsKnown(t *testing.T) {
	s := open(t, testenv.Postgres(t))
	defer s.Close()
	const n = 120
	org, ids := seed(t, s, n)
	bg := context.Background()
	deleted := 0
	for i, id := range ids {
		ctx, cancel := context.WithTimeout(bg, time.Duration(i%40)*500*time.Microsecond)
		_, err := s.DeleteDataset(ctx, org.ID, id)
		cancel()
		_, gerr := s.Dataset(bg, org.ID, id)
		gone := silo.ErrorCode(gerr) == silo.ENOTFOUND
		if (err == nil) != gone {
			t.Fatalf("delete %d answered %v, but the dataset is gone: %v (%v)", i, err, gone, gerr)
		}
		if gone {
			deleted++
		}
	}
	t.Logf("%d deleted, %d kept", deleted, n-deleted)
	o, err := s.Org(bg, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(n-deleted) * 10; o.UsedBytes != want {
		t.Fatalf("org used %d, want %d", o.UsedBytes, want)
	}
}

package postgres_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/postgres"
)

// deadline returns the context deadline of try i: growing geometrically
// from 0.1 ms to about 50 ms and starting over, so that, however fast the
// machine, contexts end at every step of a transaction, COMMIT included.
func deadline(i int) time.Duration {
	return time.Duration(float64(100*time.Microsecond) * math.Pow(1.3, float64(i%25)))
}

func reserved(t *testing.T, s *postgres.Store, orgID string) string {
	t.Helper()
	bg := context.Background()
	now := time.Now()
	r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: orgID, Node: "n", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.OpenReservation(bg, r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(bg, r.ID, 10, 10); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// A create whose context ends at any moment, even while COMMIT is on the
// wire, answers nil exactly when the dataset was stored: an error must mean
// nothing was stored, so that clients can retry safely.
func TestCreateOutcomeIsKnown(t *testing.T) {
	s := open(t, testenv.Postgres(t))
	defer s.Close()
	org, _ := seed(t, s, 0)
	bg := context.Background()
	seq := 0
	newDataset := func() *silo.Dataset {
		seq++
		now := time.Now()
		return &silo.Dataset{ID: fmt.Sprintf("c-%06d", seq), OrgID: org.ID, Name: "c", Type: silo.TypeEmbedInput,
			Status: silo.StatusQueued, CreatedAt: now, UpdatedAt: now, SizeBytes: 10}
	}
	stored, refused := 0, 0
	for i := 0; i < 100; i++ {
		resID, d := reserved(t, s, org.ID), newDataset()
		ctx, cancel := context.WithTimeout(bg, deadline(i))
		err := s.CreateDataset(ctx, d, resID)
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
			if _, err := s.DropReservation(bg, resID, time.Time{}); err != nil {
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
	const n = 100
	org, ids := seed(t, s, n)
	bg := context.Background()
	deleted := 0
	for i, id := range ids {
		ctx, cancel := context.WithTimeout(bg, deadline(i))
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

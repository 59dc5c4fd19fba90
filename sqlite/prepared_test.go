package sqlite_test

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/sqlite"
)

// TestPreparedLookupsSeeWrites: the prepared key and org lookups, warm on
// every pooled reader connection, see a revocation and a usage change from
// the very next call on any connection (nothing but the statement is
// cached).
func TestPreparedLookupsSeeWrites(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "silo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	org := &silo.Org{ID: "org_p", Name: "p", QuotaBytes: 1 << 40, CreatedAt: now}
	key := &silo.Key{ID: "key_p", OrgID: org.ID, Role: silo.RoleWriter, Hash: silo.HashSecret("secret"), CreatedAt: now}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	// Many lookups at once, so that the statement is prepared on several
	// pooled connections.
	parallel := func(check func() error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for range 64 {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- check() }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	parallel(func() error {
		k, err := s.KeyByHash(ctx, key.Hash)
		if err == nil && k.Revoked() {
			t.Errorf("key revoked before RevokeKey")
		}
		_, err2 := s.Org(ctx, org.ID)
		return errors.Join(err, err2)
	})
	if _, err := s.RevokeKey(ctx, key.ID, now); err != nil {
		t.Fatal(err)
	}
	res := &silo.Reservation{ID: "res_p", OrgID: org.ID, Node: "n", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := s.OpenReservation(ctx, res); err != nil {
		t.Fatal(err)
	}
	d := &silo.Dataset{ID: "d-p", OrgID: org.ID, Name: "d", Type: silo.TypeEmbedInput, Status: silo.StatusQueued,
		CreatedAt: now, UpdatedAt: now, SizeBytes: 1234}
	if err := s.CreateDataset(ctx, d, res.ID); err != nil {
		t.Fatal(err)
	}
	parallel(func() error {
		k, err := s.KeyByHash(ctx, key.Hash)
		if err == nil && !k.Revoked() {
			t.Errorf("a lookup after RevokeKey returned the key unrevoked")
		}
		o, err2 := s.Org(ctx, org.ID)
		if err2 == nil && o.UsedBytes != 1234 {
			t.Errorf("a lookup after CreateDataset read usage %d, want 1234", o.UsedBytes)
		}
		return errors.Join(err, err2)
	})
}

package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/storetest"
)

func TestKeyWithOrg(t *testing.T) {
	storetest.TestKeyWithOrg(t, func(t *testing.T) silo.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "silo.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

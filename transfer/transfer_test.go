package transfer_test

import (
	"path/filepath"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/postgres"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The copier works across backends: SQLite -> PostgreSQL -> SQLite keeps
// every record, and each copy behaves as the source.
func TestTransferAcrossStores(t *testing.T) {
	lite := func(t *testing.T) silo.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "silo.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pg := func(t *testing.T) silo.Store {
		s, err := postgres.Open(t.Context(), testenv.Postgres(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	storetest.TestTransfer(t, lite, pg, lite)
	t.Run("back", func(t *testing.T) { storetest.TestTransfer(t, pg, lite, pg) })
}

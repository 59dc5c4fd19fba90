package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/storetest"
)

func TestConformance(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) silo.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "silo.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestParseURL(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:///var/lib/silo/silo.db": "/var/lib/silo/silo.db",
		"sqlite://rel/silo.db":           "rel/silo.db",
	} {
		got, err := sqlite.ParseURL(in)
		if err != nil || got != want {
			t.Errorf("ParseURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"sqlite://", "postgres://x", "::"} {
		if _, err := sqlite.ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
}

package postgres_test

import (
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/storetest"
)

func TestKeyWithOrg(t *testing.T) {
	storetest.TestKeyWithOrg(t, func(t *testing.T) silo.Store { return open(t, testenv.Postgres(t)) })
}

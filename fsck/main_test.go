package fsck_test

import (
	"testing"

	"github.com/silo-datasets/silo/internal/testenv"
)

// TestMain lets tests start a real PostgreSQL (testenv) and stops it after.
func TestMain(m *testing.M) { testenv.Main(m) }

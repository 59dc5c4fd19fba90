package disk_test

import (
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/storetest"
)

func TestConformance(t *testing.T) {
	storetest.TestBlobStore(t, func(t *testing.T) silo.BlobStore {
		s, err := disk.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

package s3_test

import (
	"testing"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/s3"
	"github.com/silo-datasets/silo/storetest"
)

// TestConformance runs the blob store suite on a store opened the way silo
// serve opens it: from its URL, with credentials from the environment, with
// the default part size.
func TestConformance(t *testing.T) {
	storetest.TestBlobStore(t, func(t *testing.T) silo.BlobStore {
		srv := testenv.S3(t)
		t.Setenv("AWS_ACCESS_KEY_ID", srv.AccessKey)
		t.Setenv("AWS_SECRET_ACCESS_KEY", srv.Secret)
		st, err := s3.Open(t.Context(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

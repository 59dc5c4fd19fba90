package testenv_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/minio/minio-go/v7"

	"github.com/silo-datasets/silo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestPostgresFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := testenv.Postgres(t), testenv.Postgres(t)
	if a == b {
		t.Fatalf("two calls gave the same database %s", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 't'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s sees a table created in %s", b, a)
	}
}

func TestS3FreshBuckets(t *testing.T) {
	ctx := context.Background()
	a, b := testenv.S3(t), testenv.S3(t)
	if a.Bucket == b.Bucket {
		t.Fatalf("two calls gave the same bucket %s", a.Bucket)
	}
	c := a.Client(t)
	want := []byte("hello")
	if _, err := c.PutObject(ctx, a.Bucket, "k", bytes.NewReader(want), int64(len(want)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	o, err := c.GetObject(ctx, a.Bucket, "k", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(o)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %q, %v; want %q", got, err, want)
	}
	for o := range c.ListObjects(ctx, b.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		t.Fatalf("fresh bucket %s holds %q (%v)", b.Bucket, o.Key, o.Err)
	}
}

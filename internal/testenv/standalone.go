package testenv

import (
	"context"
	"net/url"
	"time"

	"github.com/minio/minio-go/v7"
)

// Programs that are not tests (the benchmark, bench/) start the same
// servers through StartPostgres and StartS3, and call StopAll when done.

// StartPostgres starts (once) this process's PostgreSQL cluster, a
// throwaway one without fsync, and returns the URL of a fresh database on it.
func StartPostgres(ctx context.Context) (string, error) {
	pgOnce.Do(func() { pg, pgErr = startPostgres() })
	if pgErr != nil {
		return "", pgErr
	}
	name := uniqueName("silobench", "_")
	if err := pg.exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return pg.url(name), nil
}

// StartS3 starts (once) this process's versitygw and returns a fresh bucket.
func StartS3(ctx context.Context) (S3Server, error) {
	s3Once.Do(func() { gw, gwErr = startVersitygw() })
	if gwErr != nil {
		return S3Server{}, gwErr
	}
	bucket := uniqueName("silobench", "-")
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := gw.client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: gw.region}); err != nil {
		return S3Server{}, err
	}
	q := url.Values{"endpoint": {"http://" + gw.endpoint}, "region": {gw.region}}
	return S3Server{Endpoint: "http://" + gw.endpoint, Region: gw.region, AccessKey: gw.access, Secret: gw.secret,
		Bucket: bucket, URL: "s3://" + bucket + "?" + q.Encode()}, nil
}

// StopAll stops every server this process started and removes their
// directories.
func StopAll() { stopAll() }

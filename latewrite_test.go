package silo_test

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// lateBlobs holds back the Put that brings hold to 0: it reads the whole body,
// says so on reached, and stores it only when release is closed, whatever
// its context says meanwhile, as an object store commits a body it has whole
// after its client gave up.
type lateBlobs struct {
	silo.BlobStore
	hold    atomic.Int32 // Puts to let through before the one held, plus one
	reached chan string
	release chan struct{}
	landing atomic.Bool // the held Put is storing
}

func (b *lateBlobs) Put(ctx context.Context, key string, r io.Reader) (int64, error) {
	if b.hold.Add(-1) != 0 {
		return b.BlobStore.Put(ctx, key, r)
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	b.landing.Store(true)
	defer b.landing.Store(false)
	b.reached <- key
	<-b.release
	return b.BlobStore.Put(context.WithoutCancel(ctx), key, bytes.NewReader(body))
}

// TestJobGoneWriteLandsLate: a dataset deleted while its Avro part is being
// stored, and a sweep that deletes the part and forgets it before the write
// lands. The worker deletes its parts again once its writes returned, so
// nothing is left that the ledger does not know (fsck clean). It failed
// before: the late write stayed behind as an orphan blob.
func TestJobGoneWriteLandsLate(t *testing.T) {
	late := &lateBlobs{reached: make(chan string), release: make(chan struct{})}
	e := startFaulty(t, func(b silo.BlobStore) silo.BlobStore { late.BlobStore = b; return late })
	ctx := context.Background()
	late.hold.Store(2) // the create's file, then the Avro part of its validation
	id := e.mustCreate(t, false)
	key := <-late.reached
	if err := e.delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Sweep(ctx); err != nil { // deletes and forgets the part not yet there
		t.Fatal(err)
	}
	close(late.release)
	// The write lands now; the worker must take it away again.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		there := false
		err := e.bl.List(ctx, func(k string, _ int64) error { there = there || k == key; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if !there && !late.landing.Load() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Avro part %s that landed after the delete is still stored 10 s later (an orphan)", key)
		}
	}
	e.settled(t)
}

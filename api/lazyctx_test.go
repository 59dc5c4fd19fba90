package api

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLazyDeadline(t *testing.T) {
	t.Run("expires like WithDeadline", func(t *testing.T) {
		ctx := newLazyDeadline(context.Background(), time.Now().Add(20*time.Millisecond))
		cancel := ctx.stop
		defer cancel()
		child, stopChild := context.WithCancel(ctx) // a child made before the real one
		defer stopChild()
		<-ctx.Done()
		<-child.Done()
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
			t.Fatalf("Err %v, Cause %v; want DeadlineExceeded", ctx.Err(), context.Cause(ctx))
		}
	})
	t.Run("the parent's end ends it", func(t *testing.T) {
		parent, stopParent := context.WithCancelCause(context.Background())
		ctx := newLazyDeadline(parent, time.Now().Add(time.Hour))
		cancel := ctx.stop
		defer cancel()
		boom := errors.New("boom")
		stopParent(boom)
		<-ctx.Done()
		if !errors.Is(ctx.Err(), context.Canceled) || context.Cause(ctx) != boom {
			t.Fatalf("Err %v, Cause %v; want Canceled and the parent's cause", ctx.Err(), context.Cause(ctx))
		}
	})
	t.Run("the earlier deadline wins", func(t *testing.T) {
		soon := time.Now().Add(time.Minute)
		parent, stop := context.WithDeadline(context.Background(), soon)
		defer stop()
		ctx := newLazyDeadline(parent, soon.Add(time.Hour))
		cancel := ctx.stop
		defer cancel()
		if d, ok := ctx.Deadline(); !ok || !d.Equal(soon) {
			t.Fatalf("Deadline %v %v, want %v", d, ok, soon)
		}
	})
	t.Run("our values need nothing made; after stop it is cancelled", func(t *testing.T) {
		info := &requestInfo{id: "x"}
		ctx := newLazyDeadline(context.WithValue(context.Background(), infoKey, info), time.Now().Add(time.Hour))
		cancel := ctx.stop
		if ctx.Value(infoKey) != info {
			t.Fatal("requestInfo not found through the lazy context")
		}
		if ctx.ctx != nil {
			t.Fatal("reading the API's own value made the deadline context")
		}
		cancel()
		select {
		case <-ctx.Done():
		default:
			t.Fatal("Done not closed after the CancelFunc")
		}
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("Err after the CancelFunc: %v", ctx.Err())
		}
	})
	t.Run("cancel after use stops it", func(t *testing.T) {
		ctx := newLazyDeadline(context.Background(), time.Now().Add(time.Hour))
		cancel := ctx.stop
		done := ctx.Done()
		cancel()
		<-done
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("Err %v, want Canceled", ctx.Err())
		}
	})
}

// newLazyDeadline is what logRequests makes for a request with a deadline.
func newLazyDeadline(parent context.Context, at time.Time) *lazyDeadline {
	return &lazyDeadline{parent: parent, at: at}
}

package api

import (
	"context"
	"sync"
	"time"
)

// lazyDeadline is context.WithDeadline(parent, at), made only when someone
// asks for it. A deadline context costs a timer, a channel and a place in
// its parent's children map, and most requests (usage, whose key and org
// the embedded store answers from memory) never wait on Done: that cost was
// a twelfth of a usage request's CPU. Deadline answers without making it;
// Done, Err and Value make it first (Value for the context package's own
// lookups, such as context.Cause's), so what anyone observes is the real
// context. The API's own keys are the parent's and need nothing made.
// logRequests makes it as part of the request's served (deadlineOf says
// when), and stop is its CancelFunc.
type lazyDeadline struct {
	parent context.Context
	at     time.Time

	mu      sync.Mutex
	ctx     context.Context // the real one, once made
	cancel  context.CancelFunc
	stopped bool
}

func (l *lazyDeadline) real() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx == nil {
		if l.stopped {
			// Asked after its request ended (a context kept past the
			// handler): a cancelled one, as the real one would be by now.
			ctx, cancel := context.WithCancel(l.parent)
			cancel()
			l.ctx = ctx
		} else {
			l.ctx, l.cancel = context.WithDeadline(l.parent, l.at)
		}
	}
	return l.ctx
}

// stop is the CancelFunc: it cancels the real context if one was made.
func (l *lazyDeadline) stop() {
	l.mu.Lock()
	l.stopped = true
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (l *lazyDeadline) Deadline() (time.Time, bool) {
	if d, ok := l.parent.Deadline(); ok && d.Before(l.at) {
		return d, true
	}
	return l.at, true
}

func (l *lazyDeadline) Done() <-chan struct{} { return l.real().Done() }
func (l *lazyDeadline) Err() error            { return l.real().Err() }

func (l *lazyDeadline) Value(k any) any {
	if _, ours := k.(ctxKey); ours {
		return l.parent.Value(k)
	}
	return l.real().Value(k)
}

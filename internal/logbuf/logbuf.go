// Package logbuf buffers a log's lines in memory and writes them out at
// least every interval, when the buffer fills, and on Close, so that a
// busy server does not pay a write(2) for every request's log line.
package logbuf

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Size is the buffer: a flush writes at most this much at once.
const Size = 64 << 10

// Writer is an io.Writer safe for concurrent use. Each Write is kept whole
// (a log line is never split between two flushes unless it is larger
// than the buffer).
type Writer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	out    io.Writer
	closed bool
	stop   chan struct{}
	done   chan struct{}
}

// New buffers out, flushing at least every interval.
func New(out io.Writer, interval time.Duration) *Writer {
	w := &Writer{w: bufio.NewWriterSize(out, Size), out: out, stop: make(chan struct{}), done: make(chan struct{})}
	go w.flusher(interval)
	return w
}

func (w *Writer) flusher(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write keeps p for the next flush (after Close, it writes through).
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.out.Write(p)
	}
	if len(p) > w.w.Available() && w.w.Buffered() > 0 {
		if err := w.w.Flush(); err != nil {
			return 0, err
		}
	}
	return w.w.Write(p)
}

// Flush writes out what is buffered now.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Flush()
}

// Close flushes, stops the flusher, and makes later writes go straight
// through.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	err := w.w.Flush()
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	return err
}

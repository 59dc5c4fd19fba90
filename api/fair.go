package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/silo-datasets/silo"
)

// Fairness: one key cannot take the whole server.
//
//   - perKey caps each API key's requests in flight (and never lets one key
//     hold more than half of the server's slots, so that others always find
//     room); the excess gets 503 + Retry-After before its body is read;
//   - idleBody cuts off a request body that sends nothing for
//     BodyIdleTimeout, so that stalled uploads give back their slots and
//     their reservations.
//
// (A create's multipart part headers are bounded by internal/mpart.)

// Defaults for zero Server fields.
const (
	DefaultMaxInFlightPerKey = 32
	DefaultBodyIdleTimeout   = 30 * time.Second
)

// perKeyCap is the in-flight cap of one key: MaxInFlightPerKey, at most
// half of MaxInFlight; 0 when there is none.
func (s *Server) perKeyCap() int {
	n := s.MaxInFlightPerKey
	if n == 0 {
		n = DefaultMaxInFlightPerKey
	}
	if n < 0 {
		return 0
	}
	total := s.MaxInFlight
	if total == 0 {
		total = DefaultMaxInFlight
	}
	if total > 0 {
		n = min(n, max(1, total/2))
	}
	return n
}

// perKey answers 503 + Retry-After to a key that already has its cap of
// requests in flight. It runs after authentication.
func (s *Server) perKey(next http.Handler) http.Handler {
	limit := s.perKeyCap()
	if limit == 0 {
		return next
	}
	var mu sync.Mutex
	inflight := map[string]int{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := callerOf(r)
		if c == nil || c.Key == nil {
			next.ServeHTTP(w, r)
			return
		}
		id := c.Key.ID
		mu.Lock()
		over := inflight[id] >= limit
		if !over {
			inflight[id]++
		}
		mu.Unlock()
		if over {
			w.Header().Set("Connection", "close") // the body is not read
			w.Header().Set("Retry-After", "1")
			writeError(w, r, silo.Errorf(silo.EUNAVAILABLE, "This API key has %d requests in flight, its limit; retry when one of them has finished.", limit))
			return
		}
		defer func() {
			mu.Lock()
			if inflight[id]--; inflight[id] <= 0 {
				delete(inflight, id)
			}
			mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) bodyIdleTimeout() time.Duration {
	if s.BodyIdleTimeout == 0 {
		return DefaultBodyIdleTimeout
	}
	return s.BodyIdleTimeout
}

// idleBody gives every read of a request body BodyIdleTimeout to bring a
// byte, through the connection's read deadline; a body that sends nothing
// that long ends with ECANCELED (499 in the logs), and the upload's
// deferred Abort releases its reservation.
type idleBody struct {
	io.ReadCloser
	w    http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	if b.rc.SetReadDeadline(time.Now().Add(b.idle)) != nil {
		return b.ReadCloser.Read(p) // not supported (HTTP/2 test recorders): no idle cut-off
	}
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// Close the connection after the answer: otherwise net/http would
		// first try to read the rest of the body, from a client that
		// sends nothing.
		b.w.Header().Set("Connection", "close")
		return n, silo.Errorf(silo.ECANCELED, "The request body sent nothing for %s and was cut off; nothing was stored.", b.idle)
	}
	if err != nil {
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

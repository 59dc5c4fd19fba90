package api_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// pingCounter counts the store's readiness probes (each one commits a
// write).
type pingCounter struct {
	silo.Store
	pings atomic.Int64
}

func (p *pingCounter) Ping(ctx context.Context) error {
	p.pings.Add(1)
	return p.Store.Ping(ctx)
}

// TestReadyzFloodProbesOncePerSecond: eight clients calling /readyz (no
// key needed) as fast as they can make the node probe its stores at most
// once a second, every call still answered 200; another organisation's
// creates meanwhile keep their latency (logged with and without the flood).
func TestReadyzFloodProbesOncePerSecond(t *testing.T) {
	st := &pingCounter{Store: openSQLite(t)}
	n := startHost(t, st, 30*time.Second, nil)
	_, key := n.org(t, "other", silo.RoleWriter)
	const creates = 60
	calm50, calm99 := quantiles(createLatencies(t, n.URL, key, "calm", creates))

	before := st.pings.Load()
	stop := make(chan struct{})
	var calls, bad atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(n.URL + "/readyz")
				if err != nil {
					bad.Add(1)
					continue
				}
				resp.Body.Close()
				calls.Add(1)
				if resp.StatusCode != 200 {
					bad.Add(1)
				}
			}
		}()
	}
	// The flood runs at least two seconds, and while the creates are timed.
	waitFor(t, func() bool { return calls.Load() >= 100 })
	flood50, flood99 := quantiles(createLatencies(t, n.URL, key, "flood", creates))
	waitFor(t, func() bool { return time.Since(start) >= 2*time.Second })
	close(stop)
	wg.Wait()
	took := time.Since(start)
	pings := st.pings.Load() - before
	t.Logf("%d /readyz calls in %v made %d store probes; another org's create p50 %v p99 %v alone, p50 %v p99 %v during the flood",
		calls.Load(), took.Round(time.Millisecond), pings, calm50, calm99, flood50, flood99)
	if bad.Load() > 0 {
		t.Errorf("%d /readyz calls failed or did not answer 200", bad.Load())
	}
	if limit := int64(took/silo.ReadyEvery) + 2; pings > limit {
		t.Errorf("%d store probes in %v, want at most %d (one a second)", pings, took, limit)
	}
	if flood99 > 2*time.Second {
		t.Errorf("another org's create p99 during the flood: %v, want under 2s", flood99)
	}
}

// createLatencies makes n small creates one after another and returns how
// long each took, sorted; any answer but 200 fails the test.
func createLatencies(t *testing.T, base, key, name string, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for i := range n {
		body, ctype := multipartBody(t, [2]string{"data", embedJSONL})
		req := newRequest(t, "POST", fmt.Sprintf("%s/v1/datasets?name=%s-%d&type=embed-input", base, name, i), body)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", ctype)
		start := time.Now()
		st, out2 := do(t, req)
		if st != 200 {
			t.Fatalf("create %d of another organisation: %d %v", i, st, out2)
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// loadResult is what one load run measured.
type loadResult struct {
	RPS      float64
	P50, P99 time.Duration
	N        int
	// CPUPerReq is the server's CPU time (user + system, all its threads)
	// over the measured run divided by the requests answered in it, when
	// the run was told which process serves: unlike req/s it does not move
	// with what else the machine runs at the time.
	CPUPerReq time.Duration
}

// load is the one load generator used for silo and its baselines alike:
// conc goroutines, each on its own keep-alive connection, send GET url
// back to back for dur (after a short warm-up) and record every latency.
// Any status but 200 aborts the run: a benchmark of errors is no benchmark.
// srv, when not nil, is the process that serves url (see CPUPerReq).
func load(srv *proc, url, key string, conc int, dur time.Duration) (loadResult, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: conc, MaxConnsPerHost: conc, DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	get := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return nil
	}
	return measure(srv, conc, dur, func(ctx context.Context) error { return get(ctx) })
}

// measure runs do back to back on conc goroutines for dur (after a short
// warm-up) and records every latency; the first error aborts the run. srv,
// when not nil, is the process that answers do (see CPUPerReq).
func measure(srv *proc, conc int, dur time.Duration, do func(ctx context.Context) error) (loadResult, error) {
	run := func(d time.Duration, record bool) ([][]time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		lats := make([][]time.Duration, conc)
		errs := make(chan error, conc)
		var wg sync.WaitGroup
		for i := range conc {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					t := time.Now()
					if err := do(context.Background()); err != nil {
						errs <- err
						cancel()
						return
					}
					if record {
						lats[i] = append(lats[i], time.Since(t))
					}
				}
			}()
		}
		wg.Wait()
		select {
		case err := <-errs:
			return nil, err
		default:
		}
		return lats, nil
	}
	if _, err := run(min(dur/4, time.Second), false); err != nil {
		return loadResult{}, err
	}
	var cpu0, cpu1 time.Duration
	if srv != nil {
		var err error
		if cpu0, err = srv.cpuTime(); err != nil {
			return loadResult{}, err
		}
	}
	start := time.Now()
	lats, err := run(dur, true)
	elapsed := time.Since(start)
	if err != nil {
		return loadResult{}, err
	}
	if srv != nil {
		if cpu1, err = srv.cpuTime(); err != nil {
			return loadResult{}, err
		}
	}
	all := slices.Concat(lats...)
	if len(all) == 0 {
		return loadResult{}, fmt.Errorf("no request completed in %v", dur)
	}
	slices.Sort(all)
	return loadResult{
		RPS:       float64(len(all)) / elapsed.Seconds(),
		P50:       all[len(all)/2],
		P99:       all[len(all)*99/100],
		N:         len(all),
		CPUPerReq: (cpu1 - cpu0) / time.Duration(len(all)),
	}, nil
}

// medianLoad combines the runs of one side of a comparison: the median of
// each figure.
func medianLoad(rs []loadResult) loadResult {
	var p50, p99, cpu []time.Duration
	n := 0
	for _, r := range rs {
		p50, p99, cpu, n = append(p50, r.P50), append(p99, r.P99), append(cpu, r.CPUPerReq), n+r.N
	}
	return loadResult{RPS: median(rpsOf(rs)), P50: median(p50), P99: median(p99), N: n, CPUPerReq: median(cpu)}
}

// rpsOf is each run's requests per second.
func rpsOf(rs []loadResult) []float64 {
	var rps []float64
	for _, r := range rs {
		rps = append(rps, r.RPS)
	}
	return rps
}

// cpuOf is each run's server CPU per request, in µs.
func cpuOf(rs []loadResult) []float64 {
	var cpu []float64
	for _, r := range rs {
		cpu = append(cpu, float64(r.CPUPerReq)/float64(time.Microsecond))
	}
	return cpu
}

// inTurn returns a and b in the order round gives them: a first in even
// rounds, b first in odd ones, so that neither of two compared kinds
// always runs after the other (and after what the other leaves behind).
func inTurn[T any](round int, a, b T) []T {
	if round%2 == 1 {
		return []T{b, a}
	}
	return []T{a, b}
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

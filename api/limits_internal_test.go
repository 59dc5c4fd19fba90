package api

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// Buckets of keys idle for longer than a full refill are dropped, so a
// stream of distinct keys cannot grow the limiter without bound; a dropped
// bucket comes back full, as it would have been.
func TestKeyLimiterEvictsIdleBuckets(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newKeyLimiter(rate.Every(time.Second), 2) // refills in 2 s
	l.now = func() time.Time { return now }
	for i := 0; i < 1000; i++ {
		l.allow(fmt.Sprint("key", i))
	}
	if l.size() != 1000 {
		t.Fatalf("%d buckets", l.size())
	}
	now = now.Add(3 * time.Second)
	if ok, _ := l.allow("fresh"); !ok || l.size() != 1 {
		t.Fatalf("after the idle period: allowed %v, %d buckets, want 1", ok, l.size())
	}
	l.allow("fresh")
	if ok, wait := l.allow("fresh"); ok || wait <= 0 || wait > time.Second {
		t.Fatalf("third request in the burst of 2: allowed %v, wait %v", ok, wait)
	}
}

func TestParseRateLimit(t *testing.T) {
	for _, tc := range []struct {
		in    string
		limit rate.Limit
		burst int
		ok    bool
	}{
		{"500/min", rate.Limit(500.0 / 60), 500, true},
		{"10/sec", 10, 10, true},
		{"3600/hour", 1, 3600, true},
		{"0", 0, 0, true},
		{"off", 0, 0, true},
		{"500", 0, 0, false},
		{"-1/min", 0, 0, false},
		{"5/fortnight", 0, 0, false},
		{"x/min", 0, 0, false},
	} {
		l, b, err := ParseRateLimit(tc.in)
		if (err == nil) != tc.ok || l != tc.limit || b != tc.burst {
			t.Errorf("ParseRateLimit(%q) = %v, %d, %v", tc.in, l, b, err)
		}
	}
}

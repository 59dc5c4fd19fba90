package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
)

// limits are serve's overload, abuse and TLS settings, parsed.
type limits struct {
	rate           rate.Limit
	burst          int
	maxInFlight    int
	requestTimeout time.Duration
	tlsCert        string
	tlsKey         string
}

func parseLimits(c *Config) (*limits, error) {
	l := &limits{maxInFlight: c.MaxInFlight, tlsCert: c.TLSCert, tlsKey: c.TLSKey}
	var err error
	if l.rate, l.burst, err = api.ParseRateLimit(c.RateLimit); err != nil {
		return nil, fmt.Errorf("--rate-limit: %w", err)
	}
	if c.MaxInFlight <= 0 {
		return nil, fmt.Errorf("--max-inflight: want a positive number, not %d", c.MaxInFlight)
	}
	if l.requestTimeout, err = silo.ParseDuration(c.RequestTimeout); err != nil {
		return nil, fmt.Errorf("--request-timeout: %w", err)
	}
	if l.requestTimeout == 0 {
		l.requestTimeout = -1 // 0 turns the deadline off
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, fmt.Errorf("--tls-cert and --tls-key go together")
	}
	return l, nil
}

func (l *limits) apply(s *api.Server) {
	s.RateLimit, s.RateBurst = l.rate, l.burst
	s.MaxInFlight, s.RequestTimeout = l.maxInFlight, l.requestTimeout
	s.TLSCert, s.TLSKey = l.tlsCert, l.tlsKey
	// A moment to tell clients with open connections to go elsewhere.
	s.DrainDelay = time.Second
}

// envInt is env for a number flag; a malformed value is left for the flag
// check to report.
func envInt(name string, def int) int {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
		return -1
	}
	return def
}

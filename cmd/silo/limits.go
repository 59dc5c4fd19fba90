package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/time/rate"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/disk"
	"github.com/silo-datasets/silo/sqlite"
)

// limits are serve's overload, abuse and TLS settings, parsed.
type limits struct {
	rate           rate.Limit
	burst          int
	maxInFlight    int
	requestTimeout time.Duration
	tlsCert        string
	tlsKey         string
	minFreeSpace   int64
	perKey         int
	bodyIdle       time.Duration
	writeTimeout   time.Duration
}

// edgeConfig is serve's configuration of free space and fairness.
type edgeConfig struct {
	MinFreeSpace      string
	MaxInFlightPerKey int
	BodyIdleTimeout   string
	WriteTimeout      string
}

func edgeFlags(f *pflag.FlagSet, c *edgeConfig) {
	f.IntVar(&c.MaxInFlightPerKey, "max-inflight-per-key", envInt("SILO_MAX_INFLIGHT_PER_KEY", api.DefaultMaxInFlightPerKey), "one API key's requests served at once (at most half of --max-inflight); more get 503 + Retry-After (SILO_MAX_INFLIGHT_PER_KEY)")
	f.StringVar(&c.BodyIdleTimeout, "body-idle-timeout", env("SILO_BODY_IDLE_TIMEOUT", "30s"), "a request body that sends nothing this long is cut off and its reservation released (SILO_BODY_IDLE_TIMEOUT)")
	f.StringVar(&c.WriteTimeout, "write-timeout", env("SILO_WRITE_TIMEOUT", "30s"), "one write of an answer that is not a file (a download, a backup) may wait this long for a client to read; a slower client is cut off and its slot given back (SILO_WRITE_TIMEOUT)")
	f.StringVar(&c.MinFreeSpace, "min-free-space", env("SILO_MIN_FREE_SPACE", "1GB"), "free space kept on the local data directory in embedded mode: /readyz fails and creates get 503 below it (SILO_MIN_FREE_SPACE)")
}

// localDisk is the local directory whose free space silo guards: where the
// blob files are, or else where the SQLite database is; nil when neither
// lives on the local disk.
func localDisk(c *Config, minFree int64) *silo.LocalDisk {
	if strings.HasPrefix(c.Blobs, "file:") {
		if dir, err := disk.ParseURL(c.Blobs); err == nil {
			return &silo.LocalDisk{Dir: dir, MinFree: minFree}
		}
	}
	if strings.HasPrefix(c.DB, "sqlite:") {
		if path, err := sqlite.ParseURL(c.DB); err == nil {
			return &silo.LocalDisk{Dir: filepath.Dir(path), MinFree: minFree}
		}
	}
	return nil
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
	if l.minFreeSpace, err = silo.ParseSize(c.MinFreeSpace); err != nil {
		return nil, fmt.Errorf("--min-free-space: %w", err)
	}
	if c.MaxInFlightPerKey <= 0 {
		return nil, fmt.Errorf("--max-inflight-per-key: want a positive number, not %d", c.MaxInFlightPerKey)
	}
	l.perKey = c.MaxInFlightPerKey
	if l.bodyIdle, err = silo.ParseDuration(c.BodyIdleTimeout); err != nil || l.bodyIdle <= 0 {
		return nil, fmt.Errorf("--body-idle-timeout: want a positive duration such as 30s, not %q", c.BodyIdleTimeout)
	}
	if l.writeTimeout, err = silo.ParseDuration(c.WriteTimeout); err != nil || l.writeTimeout <= 0 {
		return nil, fmt.Errorf("--write-timeout: want a positive duration such as 30s, not %q", c.WriteTimeout)
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
	s.MaxInFlightPerKey, s.BodyIdleTimeout, s.WriteTimeout = l.perKey, l.bodyIdle, l.writeTimeout
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

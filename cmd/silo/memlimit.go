package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/silo-datasets/silo"
)

// memoryLimit is the soft memory limit serve gives the Go runtime
// (debug.SetMemoryLimit): near it the GC collects more often instead of
// letting the heap grow to twice what is live, so a long validation or
// many uploads at once do not take the machine's memory by surprise.
//
//	auto   a quarter of the memory the process may use (the cgroup's limit
//	       or the machine's RAM); GOMEMLIMIT, if set, wins
//	0, off no limit
//	SIZE   that many bytes (64MiB, 1GB, ...)
//
// It is a soft limit: a heap that truly needs more still gets it.
func memoryLimit(flag string) (limit int64, source string, err error) {
	switch strings.ToLower(strings.TrimSpace(flag)) {
	case "", "auto":
		if v := os.Getenv("GOMEMLIMIT"); v != "" {
			return debug.SetMemoryLimit(-1), "GOMEMLIMIT", nil
		}
		total := machineMemory()
		if total <= 0 {
			return math.MaxInt64, "unknown machine memory", nil
		}
		return max(total/4, minMemoryLimit), "a quarter of " + silo.FormatSize(total), nil
	case "0", "off":
		return math.MaxInt64, "off", nil
	}
	n, err := silo.ParseSize(flag)
	if err != nil || n < minMemoryLimit {
		return 0, "", fmt.Errorf("--memory-limit: want auto, off or a size of at least %s, not %q", silo.FormatSize(minMemoryLimit), flag)
	}
	return n, "--memory-limit", nil
}

// validationGC is the GC percent serve runs validations with
// (silo.Service.ValidationGC): 25, so that the heap grows to 1.25 × what is
// live rather than 2 ×, unless GOGC is set, which wins. A validation keeps
// ~16 MB live and allocates little (a 4 GiB one ran 7 GCs at 50, 22 at
// 25), so the lower percent costs no CPU that shows (upload + validation
// of 4 GiB: 17.5-18.8 CPU-s at 25, 17.8-19.1 at 50, 3 alternating runs)
// and takes the server's peak RSS from 54-58 MB to 51-52 (2026-12-06;
// bench/OPTIMISATIONS.md, seventh pass). Only while a validation runs: at
// 50 all the time, the usage requests' throughput fell ~10% (make bench
// workload 1), for no memory to speak of; requests served while one runs
// still make the GC run more often than at 100, as that measured.
func validationGC() int {
	if os.Getenv("GOGC") != "" {
		return 0
	}
	return 25
}

// minMemoryLimit: below this the GC would run all the time for silo's own
// buffers.
const minMemoryLimit = 32 << 20

// machineMemory is what this process may use: the cgroup's memory limit
// (v2 or v1) when there is one, else the machine's RAM; 0 if unknown.
func machineMemory() int64 {
	total := memTotal()
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
		if err == nil && n > 0 && (total == 0 || n < total) {
			total = n // "max" (no limit) does not parse
		}
	}
	return total
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

// memLimitText is the limit as the listening log line shows it.
func memLimitText(n int64, source string) string {
	if n == math.MaxInt64 {
		return "off"
	}
	return silo.FormatSize(n) + " (" + source + ")"
}

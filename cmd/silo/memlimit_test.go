package main

import (
	"math"
	"testing"
)

// TestMemoryLimit: auto is a quarter of what the machine (or cgroup)
// allows, off is no limit, a size is taken as given, nonsense refused.
func TestMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	total := machineMemory()
	if total <= 0 {
		t.Fatalf("machine memory unknown: %d", total)
	}
	if n, _, err := memoryLimit("auto"); err != nil || n != max(total/4, minMemoryLimit) {
		t.Fatalf("auto: %d %v, want a quarter of %d", n, err, total)
	}
	if n, _, err := memoryLimit("off"); err != nil || n != math.MaxInt64 {
		t.Fatalf("off: %d %v", n, err)
	}
	if n, _, err := memoryLimit("96MiB"); err != nil || n != 96<<20 {
		t.Fatalf("96MiB: %d %v", n, err)
	}
	for _, bad := range []string{"lots", "1MiB", "-5"} {
		if _, _, err := memoryLimit(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

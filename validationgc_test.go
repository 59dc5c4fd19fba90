package silo

import (
	"runtime/debug"
	"testing"
)

// gcNow reads the GC percent.
func gcNow() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestValidationGC: the GC percent is the validations' while any runs, and
// what it was once the last is done; 0 leaves it alone.
func TestValidationGC(t *testing.T) {
	before := debug.SetGCPercent(80)
	defer debug.SetGCPercent(before)
	s := &Service{ValidationGC: 50}
	done1 := s.validationGC()
	done2 := s.validationGC()
	if p := gcNow(); p != 50 {
		t.Fatalf("GC percent %d while two validations run, want 50", p)
	}
	done1()
	if p := gcNow(); p != 50 {
		t.Fatalf("GC percent %d while one validation runs, want 50", p)
	}
	done2()
	if p := gcNow(); p != 80 {
		t.Fatalf("GC percent %d after the validations, want 80 as before", p)
	}
	(&Service{}).validationGC()()
	if p := gcNow(); p != 80 {
		t.Fatalf("GC percent %d after a validation without ValidationGC, want 80", p)
	}
}

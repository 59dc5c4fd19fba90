package silo

import "testing"

// A backup pins everything while it takes its snapshot, then only what the
// snapshot refers to; pins of two backups add up.
func TestPins(t *testing.T) {
	var p Pins
	if p.Pinned("a") || p.Active() {
		t.Fatal("pinned before any backup")
	}
	all := p.PinAll()
	if !p.Pinned("anything") || !p.Active() {
		t.Fatal("PinAll does not pin everything")
	}
	one := p.Pin([]string{"a", "b"})
	two := p.Pin([]string{"b"})
	all()
	all() // idempotent
	if p.Pinned("c") || !p.Pinned("a") || !p.Pinned("b") {
		t.Fatal("after PinAll let go, only the pinned keys stay")
	}
	one()
	if p.Pinned("a") || !p.Pinned("b") {
		t.Fatal("b is still pinned by the second backup, a by none")
	}
	two()
	if p.Pinned("b") || p.Active() {
		t.Fatal("pins left after every backup let go")
	}
}

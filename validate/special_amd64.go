package validate

import "golang.org/x/sys/cpu"

var useAVX2 = cpu.X86.HasAVX2

// indexSpecialAVX2 is indexSpecial over b's whole 32-byte blocks: the index
// of the first special byte in them, or their length, len(b)&^31.
//
//go:noescape
func indexSpecialAVX2(b []byte) int

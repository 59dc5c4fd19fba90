//go:build !unix

package validate

import "unsafe"

// offHeap is heap memory where there is no mmap: see offheap_unix.go.
type offHeap struct{ b []byte }

func allocOffHeap(n int) offHeap { return offHeap{b: make([]byte, n)} }

func (m offHeap) ptr() unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(m.b)) }

func (m *offHeap) free() { *m = offHeap{} }

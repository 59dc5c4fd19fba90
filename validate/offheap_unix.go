//go:build unix

package validate

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// offHeap is memory outside the Go heap, for large pointer-free arrays
// whose end is known (the duplicate set's filter): the GC neither counts
// it toward its goal nor keeps it after free. Memory the kernel cannot
// give is taken from the heap instead.
type offHeap struct {
	b      []byte
	mapped bool
}

func allocOffHeap(n int) offHeap {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return offHeap{b: make([]byte, n)}
	}
	return offHeap{b: b, mapped: true}
}

func (m offHeap) ptr() unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(m.b)) }

func (m *offHeap) free() {
	if m.mapped {
		unix.Munmap(m.b)
	}
	*m = offHeap{}
}

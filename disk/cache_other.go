//go:build !linux

package disk

import "os"

func dropCache(f *os.File, off, n int64) {}

func adviseSequential(f *os.File) {}

package disk

import (
	"io"
	"os"
)

// Blobs bypass the page cache as far as a portable program can: a blob is
// written once and read whole once or a few times (validation, a download,
// a backup), and caching its pages buys nothing but costs much:
//
//   - A Put drops what each background fsync made durable (syncer), and
//     the rest after its final fsync; a reader drops what it has read
//     (seqReader). So a 4 GiB upload holds ~128 MiB of cache at most
//     instead of 4 GiB, and it does not push the database's pages and
//     everything else out of the cache on its way through.
//   - Pages that are recycled right away are cheap; pages taken fresh from
//     free memory are not, on virtual machines that give free memory back
//     to their host (free page reporting, as on the 2-core machines silo is
//     measured on): there the first touch of each page is a host fault, and
//     a plain buffered write or read of 1 GiB cost 2.5-3 CPU-seconds of
//     kernel time (copy_folio_from_iter_atomic) against 0.4 with the cache
//     dropped behind it; a 1 GiB upload went from 2.6-2.9 s to 1.9-2.0 s.
//     O_DIRECT would avoid the cache too, but appending with it ran at
//     ~600 MB/s on ext4 here against ~1.2 GB/s for buffered writes dropped
//     behind, and a silo built with it uploaded 1 GiB at 390-420 MB/s
//     against 610-620 (and validated more slowly); it would also need
//     aligned buffers and a fallback for the file systems that refuse it
//     (tmpfs). Asking the kernel to read further ahead (WILLNEED) did not
//     help either: its read-ahead here is 8 MiB already.
//   - Reading with O_DIRECT was tried for validation too (2026-12-06): the
//     page-cache copy of a just-uploaded 1 GiB blob cost ~0.65 CPU-s in the
//     validating server (its pages partly come from memory the host took
//     back) against ~0.1 when they are recycled, and O_DIRECT did cut the
//     reading goroutine's share from 18% to 10%. But the time from the 200
//     to `validated` got worse, not better: 1.61-1.74 × the upload against
//     1.11-1.15 reading one 1 MiB buffer at a time, and 1.57-1.69 against
//     1.25-1.26 with a goroutine reading 4 MiB ahead; the whole process's
//     CPU did not go down (3.6-3.9 s against 3.1-3.6).
//
// Dropping is advice: where it is not supported (another OS, a file system
// that ignores it), blobs are simply cached as before.

// seqDropEvery is how much a seqReader reads between two drops. 2 MiB made
// a 1 GiB validation much slower (200 → validated 1.62-1.81 × the upload
// against 1.17-1.26, 3 alternating runs, 2026-12-06); 64 MiB changed
// nothing (1.20-1.30 against 1.19-1.30).
const seqDropEvery = 16 << 20

// seqReader reads a blob front to back, asking the kernel to read ahead
// and dropping what it has read from the page cache behind itself.
type seqReader struct {
	f       *os.File
	off     int64 // where the next Read starts
	dropped int64 // what is before it has been dropped
}

func newSeqReader(f *os.File, off int64) *seqReader {
	adviseSequential(f)
	return &seqReader{f: f, off: off, dropped: off}
}

func (r *seqReader) Read(p []byte) (int, error) {
	n, err := r.f.Read(p)
	r.off += int64(n)
	if r.off-r.dropped >= seqDropEvery || (err == io.EOF && r.off > r.dropped) {
		dropCache(r.f, r.dropped, r.off-r.dropped)
		r.dropped = r.off
	}
	return n, err
}

func (r *seqReader) Close() error { return r.f.Close() }

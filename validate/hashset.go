package validate

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
	"math/bits"
	"os"
	"slices"
	"sort"
	"unsafe"
)

// hashSet remembers which keys (custom_ids, conversations, queries) were
// seen, in 8 bytes per key, never the keys themselves. Two different keys
// collide with probability ~n²/2⁶⁵ (1e-5 at 20M keys): an accepted risk of
// one false "duplicate" in a pathological upload, against keeping every key.
//
// New hashes go to a map of at most hashSetMemKeys; when it fills, it is
// sorted and merged, streaming, into one sorted run in an unlinked temp
// file, whose page cache is the kernel's to manage, not the process's heap.
// What stays in memory for the run is the first key of each 4 KiB page (8
// bytes per 512 keys) and a Bloom filter of under 1 byte per key, which
// answers "not in the run" for all but ~5-8% of new keys without a system
// call (a pread costs ~7 µs on a loaded 2-core machine, close to a row).
// The others read the one page that may hold the key. The set answers
// exactly as if every hash were in memory, in under 1/8 of the memory of the
// 8-byte hashes alone and without the whole-slice copies of a sorted merge.
type hashSet struct {
	seed   maphash.Seed
	recent keyTable
	run    *hashRun // nil until the first spill
	dir    string   // where runs go; "" is os.TempDir()
	max    int      // hashes kept in memory before a spill
	// noSpill is set once a spill failed (no temp space): the set then
	// stays exact in memory rather than answer wrongly.
	noSpill bool
	// err is a failed read of the run: the set's answers from then on are
	// not exact, so the validation must fail with it (run.setsErr).
	err error
	// sink keeps prefetch's loads from being optimised away.
	sink uint64
}

// hashSetMemKeys is how many hashes a set holds in memory before it
// spills: ~5 MB of map, the same for a 256 MiB and a 4 GiB upload.
const hashSetMemKeys = 1 << 18

func newHashSet() *hashSet {
	return &hashSet{seed: maphash.MakeSeed(), max: hashSetMemKeys}
}

// add records s and reports whether it was new.
func (h *hashSet) add(s string) bool { return h.addHash(maphash.String(h.seed, s)) }

// addHash records a key hashed with h.seed and reports whether it was new.
func (h *hashSet) addHash(k uint64) bool {
	if h.recent.has(k) {
		return false
	}
	if h.run != nil {
		seen, err := h.run.has(k)
		if err != nil && h.err == nil {
			h.err = err
		}
		if seen {
			return false
		}
	}
	h.recent.insert(k)
	if h.recent.n >= h.max && !h.noSpill {
		h.noSpill = h.spill() != nil
	}
	return true
}

// prefetch reads the memory that looking k up will read (its slot in the
// table, its block of the run's filter) without waiting on it: called for
// many keys in a row, the misses overlap. The answer is the same without.
func (h *hashSet) prefetch(k uint64) {
	if t := &h.recent; t.slots != nil {
		h.sink ^= t.slots[t.slot(k)]
	}
	if h.run != nil && len(h.run.bloom.blocks) > 0 {
		blk, _ := h.run.bloom.pos(k)
		h.sink ^= blk[0]
	}
}

func (h *hashSet) len() int {
	n := h.recent.len()
	if h.run != nil {
		n += int(h.run.n)
	}
	return n
}

// spill merges the map into the run on disk.
func (h *hashSet) spill() error {
	sorted := h.recent.sortInPlace()
	next, err := mergeRun(h.dir, h.run, sorted)
	if err != nil {
		// The keys stay in memory (noSpill): back into the table.
		keys := slices.Clone(sorted)
		h.recent.reset()
		for _, k := range keys {
			h.recent.insert(k)
		}
		return err
	}
	h.run.close()
	h.run = next
	h.recent.reset()
	return nil
}

// close removes the set's temp file and returns the error that made its
// answers inexact, if any; a set is not used after.
func (h *hashSet) close() error {
	if h == nil {
		return nil
	}
	h.run.close()
	h.run = nil
	return h.err
}

// setHolder is implemented by the rules that keep hash sets, so that the
// run frees their temp files and fails on their I/O errors.
type setHolder interface {
	hashSets() []*hashSet
}

// hashRun is a sorted run of hashes in an unlinked temp file.
type hashRun struct {
	f     *os.File
	n     int64
	first []uint64 // the first key of each page
	bloom bloom
	page  [hashPageKeys * 8]byte
}

const hashPageKeys = 512

// mergeRun writes old's keys and add (sorted) into a new run, streaming.
func mergeRun(dir string, old *hashRun, add []uint64) (*hashRun, error) {
	f, err := os.CreateTemp(dir, "silo-hashset-*")
	if err != nil {
		return nil, fmt.Errorf("validate: duplicate set spill: %w", err)
	}
	// Unlinked at once: nothing is left behind whatever happens to the
	// process, and the space is freed on close.
	os.Remove(f.Name())
	out := &hashRun{f: f}
	n := int64(len(add))
	if old != nil {
		n += old.n
	}
	// The filter grows by half again when the run outgrows it, rebuilt from
	// every key the merge writes; otherwise the old one takes the new keys.
	rebuild := old == nil || n > old.bloom.capacity
	if rebuild {
		// The old filter goes first: no lookup happens during the merge,
		// and both at once would be the set's peak of memory. If the merge
		// fails, the old run stays without one (every lookup reads its
		// page: slower, still exact).
		if old != nil {
			old.bloom.release()
		}
		out.bloom = newBloom(n + n/4)
	} else {
		out.bloom, old.bloom = old.bloom, bloom{}
		for _, k := range add {
			out.bloom.add(k)
		}
	}
	w := bufio.NewWriterSize(f, 256<<10)
	var b [8]byte
	put := func(k uint64) {
		if out.n%hashPageKeys == 0 {
			out.first = append(out.first, k)
		}
		if rebuild {
			out.bloom.add(k)
		}
		binary.LittleEndian.PutUint64(b[:], k)
		w.Write(b[:])
		out.n++
	}
	if old != nil {
		r := bufio.NewReaderSize(io.NewSectionReader(old.f, 0, old.n*8), 256<<10)
		var have bool
		var k uint64
		for i := int64(0); i < old.n || have; {
			if !have {
				if _, err := io.ReadFull(r, b[:]); err != nil {
					out.close()
					return nil, fmt.Errorf("validate: duplicate set spill: %w", err)
				}
				k, have, i = binary.LittleEndian.Uint64(b[:]), true, i+1
			}
			for len(add) > 0 && add[0] < k {
				put(add[0])
				add = add[1:]
			}
			put(k)
			have = false
		}
	}
	for _, k := range add {
		put(k)
	}
	if err := w.Flush(); err != nil {
		out.close()
		return nil, fmt.Errorf("validate: duplicate set spill: %w", err)
	}
	return out, nil
}

// has looks k up: the page that may hold it, read with one pread.
func (r *hashRun) has(k uint64) (bool, error) {
	if !r.bloom.mayHave(k) {
		return false, nil
	}
	p := sort.Search(len(r.first), func(i int) bool { return r.first[i] > k }) - 1
	if p < 0 {
		return false, nil
	}
	keys := min(hashPageKeys, r.n-int64(p)*hashPageKeys)
	buf := r.page[:keys*8]
	if _, err := r.f.ReadAt(buf, int64(p)*hashPageKeys*8); err != nil {
		return false, fmt.Errorf("validate: duplicate set: reading a spilled page: %w", err)
	}
	lo, hi := 0, int(keys)
	for lo < hi {
		m := (lo + hi) / 2
		v := binary.LittleEndian.Uint64(buf[m*8:])
		switch {
		case v == k:
			return true, nil
		case v < k:
			lo = m + 1
		default:
			hi = m
		}
	}
	return false, nil
}

func (r *hashRun) close() {
	if r != nil {
		r.f.Close()
		r.bloom.release()
	}
}

// bloom is a blocked Bloom filter of the run's hashes: the key's own high
// bits pick a 64-byte block (one cache line), a remix of all its bits picks
// four bits in it. At 6-7.5 bits per key it lets ~5-8% of absent keys
// through to a pread: memory is what the set is bounded by.
//
// Its blocks live outside the Go heap (offheap.go): it is the one part of
// a validation's memory that grows with the file (~4.5 MB at 4 GiB of chat
// rows), it is rebuilt larger as the run grows, and on the heap each
// rebuild left the old filter as garbage and raised the GC's goal by twice
// its size, so that a long validation peaked ~10 MB higher than a short
// one. Off the heap, a replaced filter is gone at once. A filter without
// blocks (released, or never built) answers "maybe" to everything.
type bloom struct {
	blocks   [][8]uint64
	capacity int64
	mem      offHeap
}

const bloomBlockKeys = 85 // ~6 bits per key

func newBloom(capacity int64) bloom {
	n := max(1, (capacity+bloomBlockKeys-1)/bloomBlockKeys)
	mem := allocOffHeap(int(n) * 64)
	return bloom{blocks: unsafe.Slice((*[8]uint64)(mem.ptr()), n), capacity: capacity, mem: mem}
}

// release frees the filter's blocks; it must not be used after, but for
// mayHave's "maybe".
func (b *bloom) release() {
	b.mem.free()
	*b = bloom{}
}

func (b *bloom) pos(k uint64) (*[8]uint64, uint64) {
	i := (k >> 32) * uint64(len(b.blocks)) >> 32
	return &b.blocks[i], k * 0x9E3779B97F4A7C15
}

func (b *bloom) add(k uint64) {
	blk, h := b.pos(k)
	for range 4 {
		h = bits.RotateLeft64(h, 9)
		blk[h&511>>6] |= 1 << (h & 63)
	}
}

func (b *bloom) mayHave(k uint64) bool {
	if len(b.blocks) == 0 {
		return true
	}
	blk, h := b.pos(k)
	for range 4 {
		h = bits.RotateLeft64(h, 9)
		if blk[h&511>>6]&(1<<(h&63)) == 0 {
			return false
		}
	}
	return true
}

// keyTable is the in-memory part of a hashSet: an open-addressing table of
// hashes with linear probing, half full at most. The keys are hashes
// already, uniform in every bit, so a key's top bits are its slot; a
// map[uint64] would hash them again and keep control bytes besides. Slots
// in key order also make the table nearly sorted: a spill sorts it by
// moving the few keys that probing put a little past their place.
type keyTable struct {
	slots []uint64 // 0 marks an empty slot
	shift uint     // 64 - log2(len(slots))
	n     int      // keys in slots
	zero  bool     // the key 0, which has no slot
}

func (t *keyTable) slot(k uint64) int { return int(k >> t.shift) }

func (t *keyTable) has(k uint64) bool {
	if k == 0 {
		return t.zero
	}
	if t.slots == nil {
		return false
	}
	mask := len(t.slots) - 1
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.slots[i] {
		case k:
			return true
		case 0:
			return false
		}
	}
}

// insert adds k, which is not in the table.
func (t *keyTable) insert(k uint64) {
	if k == 0 {
		t.zero = true
		return
	}
	if 2*(t.n+1) > len(t.slots) {
		t.grow()
	}
	mask := len(t.slots) - 1
	i := t.slot(k)
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = k
	t.n++
}

func (t *keyTable) grow() {
	old := t.slots
	size := max(1024, 2*len(old))
	t.slots, t.shift, t.n = make([]uint64, size), uint(64-bits.TrailingZeros(uint(size))), 0
	for _, k := range old {
		if k != 0 {
			t.insert(k)
		}
	}
}

func (t *keyTable) len() int {
	if t.zero {
		return t.n + 1
	}
	return t.n
}

// sortInPlace sorts the table's keys in its own slots and returns them;
// the table holds nothing usable after, until reset. A spill so needs no
// second copy of the keys.
func (t *keyTable) sortInPlace() []uint64 {
	if t.n == 0 {
		if t.zero {
			return []uint64{0}
		}
		return nil
	}
	// Keys in slot order, then those before the first empty slot moved
	// after the others: probing wrapped them around from the last slots,
	// and they sort last.
	e := 0
	for t.slots[e] != 0 {
		e++
	}
	keys := t.slots[:0]
	for _, k := range t.slots {
		if k != 0 {
			keys = append(keys, k) // never ahead of the slot read
		}
	}
	rotateLeft(keys, e)
	if t.zero {
		keys = keys[:len(keys)+1] // the table is at most half full
		copy(keys[1:], keys)
		keys[0] = 0
	}
	// Insertion sort: each key is at most its probe run's length from
	// its place (those of the run that wraps around, a few, further).
	// Hashes are seeded, so nobody can choose keys that make this slow;
	// past a budget of moves a general sort finishes anyway.
	budget := 8 * len(keys)
	for i := 1; i < len(keys); i++ {
		k := keys[i]
		j := i
		for ; j > 0 && keys[j-1] > k; j-- {
			keys[j] = keys[j-1]
		}
		keys[j] = k
		if budget -= i - j; budget < 0 {
			slices.Sort(keys)
			break
		}
	}
	return keys
}

// rotateLeft moves s[:k] to the end of s.
func rotateLeft(s []uint64, k int) {
	slices.Reverse(s[:k])
	slices.Reverse(s[k:])
	slices.Reverse(s)
}

// reset empties the table and keeps its memory for the next keys.
func (t *keyTable) reset() {
	clear(t.slots)
	t.n, t.zero = 0, false
}

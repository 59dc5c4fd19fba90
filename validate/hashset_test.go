package validate

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// TestHashSetSpill checks the spilling set against a map: the same answers
// across many spills, whatever the order of keys and repeats.
func TestHashSetSpill(t *testing.T) {
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "missing")} {
		h := newHashSet()
		h.dir, h.max = dir, 500
		want := map[uint64]bool{}
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 30000 {
			// Small keys repeat often; some land in the run, some in memory.
			k := rng.Uint64N(40000)
			if i%3 == 0 {
				k = rng.Uint64()
			}
			if got := h.addHash(k); got != !want[k] {
				t.Fatalf("dir %s, add %d (#%d): got new=%v, want %v", dir, k, i, got, !want[k])
			}
			want[k] = true
		}
		if h.len() != len(want) {
			t.Fatalf("len %d, want %d", h.len(), len(want))
		}
		spilled := h.run != nil
		if err := h.close(); err != nil {
			t.Fatal(err)
		}
		// A directory that does not exist cannot take a spill: the set
		// stays exact in memory instead.
		if missing := filepath.Base(dir) == "missing"; spilled == missing {
			t.Fatalf("dir %s: spilled %v", dir, spilled)
		}
	}
}

// TestHashSetFailedMerge: a spill whose merge fails after it let go of the
// old run's filter (its run unreadable, here truncated) leaves a set that
// does not panic (it did: a lookup indexed the released filter): lookups
// read the run's pages, and the read error fails the set (close), as any
// unreadable spilled page does.
func TestHashSetFailedMerge(t *testing.T) {
	h := newHashSet()
	h.dir, h.max = t.TempDir(), 500
	for k := range uint64(501) {
		h.addHash(k + 1) // the 500th spills: a run with a filter
	}
	if h.run == nil || len(h.run.bloom.blocks) == 0 {
		t.Fatal("no run after 500 keys")
	}
	if err := h.run.f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	for k := range uint64(1000) {
		h.addHash(1000 + k) // the next spill fails; lookups go on
	}
	if !h.noSpill {
		t.Fatal("the merge of a truncated run did not fail")
	}
	h.addHash(1) // in the run: its page cannot be read
	if err := h.close(); err == nil {
		t.Fatal("an unreadable run was not reported")
	}
}

// TestHashSetNoSpillStaysExact: a spill that cannot write its run (no temp
// space) leaves every key in memory, still found: the spill sorted them in
// the table's own slots, so they must be put back.
func TestHashSetNoSpillStaysExact(t *testing.T) {
	h := newHashSet()
	h.dir, h.max = filepath.Join(t.TempDir(), "gone"), 500
	defer h.close()
	for k := range uint64(2000) {
		if !h.addHash(k) {
			t.Fatalf("new key %d reported seen", k)
		}
	}
	if !h.noSpill || h.run != nil {
		t.Fatalf("noSpill %v, run %v: the spill did not fail", h.noSpill, h.run)
	}
	for k := range uint64(2000) {
		if h.addHash(k) {
			t.Fatalf("key %d forgotten after the failed spill", k)
		}
	}
	if h.len() != 2000 {
		t.Fatalf("%d keys, want 2000", h.len())
	}
}

// TestHashSetBoundedMemory checks that the set's memory stays at its cap.
func TestHashSetBoundedMemory(t *testing.T) {
	h := newHashSet()
	h.dir, h.max = t.TempDir(), 1000
	defer h.close()
	for i := range 50000 {
		h.add(string(rune(i)) + "x")
		if h.recent.len() > h.max {
			t.Fatalf("%d hashes in memory, cap %d", h.recent.len(), h.max)
		}
	}
	if h.run == nil || h.run.n < 49000 || len(h.run.first) > 50000/hashPageKeys+1 {
		t.Fatalf("run %+v", h.run)
	}
}

// BenchmarkHashSet adds 1M distinct keys: spilling every 256K keys against
// keeping all in memory, per key.
func BenchmarkHashSet(b *testing.B) {
	for _, mode := range []struct {
		name string
		max  int
	}{{"spill", hashSetMemKeys}, {"memory", 1 << 30}} {
		b.Run(mode.name, func(b *testing.B) {
			const n = 1 << 20
			for b.Loop() {
				h := newHashSet()
				h.dir, h.max = b.TempDir(), mode.max
				rng := rand.New(rand.NewPCG(1, 2))
				for range n {
					h.addHash(rng.Uint64())
				}
				h.close()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/key")
		})
	}
}

// TestBloom checks the filter never forgets a key and lets few absent ones
// through, at its fullest (capacity) and at its emptiest after a rebuild.
func TestBloom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, fill := range []int64{100000, 80000} {
		b := newBloom(100000)
		keys := make([]uint64, fill)
		for i := range keys {
			keys[i] = rng.Uint64()
			b.add(keys[i])
		}
		for _, k := range keys {
			if !b.mayHave(k) {
				t.Fatalf("key %x forgotten", k)
			}
		}
		var fp int
		for range 100000 {
			if b.mayHave(rng.Uint64()) {
				fp++
			}
		}
		t.Logf("%d keys in a filter for 100000: %.1f%% false positives", fill, float64(fp)/1000)
		if fp > 12000 {
			t.Fatalf("%d false positives in 100000", fp)
		}
	}
}

// TestKeyTableSorted: the table's keys come out sorted whatever their
// values, the key 0 and keys that probing wrapped around to the first
// slots included.
func TestKeyTableSorted(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 100, 5000, 70000} {
		var tb keyTable
		want := map[uint64]bool{}
		add := func(k uint64) {
			if !want[k] {
				want[k] = true
				tb.insert(k)
			}
		}
		for range n {
			add(r.Uint64())
		}
		if n > 2 {
			add(0)
			for i := range uint64(20) {
				add(^uint64(0) - i) // all homed in the last slot: they wrap
			}
		}
		got := tb.sortInPlace()
		if len(got) != len(want) || !slices.IsSorted(got) {
			t.Fatalf("n=%d: %d keys, sorted %v; want %d", n, len(got), slices.IsSorted(got), len(want))
		}
		for _, k := range got {
			if !want[k] {
				t.Fatalf("n=%d: key %x was never added", n, k)
			}
		}
	}
}

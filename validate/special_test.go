package validate

import "testing"

// indexSpecialRef is indexSpecial a byte at a time.
func indexSpecialRef(b []byte) int {
	for i, c := range b {
		if isSpecial(c) {
			return i
		}
	}
	return len(b)
}

// TestIndexSpecial puts each kind of byte at each position of strings
// long enough to cross the vector blocks (32 and 64 bytes) and the words.
func TestIndexSpecial(t *testing.T) {
	kinds := []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xc3, 0xff, // special
		0x20, 0x21, 0x5b, 0x5d, 0x7e, 0x7f, 'x'} // not
	for n := range 200 {
		b := make([]byte, n)
		for p := range n + 1 {
			for _, k := range kinds {
				for i := range b {
					b[i] = 'a' + byte(i%26)
				}
				if p < n {
					b[p] = k
				}
				want := indexSpecialRef(b)
				if got := indexSpecial(b); got != want {
					t.Fatalf("indexSpecial(%q) = %d, want %d", b, got, want)
				}
				if got := indexSpecialSWAR(b); got != want {
					t.Fatalf("indexSpecialSWAR(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
}

func FuzzIndexSpecial(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := indexSpecialRef(b)
		if got := indexSpecial(b); got != want {
			t.Fatalf("indexSpecial(%q) = %d, want %d", b, got, want)
		}
		if got := indexSpecialSWAR(b); got != want {
			t.Fatalf("indexSpecialSWAR(%q) = %d, want %d", b, got, want)
		}
	})
}

package silo

import (
	"testing"
)

// Sizes and durations come from flags and environment variables: no input
// panics, and whatever is accepted is a sane, non-negative value.

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10GB", "10GiB", "1.5gb", "0", "12345", " 3 MiB ", "1e3kb", "-1", "NaN", "Inf", "9e18", "b", "", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
		if err == nil && n > 0 {
			// What FormatSize prints reads back within its rounding.
			back, err := ParseSize(FormatSize(n))
			if err != nil || float64(back) < float64(n)*0.9 || float64(back) > float64(n)*1.1+1 {
				t.Fatalf("ParseSize(FormatSize(%d)) = %d, %v", n, back, err)
			}
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "90m", "0", "0.5d", "-1d", "d", "1dd", "12", "1e300d", "1h-1m", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
	})
}

package silo

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first so that "GiB" is not read as "B".
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40}, {"pib", 1 << 50}, {"eib", 1 << 60},
	// PB and EB: FormatSize prints them, so ParseSize reads them back.
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12}, {"pb", 1e15}, {"eb", 1e18},
	{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	{"b", 1},
}

// ParseSize reads a size such as "10GB" (10,000,000,000 bytes), "10GiB"
// (10×2³⁰), "1.5GB" or a plain number of bytes. Units are case-insensitive.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range sizeUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes or a number with a unit such as 10GB or 10GiB", s)
	}
	n := f * mult
	if n >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(math.Round(n)), nil
}

// FormatSize renders n bytes in decimal units, as "3.2 GB".
func FormatSize(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// HumanSize is FormatSize without a trailing ".0": "10 GB", "1.5 MB".
func HumanSize(n int64) string {
	return strings.Replace(FormatSize(n), ".0 ", " ", 1)
}

// GroupDigits writes n with thousands separators: 1,500,000.
func GroupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ParseDuration reads a Go duration, with "d" for days as well ("30d",
// "1d12h"). "0" is zero.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var total time.Duration
	if i := strings.IndexByte(t, 'd'); i > 0 {
		days, err := strconv.ParseFloat(t[:i], 64)
		if err != nil || days < 0 || days*float64(24*time.Hour) >= math.MaxInt64/2 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		total = time.Duration(days * float64(24*time.Hour))
		t = t[i+1:]
		if t == "" {
			return total, nil
		}
	}
	d, err := time.ParseDuration(t)
	if err != nil || d < 0 || total+d < total {
		return 0, fmt.Errorf("invalid duration %q: want e.g. 30d, 12h or 90m", s)
	}
	return total + d, nil
}

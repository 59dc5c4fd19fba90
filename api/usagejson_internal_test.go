package api

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// encoderJSON is what writeJSON's encoder writes for v.
func encoderJSON(t testing.TB, v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestUsageJSONLikeEncoder: the usage answer written by appendJSON is
// byte for byte what encoding/json writes for the same value.
func TestUsageJSONLikeEncoder(t *testing.T) {
	for _, u := range []usageJSON{
		{},
		{OrganizationUsage: 123456789, LimitBytes: 1 << 40, ReservedBytes: 7, AsOf: formatTime(time.Now())},
		{OrganizationUsage: math.MinInt64, LimitBytes: math.MaxInt64, ReservedBytes: -1, AsOf: "x"},
		{AsOf: "quote \" backslash \\ <html> & \u2028 \x01 \xff é"},
	} {
		got := append(u.appendJSON(nil), '\n')
		if want := encoderJSON(t, u); !bytes.Equal(got, want) {
			t.Errorf("appendJSON:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}

func FuzzUsageJSON(f *testing.F) {
	f.Add(int64(0), int64(1)<<40, int64(0), "2026-01-02T03:04:05.000000Z")
	f.Add(int64(-1), int64(0), int64(5), "\"\\\x00\u2029\xc3")
	f.Fuzz(func(t *testing.T, used, limit, reserved int64, asOf string) {
		u := usageJSON{OrganizationUsage: used, LimitBytes: limit, ReservedBytes: reserved, AsOf: asOf}
		got := append(u.appendJSON(nil), '\n')
		if want := encoderJSON(t, u); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON:\n%q\nencoding/json:\n%q", got, want)
		}
	})
}

// TestFormatTimeLikeLayout: formatTime writes what Format(timeLayout)
// writes, in and out of the years it writes itself, in any zone.
func TestFormatTimeLikeLayout(t *testing.T) {
	zone := time.FixedZone("x", -7*3600-30*60)
	for _, tm := range []time.Time{
		time.Now(), time.Unix(0, 0), time.Unix(0, 999), time.Unix(1<<31, 999_999_999).In(zone),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 0, time.UTC), {},
	} {
		if got, want := formatTime(tm), tm.UTC().Format(timeLayout); got != want {
			t.Errorf("formatTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

func FuzzFormatTime(f *testing.F) {
	f.Add(int64(0), int64(0), int64(0))
	f.Add(int64(1<<40), int64(123_456_789), int64(3600))
	f.Fuzz(func(t *testing.T, sec, nsec, offset int64) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("z", int(offset%(48*3600))))
		if got, want := formatTime(tm), tm.UTC().Format(timeLayout); got != want {
			t.Fatalf("formatTime(%v) = %s, want %s", tm, got, want)
		}
	})
}

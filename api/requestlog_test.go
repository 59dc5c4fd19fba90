package api

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// slogLine is what the logger writes for l: the reference the direct path
// must match byte for byte.
func slogLine(t testing.TB, l requestLine) string {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, nil)
	r := slog.NewRecord(l.at, l.level, "request", 0)
	r.AddAttrs(l.attrs()...) // what the logger is given when the log is not text
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestRequestLineLikeSlog(t *testing.T) {
	at := time.Date(2026, 11, 25, 14, 51, 13, 78_000_000, time.UTC)
	for _, l := range []requestLine{
		{at: at, level: slog.LevelInfo, id: "40c49f4858ff9554", method: "GET", route: "GET /v1/datasets/usage", status: 200, out: 108, duration: 1234567 * time.Nanosecond, org: "org_x", client: ""},
		{at: at.Add(999 * time.Microsecond), level: slog.LevelError, id: "1", method: "POST", route: "unmatched", status: 500, in: 1 << 40, duration: 3 * time.Second, org: "", client: "cohere-go/2.0 (linux)"},
		{at: time.Now(), level: slog.LevelInfo, method: "GET", route: "x", status: 499, client: `a="b" \ é ` + "\x00\u00a0\u2028\xff"},
		{at: at.In(time.FixedZone("x", 3600)), level: slog.LevelInfo, method: "DELETE", route: "DELETE /v1/datasets/{id}", status: 204, client: "日本語"},
	} {
		want := slogLine(t, l)
		if got := string(appendRequestText(nil, l)); got != want {
			t.Errorf("direct line\n%q\nslog's\n%q", got, want)
		}
	}
}

func FuzzRequestLine(f *testing.F) {
	f.Add("GET", "GET /v1/datasets/usage", "org_x", "cohere-go", int64(1234567), int64(1764082273078000000))
	f.Add("", "", "", "a=b \"c\"", int64(-1), int64(0))
	f.Fuzz(func(t *testing.T, method, route, org, client string, dur, unixNano int64) {
		l := requestLine{at: time.Unix(0, unixNano).UTC(), level: slog.LevelInfo, id: "abc", method: method, route: route,
			status: 200, in: dur, out: -dur, duration: time.Duration(dur), org: org, client: client}
		if got, want := string(appendRequestText(nil, l)), slogLine(t, l); got != want {
			t.Fatalf("direct line\n%q\nslog's\n%q", got, want)
		}
	})
}

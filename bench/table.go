package main

import (
	"fmt"
	"strings"
	"time"
)

// row is one line of the table: a figure of silo, the baseline it is
// compared with, their ratio and the target for it.
type row struct {
	Workload string
	Figure   string
	Silo     string // silo's figure, with its unit
	Baseline string // the baseline's figure and what it is
	Ratio    float64
	Target   string // "≥ 0.8", "≤ 1.2", "< 100 MB" or "" (reported only)
	Pass     *bool  // nil: no target
}

// ratioRow adds a row whose ratio is judged against a target: op is ">="
// or "<=", or "" for a figure that is only reported.
func (b *bench) ratioRow(workload, figure, silo, baseline string, ratio float64, op string, target float64) {
	r := row{Workload: workload, Figure: figure, Silo: silo, Baseline: baseline, Ratio: ratio}
	switch op {
	case ">=":
		r.Target = fmt.Sprintf("≥ %.2g", target)
		ok := ratio >= target
		r.Pass = &ok
	case "<=":
		r.Target = fmt.Sprintf("≤ %.2g", target)
		ok := ratio <= target
		r.Pass = &ok
	}
	b.rows = append(b.rows, r)
}

func (b *bench) markdown() string {
	var s strings.Builder
	s.WriteString("| workload | figure | silo | baseline | ratio | target | result |\n")
	s.WriteString("|---|---|---|---|---:|---|---|\n")
	for _, r := range b.rows {
		result := "reported"
		if r.Pass != nil {
			result = "**fail**"
			if *r.Pass {
				result = "pass"
			}
		}
		target := r.Target
		if target == "" {
			target = "—"
		}
		ratio := "—"
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(&s, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Workload, r.Figure, r.Silo, r.Baseline, ratio, target, result)
	}
	return s.String()
}

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / 1e6 / d.Seconds() }

func fmtMBps(v float64) string { return fmt.Sprintf("%.0f MB/s", v) }

func fmtDur(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

// fmtMicros is a duration of a few microseconds, to a tenth of one.
func fmtMicros(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

// fmtList formats each of xs and joins them with commas, for the notes.
func fmtList(format string, xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}

func fmtMiB(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.3g GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.3g MiB", float64(n)/(1<<20))
}

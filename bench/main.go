// Command bench measures silo against its baselines, as issue 7 asks: every
// figure is a ratio against a baseline measured in the same run on the same
// machine, because absolute numbers are noise on shared machines.
//
//	go run ./bench                    # full run (10-20 min), writes BENCHMARKS.md
//	go run ./bench -smoke -out FILE   # seconds, small sizes: keeps the harness alive in CI
//	go run ./bench -peers             # also MinIO (needs the minio binary, see make bench-peers)
//
// It builds silo, starts it on temp data dirs with the rate limit off,
// starts each baseline (a bare net/http server, a Go copy with fsync, jq,
// cat, MinIO), runs each workload and prints one table. Data files are
// generated in a temp dir at run time and removed afterwards.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/silo-datasets/silo/internal/testenv"
)

// adminKey is the bootstrap admin key of every silo the benchmark starts.
const adminKey = "bench-admin-key-0123456789abcdef0123456789"

// sizes are what a run moves around; the smoke run shrinks all of them.
type sizes struct {
	LoadDur      time.Duration // one load run
	Rounds       int           // alternations of silo and baseline; medians are reported
	Conc         int           // load generator connections
	BigOrg       int           // datasets of the large organisation
	Upload       int64         // workload 3
	MemSmall     int64         // workload 4, the small file
	MemLarge     int64         // workload 4, the large file
	Validate     int64         // workload 5
	Parallel     int           // workload 6: uploads at once
	ParallelEach int64         // workload 6: size of each
	MoveEach     int64         // workload 7: size of each dataset
	MoveSmall    int           // workload 7: datasets of the small data dir
	MoveLarge    int           // workload 7: datasets of the large data dir
	ScaleCreates int           // workload 8: creates at once on 2 nodes
	ScaleEach    int64         // workload 8: size of each
	HookEach     int64         // workload 10: size of each create
}

var fullSizes = sizes{
	LoadDur: 4 * time.Second, Rounds: 3, Conc: 8, BigOrg: 100_000,
	Upload: 1 << 30, MemSmall: 256 << 20, MemLarge: 4 << 30, Validate: 512 << 20,
	Parallel: 16, ParallelEach: 64 << 20,
	MoveEach: 64 << 20, MoveSmall: 2, MoveLarge: 8,
	ScaleCreates: 64, ScaleEach: 1 << 20, HookEach: 64 << 10,
}

var smokeSizes = sizes{
	LoadDur: 300 * time.Millisecond, Rounds: 1, Conc: 4, BigOrg: 1_000,
	Upload: 8 << 20, MemSmall: 4 << 20, MemLarge: 16 << 20, Validate: 4 << 20,
	Parallel: 4, ParallelEach: 1 << 20,
	MoveEach: 1 << 20, MoveSmall: 1, MoveLarge: 3,
	ScaleCreates: 8, ScaleEach: 64 << 10, HookEach: 16 << 10,
}

type bench struct {
	sz      sizes
	smoke   bool
	keep    bool   // leave tmp behind
	root    string // the repository
	tmp     string // everything the run writes
	siloBin string
	rows    []row
	notes   []string

	uploadMBps, copyMBps float64 // workload 3, for the peers and parallel rows
}

func main() {
	smoke := flag.Bool("smoke", false, "small sizes, one round: checks the harness, not the targets")
	peers := flag.Bool("peers", false, "also measure MinIO (the minio binary on PATH or in .bench/bin)")
	out := flag.String("out", "BENCHMARKS.md", "where to write the table")
	bin := flag.String("silo", "", "a silo binary to measure instead of building ./cmd/silo (to compare two builds)")
	keep := flag.Bool("keep", false, "keep the run's temp dir (servers' logs, data dirs) and print its path")
	only := flag.String("only", "", "comma-separated workloads to run (usage,scale,upload,memory,validate,parallel,move,scaleout,tus,projects,webhooks,peers); default all")
	flag.Parse()
	if flag.NArg() == 2 && flag.Arg(0) == "bare-usage" {
		serveBareUsage(flag.Arg(1))
		return
	}
	if flag.NArg() >= 2 && flag.NArg() <= 3 && flag.Arg(0) == "bare-upload" {
		serveBareUpload(flag.Arg(1), flag.Arg(2))
		return
	}
	log.SetFlags(log.Ltime)
	b := &bench{sz: fullSizes, smoke: *smoke, keep: *keep}
	if *smoke {
		b.sz = smokeSizes
	}
	if err := b.run(*peers, *bin, *only, *out); err != nil {
		log.Fatal(err)
	}
}

func (b *bench) run(peers bool, bin, only, out string) error {
	var err error
	if b.root, err = os.Getwd(); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "silo-bench-"); err != nil {
		return err
	}
	if b.keep {
		log.Printf("keeping %s", b.tmp)
	} else {
		defer os.RemoveAll(b.tmp)
	}
	// PostgreSQL and versitygw start once per process (workloads 8 and 9
	// share them) and stop here.
	defer testenv.StopAll()
	if b.siloBin = bin; b.siloBin == "" {
		log.Printf("building silo (work dir %s)", b.tmp)
		if b.siloBin, err = buildSilo(b.root, b.tmp); err != nil {
			return err
		}
	}
	workloads := []struct {
		name string
		fn   func() error
	}{
		{"usage", b.usageVsBare},
		{"scale", b.scale},
		{"upload", b.upload},
		{"memory", b.memory},
		{"validate", b.validation},
		{"parallel", b.parallel},
		{"move", b.move},
		{"scaleout", b.scaleOut},
		{"tus", b.tus},
		{"projects", b.projects},
		{"webhooks", b.webhooks},
	}
	if peers {
		workloads = append(workloads, struct {
			name string
			fn   func() error
		}{"peers", b.minioPeer})
	}
	for _, w := range workloads {
		if only != "" && !strings.Contains(","+only+",", ","+w.name+",") {
			continue
		}
		log.Printf("workload %s", w.name)
		start := time.Now()
		if err := w.fn(); err != nil {
			return fmt.Errorf("workload %s: %w", w.name, err)
		}
		log.Printf("workload %s done in %v", w.name, time.Since(start).Round(time.Second))
	}
	table := b.markdown()
	fmt.Print(table)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, []byte(b.document(table)), 0o644)
}

// document is BENCHMARKS.md: the table of this run, how it was made, and
// the hand-written log of optimisations (bench/OPTIMISATIONS.md).
func (b *bench) document(table string) string {
	var s strings.Builder
	mode := "full run (`make bench`)"
	if b.smoke {
		mode = "smoke run (small sizes; the ratios mean little)"
	}
	host, _ := os.Hostname()
	fmt.Fprintf(&s, "# silo benchmarks\n\nGenerated by `go run ./bench` (%s) on %s: %d cores (GOMAXPROCS %d), %s/%s, %s, host %q.\n\n",
		mode, time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version(), host)
	s.WriteString("Every ratio is silo against a baseline measured in the same run on the same machine, with the rate limit off " +
		"(`SILO_RATE_LIMIT=0`, and `SILO_MAX_INFLIGHT_PER_KEY=128` for workload 8's 64 creates at once with one key) and the embedded default stores (SQLite + disk). Where a workload was repeated, the figures are " +
		"medians; silo and its baseline alternate so that noise from other processes hits both.\n\n")
	s.WriteString(table)
	if len(b.notes) > 0 {
		s.WriteString("\n## Notes of this run\n\n")
		for _, n := range b.notes {
			s.WriteString("- " + n + "\n")
		}
	}
	if opt, err := os.ReadFile(filepath.Join(b.root, "bench", "OPTIMISATIONS.md")); err == nil {
		s.WriteString("\n")
		s.Write(opt)
	}
	return s.String()
}

func (b *bench) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	log.Print("note: " + n)
	b.notes = append(b.notes, n)
}

package validate

import (
	"context"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/gen"
)

// rowStream is an io.Reader that makes up a file of size bytes, row by row,
// so that a gigabyte-sized upload needs no gigabyte anywhere.
type rowStream struct {
	header []byte
	gen    func(b []byte, i int) []byte
	size   int64
	read   int64
	i      int
	row    []byte
	rest   []byte
}

func (s *rowStream) Read(p []byte) (int, error) {
	if len(s.header) > 0 {
		n := copy(p, s.header)
		s.header = s.header[n:]
		s.read += int64(n)
		return n, nil
	}
	if len(s.rest) == 0 {
		if s.read >= s.size {
			return 0, io.EOF
		}
		s.row = s.gen(s.row[:0], s.i)
		s.rest = s.row
		s.i++
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	s.read += int64(n)
	return n, nil
}

func streamFile(typ silo.DatasetType, format silo.Format, p silo.CreateParams, src io.Reader) (*silo.Validation, error) {
	d := &silo.Dataset{Type: typ, Params: p}
	f := silo.ValidationFile{Part: &silo.Part{Kind: silo.PartTrain, Format: format}, Data: src, Avro: io.Discard}
	return New(Options{}).Validate(context.Background(), d, []silo.ValidationFile{f})
}

func benchStream(b *testing.B, typ silo.DatasetType, format silo.Format, p silo.CreateParams, header string, gen func([]byte, int) []byte) {
	const size = 64 << 20
	b.SetBytes(size)
	defer reportCPU(b)()
	for b.Loop() {
		v, err := streamFile(typ, format, p, &rowStream{header: []byte(header), gen: gen, size: size})
		if err != nil || !v.OK {
			b.Fatalf("err %v, verdict %+v", err, v)
		}
	}
}

func BenchmarkValidateChatJSONL(b *testing.B) {
	benchStream(b, chat, silo.FormatJSONL, params(), "", gen.ChatRow)
}

func BenchmarkValidateEmbedCSV(b *testing.B) {
	benchStream(b, embed, silo.FormatCSV, params("keep", "title"), "text,title\n", gen.EmbedCSVRow)
}

// TestBoundedMemory validates a generated 64 MB chat dataset and checks
// that the heap never grows by more than a small budget plus the 8 bytes per
// row the duplicate check keeps. BenchmarkBoundedMemory1GB does the same
// with a gigabyte (about 40 s).
func TestBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 64 MB")
	}
	checkBoundedMemory(t, 64<<20)
}

func BenchmarkBoundedMemory1GB(b *testing.B) {
	for b.Loop() {
		growth := checkBoundedMemory(b, 1<<30)
		b.ReportMetric(float64(growth)/(1<<20), "peak-heap-growth-MB")
	}
}

func checkBoundedMemory(tb testing.TB, size int64) int64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	src := &rowStream{gen: gen.ChatRow, size: size}
	v, err := streamFile(chat, silo.FormatJSONL, params(), src)
	close(stop)
	<-done
	if err != nil || !v.OK {
		tb.Fatalf("err %v, verdict %+v", err, v)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	budget := int64(48<<20) + 8*int64(src.i)
	tb.Logf("%d rows, %d MB read, peak heap growth %.1f MB (budget %.1f MB)",
		src.i, src.read>>20, float64(growth)/(1<<20), float64(budget)/(1<<20))
	if growth > budget {
		tb.Fatalf("heap grew by %d bytes, budget %d", growth, budget)
	}
	if v.Parts[0].NumRows != int64(src.i) {
		tb.Fatalf("NumRows %d, generated %d", v.Parts[0].NumRows, src.i)
	}
	return growth
}

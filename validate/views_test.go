package validate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/gen"
)

// TestRuneCount checks the ASCII-stepping rune count against
// utf8.RuneCountInString, invalid bytes included, at every alignment.
func TestRuneCount(t *testing.T) {
	pieces := []string{"a", "é", "€", "𝄞", "\xff", "\xe2\x82", "\x80", "0123456789abcdef", "\xf0\x9d"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var sb strings.Builder
		for range rng.IntN(12) {
			p := pieces[rng.IntN(len(pieces))]
			sb.WriteString(strings.Repeat(p, 1+rng.IntN(20)))
		}
		s := sb.String()
		if got, want := runeCount(s), utf8.RuneCountInString(s); got != want {
			t.Fatalf("runeCount(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestChatViewsNotKept: the decoded contents are views of buffers that
// later rows reuse, so what the run keeps of a row (the preamble in the
// metrics, the samples) must be copies. The first row's texts must come
// back intact after megabytes of other rows went through the same
// buffers, on the sequential and the parallel source.
func TestChatViewsNotKept(t *testing.T) {
	const pre = "the first preamble, with an escape:\n and an é"
	first := fmt.Sprintf(`{"messages":[{"role":"System","content":%q},{"role":"User","content":"q0"},{"role":"Chatbot","content":"a0"}]}`+"\n", pre)
	data := []byte(first)
	for i := 1; len(data) < 12<<20; i++ {
		data = gen.ChatRow(data, i)
	}
	for _, procs := range []int{1, 2} {
		withProcs(t, procs, func() {
			v, _ := validate(t, Options{}, chat, params(), upload{data: bytes.NewReader(data), format: silo.FormatJSONL})
			if !v.OK {
				t.Fatalf("procs %d: %q", procs, v.Report.Error)
			}
			var m struct {
				F struct {
					Chat struct {
						Preamble string `json:"preamble"`
					} `json:"chat_data_metrics"`
				} `json:"finetune_dataset_metrics"`
			}
			if err := json.Unmarshal(v.Report.Metrics, &m); err != nil {
				t.Fatal(err)
			}
			if m.F.Chat.Preamble != pre {
				t.Errorf("procs %d: preamble %q, want %q", procs, m.F.Chat.Preamble, pre)
			}
			if s := v.Parts[0].Samples[0]; !strings.Contains(s, `"q0"`) {
				t.Errorf("procs %d: first sample %q", procs, s)
			}
		})
	}
}

// withProcs runs f with GOMAXPROCS n: 1 reads JSONL on one goroutine,
// more decodes it on workers (parallelWorkers).
func withProcs(t *testing.T, n int, f func()) {
	t.Helper()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	f()
}

// TestCorpusOneCore and TestCorpusFourCores check the corpus against the
// same goldens with rows read on one goroutine (the sequential source,
// rows prepared where they are read) and on four decoding workers.
func TestCorpusOneCore(t *testing.T)   { withProcs(t, 1, func() { TestCorpus(t) }) }
func TestCorpusFourCores(t *testing.T) { withProcs(t, 4, func() { TestCorpus(t) }) }

// TestConversationHashSeparates: conversations that differ only in where
// one message ends and the next begins (or in their roles) are different
// keys, so neither is dropped as the other's duplicate.
func TestConversationHashSeparates(t *testing.T) {
	seed := newHashSet().seed
	convs := [][]message{
		{{Role: "User", Content: "x\x00User\x00y"}},
		{{Role: "User", Content: "x"}, {Role: "User", Content: "y"}},
		{{Role: "User", Content: "xy"}},
		{{Role: "Chatbot", Content: "xy"}},
		{{Role: "User", Content: ""}, {Role: "User", Content: "xy"}},
		{},
	}
	seen := map[uint64]int{}
	for i, c := range convs {
		k := conversationHash(seed, c)
		if j, ok := seen[k]; ok {
			t.Fatalf("conversations %d and %d have the same key", j, i)
		}
		seen[k] = i
		if conversationHash(seed, slices.Clone(c)) != k {
			t.Fatalf("conversation %d: the key depends on more than its messages", i)
		}
	}
}

// BenchmarkConversationHash is the duplicate key of a generated chat row.
func BenchmarkConversationHash(b *testing.B) {
	row := gen.ChatRow(nil, 7)
	d := rowDecoder{messages: true}
	f, ok := d.decode(row[:len(row)-1])
	if !ok {
		b.Fatal("the fast path refused a generated row")
	}
	seed := newHashSet().seed
	b.SetBytes(int64(len(row)))
	for b.Loop() {
		conversationHash(seed, f.msgs)
	}
}

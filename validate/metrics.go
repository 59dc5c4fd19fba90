package validate

import (
	"encoding/json"
	"hash/maphash"
	"slices"
)

// tally sums the accepted rows of one bucket (train, auto-split share, eval).
type tally struct {
	examples, bytes, tokens    int64
	queries, relevant, hardNeg int64 // reranker
	turns                      int64 // chat
}

func (t *tally) plus(u tally) {
	t.examples += u.examples
	t.bytes += u.bytes
	t.tokens += u.tokens
	t.queries += u.queries
	t.relevant += u.relevant
	t.hardNeg += u.hardNeg
	t.turns += u.turns
}

// The JSON shapes of Cohere's Metrics object (cohere-datasets-api.md §2).
type metricsJSON struct {
	Finetune *finetuneMetrics `json:"finetune_dataset_metrics,omitempty"`
}

type finetuneMetrics struct {
	TrainableTokenCount int64           `json:"trainable_token_count"`
	TotalExamples       int64           `json:"total_examples"`
	TrainExamples       int64           `json:"train_examples"`
	TrainSizeBytes      int64           `json:"train_size_bytes"`
	EvalExamples        int64           `json:"eval_examples"`
	EvalSizeBytes       int64           `json:"eval_size_bytes"`
	Reranker            *rerankerMetric `json:"reranker_data_metrics,omitempty"`
	Chat                *chatMetric     `json:"chat_data_metrics,omitempty"`
	Classify            *classifyMetric `json:"classify_data_metrics,omitempty"`
}

type rerankerMetric struct {
	NumTrainQueries          int64 `json:"num_train_queries"`
	NumTrainRelevantPassages int64 `json:"num_train_relevant_passages"`
	NumTrainHardNegatives    int64 `json:"num_train_hard_negatives"`
	NumEvalQueries           int64 `json:"num_eval_queries"`
	NumEvalRelevantPassages  int64 `json:"num_eval_relevant_passages"`
	NumEvalHardNegatives     int64 `json:"num_eval_hard_negatives"`
}

type chatMetric struct {
	NumTrainTurns int64  `json:"num_train_turns"`
	NumEvalTurns  int64  `json:"num_eval_turns"`
	Preamble      string `json:"preamble,omitempty"`
}

type classifyMetric struct {
	LabelMetrics []labelMetric `json:"label_metrics"`
}

type labelMetric struct {
	TotalExamples int64    `json:"total_examples"`
	Label         string   `json:"label"`
	Samples       []string `json:"samples"`
}

func marshalMetrics(m *finetuneMetrics) json.RawMessage {
	b, _ := json.Marshal(metricsJSON{Finetune: m})
	return b
}

// hashSet remembers which keys (custom_ids, conversations, queries) were
// seen, in 8 bytes per key, never the keys themselves: new hashes go to a
// small map, which is sorted and merged into one sorted slice whenever it
// fills. A 1.5 GB file of 80-byte rows (~20M keys) thus needs ~160 MB at
// worst, and a realistic one far less. Two different keys collide with
// probability ~n²/2⁶⁵ (1e-5 at 20M keys): an accepted risk of one false
// "duplicate" in a pathological upload, against keeping every key.
type hashSet struct {
	seed   maphash.Seed
	recent map[uint64]struct{}
	sorted []uint64
}

const hashSetMergeAt = 1 << 18

func newHashSet() *hashSet {
	return &hashSet{seed: maphash.MakeSeed(), recent: map[uint64]struct{}{}}
}

// add records s and reports whether it was new.
func (h *hashSet) add(s string) bool { return h.addHash(maphash.String(h.seed, s)) }

// addHash records a key hashed with h.seed and reports whether it was new.
func (h *hashSet) addHash(k uint64) bool {
	if _, ok := h.recent[k]; ok {
		return false
	}
	if _, ok := slices.BinarySearch(h.sorted, k); ok {
		return false
	}
	h.recent[k] = struct{}{}
	if len(h.recent) >= hashSetMergeAt {
		h.merge()
	}
	return true
}

func (h *hashSet) len() int { return len(h.recent) + len(h.sorted) }

func (h *hashSet) merge() {
	add := make([]uint64, 0, len(h.recent))
	for k := range h.recent {
		add = append(add, k)
	}
	slices.Sort(add)
	out := make([]uint64, 0, len(h.sorted)+len(add))
	i, j := 0, 0
	for i < len(h.sorted) && j < len(add) {
		if h.sorted[i] < add[j] {
			out = append(out, h.sorted[i])
			i++
		} else {
			out = append(out, add[j])
			j++
		}
	}
	out = append(append(out, h.sorted[i:]...), add[j:]...)
	h.sorted = out
	clear(h.recent)
}

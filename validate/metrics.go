package validate

import (
	"encoding/json"
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

package validate

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current results")

// corpusCase is one dataset of the corpus. want is a substring of the
// expected Report.Error ("" = the dataset validates); the golden file holds
// the whole verdict (warnings, rows, metrics), reviewed by hand when -update
// rewrites it.
type corpusCase struct {
	name   string
	typ    silo.DatasetType
	params silo.CreateParams
	train  string
	eval   string
	want   string
}

const (
	embed   = silo.TypeEmbedInput
	single  = silo.TypeSingleLabelFinetune
	multi   = silo.TypeMultiLabelFinetune
	rerank  = silo.TypeRerankerFinetune
	chat    = silo.TypeChatFinetune
	batchV2 = silo.TypeBatchEmbedV2Input
)

var corpusCases = []corpusCase{
	// embed-input: formats, encodings, metadata fields.
	{"embed_jsonl", embed, params(), "embed_valid.jsonl", "", ""},
	{"embed_jsonl_no_final_newline", embed, params(), "embed_nofinalnewline.jsonl", "", ""},
	{"embed_jsonl_bom_crlf", embed, params(), "embed_bom_crlf.jsonl", "", ""},
	{"embed_csv_quoted", embed, params(), "embed_valid.csv", "", ""},
	{"embed_csv_bom_crlf", embed, params("keep", "title"), "embed_bom_crlf.csv", "", ""},
	{"embed_csv_semicolon", embed, params("delim", ";"), "embed_semicolon.csv", "", ""},
	{"embed_csv_bad_delimiter", embed, params("delim", "::"), "embed_valid.csv", "", "You have used an invalid csv delimiter"},
	{"embed_csv_no_text_header", embed, params(), "embed_noheader.csv", "", "csv files must have a header with the required fields: [text]."},
	{"embed_csv_keep_not_in_header", embed, params("keep", "views"), "embed_valid.csv", "", "csv files must have a header with the required fields: [text, views]."},
	{"embed_csv_field_count", embed, params(), "embed_fieldcount.csv", "", "row has a different number of fields than the header (line: 3)"},
	{"embed_csv_bad_quote", embed, params(), "embed_bad_quote.csv", "", "row is not valid CSV"},
	{"embed_csv_invalid_utf8", embed, params(), "embed_invalid_utf8.csv", "", "row is not valid UTF-8 (line: 3)"},
	{"embed_txt", embed, params(), "embed_valid.txt", "", ""},
	{"embed_txt_paragraphs", embed, params("sep", "\n\n"), "embed_paragraphs.txt", "", ""},
	{"embed_missing_text", embed, params(), "embed_missing_text.jsonl", "", "The required field text was not fund in the dataset (line: 2)"},
	{"embed_empty_text", embed, params(), "embed_empty_text.jsonl", "", "field text is empty (line: 2)"},
	{"embed_text_not_string", embed, params(), "embed_text_not_string.jsonl", "", "field text must be a string, not array (line: 1)"},
	{"embed_invalid_utf8", embed, params(), "embed_invalid_utf8.jsonl", "", "row is not valid UTF-8 (line: 2)"},
	{"embed_bad_json", embed, params(), "embed_bad_json.jsonl", "", "row is not valid JSON"},
	{"embed_no_rows", embed, params(), "embed_empty.jsonl", "", "the dataset has no valid rows"},
	{"embed_keep_fields", embed, params("keep", "wiki_id,url,views,title", "optional", "langs"), "embed_keep.jsonl", "", ""},
	{"embed_keep_missing", embed, params("keep", "wiki_id,langs"), "embed_keep.jsonl", "", "The required field langs was not fund in the dataset (line: 2)"},
	{"embed_keep_bad_name", embed, params("keep", "wiki-id"), "embed_keep.jsonl", "", "cannot be kept"},
	{"embed_malformed", embed, params(), "embed_mixed.jsonl", "", "The required field text was not fund in the dataset (line: 2)"},
	{"embed_malformed_skipped", embed, params("skip", "true"), "embed_mixed.jsonl", "", ""},
	{"embed_eval_part", embed, params(), "embed_valid.jsonl", "embed_nofinalnewline.jsonl", ""},
	// single-label classification.
	{"classify_jsonl", single, params(), "classify_valid.jsonl", "", ""},
	{"classify_csv", single, params(), "classify_valid.csv", "", ""},
	{"classify_with_eval", single, params(), "classify_valid.jsonl", "classify_eval.jsonl", ""},
	{"classify_eval_too_small", single, params(), "classify_valid.jsonl", "classify_eval_small.jsonl", "invalid eval file: not enough valid examples: found only 10 valid eval examples"},
	{"classify_one_label", single, params(), "classify_one_label.jsonl", "", "at least 2 unique labels are required"},
	{"classify_too_few", single, params(), "classify_too_few.jsonl", "", "not enough valid examples: found only 10 valid train examples of 10 received"},
	{"classify_few_per_label", single, params(), "classify_few_per_label.jsonl", "", `label "b" has only 3 train examples`},
	{"classify_number_label", single, params(), "classify_number_label.jsonl", "", ""},
	{"classify_missing_label", single, params(), "embed_valid.jsonl", "", "found only 0 valid train examples of 3 received (3 invalid, 0 incorrectly encoded"},
	{"classify_txt_refused", single, params(), "embed_valid.txt", "", "does not accept txt files"},
	// multi-label classification.
	{"multilabel_jsonl", multi, params(), "multilabel_valid.jsonl", "", ""},
	{"multilabel_label_in_all", multi, params(), "multilabel_label_in_all.jsonl", "", `label "common" is present in all examples`},
	{"multilabel_bad_label", multi, params(), "multilabel_bad_label.jsonl", "", "found only 0 valid train examples of 1 received (1 invalid, 0 incorrectly encoded"},
	{"multilabel_csv_refused", multi, params(), "classify_valid.csv", "", "does not accept csv files (it accepts jsonl)"},
	// reranker.
	{"rerank_jsonl", rerank, params(), "rerank_valid.jsonl", "", ""},
	{"rerank_with_eval", rerank, params(), "rerank_valid.jsonl", "rerank_eval.jsonl", ""},
	{"rerank_passage_in_both", rerank, params(), "rerank_both.jsonl", "", `passage "same" is in both relevant_passages and hard_negatives (line: 2)`},
	{"rerank_too_few", rerank, params(), "rerank_too_few.jsonl", "", "found only 10 unique queries in total; at least 256 required"},
	{"rerank_no_relevant", rerank, params(), "rerank_no_relevant.jsonl", "", "field relevant_passages has no passage"},
	// chat.
	{"chat_autosplit", chat, params(), "chat_valid.jsonl", "", ""},
	{"chat_with_eval", chat, params(), "chat_valid.jsonl", "chat_eval.jsonl", ""},
	{"chat_wrong_role", chat, params(), "chat_wrong_role.jsonl", "", "extra speaker in example: Assistant (line : 2)"},
	{"chat_missing_chatbot", chat, params(), "chat_missing_chatbot.jsonl", "", "missing Chatbot in example (line : 3)"},
	{"chat_missing_user", chat, params(), "chat_missing_user.jsonl", "", "missing User in example (line : 1)"},
	{"chat_too_few", chat, params(), "chat_too_few.jsonl", "", "not enough valid examples: found only 1 valid train examples of 1 received (0 incorrectly encoded, 0 duplicated, 0 too many tokens); at least 2 valid examples required since no eval data was provided"},
	{"chat_duplicates_dropped", chat, params(), "chat_dups.jsonl", "", ""},
	{"chat_all_duplicates", chat, params(), "chat_all_dups.jsonl", "", "found only 1 valid train examples of 2 received (0 incorrectly encoded, 1 duplicated"},
	{"chat_later_system_is_speaker", chat, params(), "chat_speaker_system.jsonl", "", ""},
	{"chat_eval_wrong_role", chat, params(), "chat_valid.jsonl", "chat_wrong_role.jsonl", "invalid eval file: extra speaker in example: Assistant (line : 2)"},
	// batch-embed-v2-input.
	{"batch_embed", batchV2, params(), "batch_embed_valid.jsonl", "", ""},
	{"batch_embed_duplicate_id", batchV2, params(), "batch_embed_dup.jsonl", "", ""},
	{"batch_embed_duplicate_skipped", batchV2, params("skip", "true"), "batch_embed_dup.jsonl", "", ""},
	{"batch_embed_no_inputs", batchV2, params(), "batch_embed_no_inputs.jsonl", "", ""},
	{"batch_embed_body_string", batchV2, params(), "batch_embed_body_string.jsonl", "", "field body must be an object, not string (line: 1)"},
	// types with no documented format.
	{"generic_batch_chat", silo.TypeBatchChatInput, params(), "generic_batch_chat.jsonl", "", ""},
	{"generic_keep_custom_id", silo.TypeBatchChatV2Input, params("keep", "custom_id"), "generic_batch_chat.jsonl", "", ""},
	{"generic_not_object", silo.TypeEmbedResult, params(), "embed_bad_json.jsonl", "", "row is not valid JSON"},
}

// golden is the part of a verdict the golden files pin.
type golden struct {
	OK             bool               `json:"ok"`
	Error          string             `json:"error,omitempty"`
	Warnings       []string           `json:"warnings,omitempty"`
	Schema         json.RawMessage    `json:"schema,omitempty"`
	RequiredFields []string           `json:"required_fields,omitempty"`
	PreserveFields []string           `json:"preserve_fields,omitempty"`
	Metrics        json.RawMessage    `json:"metrics,omitempty"`
	Parts          []silo.PartStats   `json:"parts"`
	Rows           [][]map[string]any `json:"rows,omitempty"` // first rows of each Avro part
}

const goldenRows = 6

func TestCorpus(t *testing.T) {
	for _, c := range corpusCases {
		t.Run(c.name, func(t *testing.T) {
			ups := []upload{corpus(t, c.train, false)}
			if c.eval != "" {
				ups = append(ups, corpus(t, c.eval, true))
			}
			v, avros := validate(t, Options{}, c.typ, c.params, ups...)
			if c.want == "" && !v.OK {
				t.Fatalf("want OK, got error %q", v.Report.Error)
			}
			if c.want != "" && (v.OK || !strings.Contains(v.Report.Error, c.want)) {
				t.Fatalf("want error containing %q, got OK=%v error %q", c.want, v.OK, v.Report.Error)
			}
			g := golden{OK: v.OK, Error: v.Report.Error, Warnings: v.Report.Warnings,
				RequiredFields: v.Report.RequiredFields, PreserveFields: v.Report.PreserveFields,
				Metrics: v.Report.Metrics, Parts: v.Parts}
			if v.OK {
				g.Schema = json.RawMessage(v.Report.Schema)
				for i, a := range avros {
					rows, schema := decodeAvro(t, a.Bytes())
					checkAvro(t, v, i, rows, schema)
					g.Rows = append(g.Rows, rows[:min(len(rows), goldenRows)])
				}
			}
			compareGolden(t, c.name, g)
		})
	}
}

// checkAvro checks that a part holds NumRows rows under the advertised
// schema, and that its first rows are the samples.
func checkAvro(t *testing.T, v *silo.Validation, i int, rows []map[string]any, schema string) {
	t.Helper()
	if int64(len(rows)) != v.Parts[i].NumRows {
		t.Errorf("part %d: %d Avro rows, NumRows %d", i, len(rows), v.Parts[i].NumRows)
	}
	var a, b any
	if json.Unmarshal([]byte(schema), &a) != nil || json.Unmarshal([]byte(v.Report.Schema), &b) != nil {
		t.Fatalf("schemas do not parse: %s / %s", schema, v.Report.Schema)
	}
	if !bytes.Equal(mustJSON(a), mustJSON(b)) {
		t.Errorf("part schema %s, report schema %s", schema, v.Report.Schema)
	}
	for j, s := range v.Parts[i].Samples {
		var sample map[string]any
		if err := json.Unmarshal([]byte(s), &sample); err != nil {
			t.Fatalf("sample %d is not JSON: %v", j, err)
		}
		if !bytes.Equal(mustJSON(sample), mustJSON(rows[j])) {
			t.Errorf("sample %d %s, Avro row %s", j, mustJSON(sample), mustJSON(rows[j]))
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func compareGolden(t *testing.T, name string, g golden) {
	t.Helper()
	got, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./validate -run TestCorpus -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("verdict differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

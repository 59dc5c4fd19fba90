package validate

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/silo-datasets/silo"
)

// The Cohere documents each rule follows (cohere-developer-experience,
// fern/pages/...; README.md's rule table gives the commits).
const (
	docCLS     = "classify-preparing-the-data.mdx: invalid examples are filtered out; >= 40 examples, >= 5 per label, >= 2 labels"
	docCHAT    = "chat-preparing-the-data.mdx: a turn is the messages up to the Chatbot speaker; turns over 16384 tokens are dropped"
	docCHATRun = "chat-starting-the-training.mdx: the too-many-tokens warning's conversation index starts at 0; errors give (line : X)"
	docDS      = "get-started/datasets.mdx: type table (eval minimums) and metadata preservation (keep_fields fail when missing)"
	docNone    = "no Cohere document: batch-embed-v2-input's shape is only shown by the batch notebook"
)

// classifyRows makes n single-label rows, labels cycling through labels.
func classifyRows(n int, labels ...string) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, `{"text":"example %d","label":%q}`+"\n", i, labels[i%len(labels)])
	}
	return sb.String()
}

func chatRow(msgs ...string) string {
	var ms []map[string]string
	for i := 0; i+1 < len(msgs); i += 2 {
		ms = append(ms, map[string]string{"role": msgs[i], "content": msgs[i+1]})
	}
	return string(mustJSON(map[string]any{"messages": ms})) + "\n"
}

func batchRow(id string, inputs string) string {
	return fmt.Sprintf(`{"custom_id":%q,"body":{"input_type":"search_document","inputs":%s}}`+"\n", id, inputs)
}

// TestCohereRules: each rule as Cohere documents it, with the document.
func TestCohereRules(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	shortChats := chatRow("User", "a", "Chatbot", "b") + chatRow("User", "c", "Chatbot", "d")
	for _, tc := range []struct {
		name, source string
		typ          silo.DatasetType
		params       silo.CreateParams
		train, eval  string
		err          string // "" = validates
		warning      string // a substring of one warning
		rows         int64  // kept training rows (when it validates)
	}{
		// 1. classification: invalid examples are filtered, the minimums apply to what remains.
		{"classify one empty text among 60", docCLS, single, params(),
			classifyRows(60, "pos", "neg") + `{"text":"","label":"pos"}` + "\n", "",
			"", "1 example was removed: field text is empty (line: 61)", 60},
		{"classify missing label", docCLS, single, params(),
			classifyRows(40, "pos", "neg") + `{"text":"no label"}` + "\n" + `{"text":"null label","label":null}` + "\n", "",
			"", "2 examples were removed: The required field label was not fund in the dataset (line: 41); " +
				"The required field label was not fund in the dataset (line: 42)", 40},
		{"classify 40 minimum on what remains", docCLS, single, params(),
			classifyRows(39, "pos", "neg") + `{"text":" ","label":"pos"}` + "\n", "",
			"found only 39 valid train examples of 40 received (1 invalid,", "1 example was removed", 0},
		{"classify 5 per label on what remains", docCLS, single, params(),
			classifyRows(32, "pos", "pos", "pos", "pos", "pos", "pos", "pos", "neg") + classifyRows(8, "pos") +
				`{"text":"","label":"neg"}` + "\n", "",
			`label "neg" has only 4 train examples`, "1 example was removed", 0},
		{"classify 2 labels on what remains", docCLS, single, params(),
			classifyRows(45, "pos") + strings.Repeat(`{"text":"","label":"neg"}`+"\n", 5), "",
			"at least 2 unique labels are required", "5 examples were removed", 0},
		{"multi-label bad label filtered", docCLS, multi, params(),
			strings.ReplaceAll(classifyRows(40, "a", "b"), `"label":"a"`, `"label":["a"]`) + `{"text":"t","label":[""]}` + "\n", "",
			"", "1 example was removed: field label must be a list of non-empty strings (line: 41)", 40},
		{"classify keep_field missing still fails", docDS, single, params("keep", "source"),
			strings.Replace(classifyRows(40, "pos", "neg"), "}\n", `,"source":"s"}`+"\n", 39), "",
			"The required field source was not fund in the dataset (line: 40)", "", 0},
		{"classify eval minimum (documented)", docDS, single, params(),
			classifyRows(40, "pos", "neg"), classifyRows(10, "pos", "neg"),
			"invalid eval file: not enough valid examples: found only 10 valid eval examples", "", 0},
		// 2. chat: tokens per turn; 3. indices.
		{"chat turn over 16384 tokens dropped", docCHAT, chat, params(),
			shortChats + chatRow("User", x(60000), "Chatbot", x(60000)) + chatRow("User", "e", "Chatbot", "f"), "",
			"", "train dataset has conversations with too many tokens. conversation number: number of turns " +
				"with too many tokens is as follows, 2:1", 3},
		{"chat two long turns in one conversation", docCHAT, chat, params(),
			chatRow("User", x(40000), "Chatbot", x(30000), "User", "ok", "Chatbot", "ok", "User", x(70000), "Chatbot", "z") + shortChats, "",
			"", "is as follows, 0:2", 2},
		{"chat messages under the limit each, a turn under it too", docCHAT, chat, params(),
			chatRow("User", x(30000), "Chatbot", x(30000)) + shortChats, "",
			"", "", 3},
		{"chat preamble is in no turn", docCHAT, chat, params(),
			chatRow("System", x(8000), "User", x(60000), "Chatbot", x(4000)) + shortChats, "",
			"", "", 3},
		{"chat messages after the last reply end no turn", docCHAT, chat, params(),
			chatRow("User", "q", "Chatbot", "a", "User", x(70000)) + shortChats, "",
			"", "", 3},
		{"chat eval warning index", docCHATRun, chat, params(),
			shortChats, chatRow("User", "a", "Chatbot", "b") + chatRow("User", x(70000), "Chatbot", "c"),
			"", "eval dataset has conversations with too many tokens. conversation number: number of turns " +
				"with too many tokens is as follows, 1:1", 2},
		{"chat error lines stay 1-based", docCHATRun, chat, params(),
			shortChats + chatRow("User", "a", "Bot", "b"), "",
			"extra speaker in example: Bot (line : 3)", "", 0},
		// 4. rules no Cohere document states are warnings.
		{"batch duplicate custom_id kept", docNone, batchV2, params(),
			batchRow("a", `[{"content":[]}]`) + batchRow("b", `[{"content":[]}]`) + batchRow("a", `[{"content":[]}]`), "",
			"", `1 row has a custom_id that an earlier row already has ("a" (row 3))`, 3},
		{"batch body without inputs kept", docNone, batchV2, params(),
			batchRow("a", `[]`) + `{"custom_id":"b","body":{}}` + "\n", "",
			"", `2 rows have a body without a non-empty inputs list ("a" (row 1), "b" (row 2))`, 2},
		{"batch body not an object fails", docNone, batchV2, params(),
			`{"custom_id":"a","body":"text"}` + "\n", "",
			"field body must be an object, not string (line: 1)", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ups := []upload{{data: strings.NewReader(tc.train), format: silo.FormatJSONL}}
			if tc.eval != "" {
				ups = append(ups, upload{data: strings.NewReader(tc.eval), format: silo.FormatJSONL, eval: true})
			}
			v, _ := validate(t, Options{}, tc.typ, tc.params, ups...)
			if tc.err == "" && !v.OK || tc.err != "" && (v.OK || !strings.Contains(v.Report.Error, tc.err)) {
				t.Fatalf("[%s] want error %q, got OK=%v error %q (warnings %q)", tc.source, tc.err, v.OK, v.Report.Error, v.Report.Warnings)
			}
			if tc.warning != "" && !strings.Contains(strings.Join(v.Report.Warnings, "\n"), tc.warning) {
				t.Fatalf("[%s] no warning %q in %q", tc.source, tc.warning, v.Report.Warnings)
			}
			if tc.warning == "" && tc.err == "" && len(v.Report.Warnings) > 0 && tc.typ != chat {
				t.Fatalf("[%s] unexpected warnings %q", tc.source, v.Report.Warnings)
			}
			if v.OK && v.Parts[0].NumRows != tc.rows {
				t.Fatalf("[%s] %d rows kept, want %d", tc.source, v.Parts[0].NumRows, tc.rows)
			}
		})
	}
}

// perRune is a tokenizer that counts one token per rune.
type perRune struct{}

func (perRune) CountTokens(s string) int64 { return int64(len([]rune(s))) }

// TestTokenizerOption: the token limits use Options.Tokenizer. A 20,000
// character turn is 5,000 tokens by the default estimate and 20,000 by a
// tokenizer that counts every character.
func TestTokenizerOption(t *testing.T) {
	data := chatRow("User", "a", "Chatbot", "b") + chatRow("User", "c", "Chatbot", "d") +
		chatRow("User", strings.Repeat("y", 20000), "Chatbot", "e")
	for _, tc := range []struct {
		tok  Tokenizer
		rows int64
	}{{nil, 3}, {CharEstimate{}, 3}, {perRune{}, 2}} {
		v, _ := validate(t, Options{Tokenizer: tc.tok}, chat, params(), upload{data: strings.NewReader(data), format: silo.FormatJSONL})
		if !v.OK || v.Parts[0].NumRows != tc.rows {
			t.Fatalf("%T: OK=%v rows %d, want %d", tc.tok, v.OK, v.Parts[0].NumRows, tc.rows)
		}
	}
}

// TestMetadataTypes: kept metadata fields keep their JSON type in the Avro
// part when one type holds for the column; a mixed column is kept as strings
// with a warning (the part is read back by hamba/avro here, and by avsc in
// TestAvroAvsc's "metadata_types" case).
func TestMetadataTypes(t *testing.T) {
	v, avros := validate(t, Options{}, embed, params("keep", "n,f,b,obj,big", "optional", "opt,mix"),
		corpus(t, "embed_meta_types.jsonl", false))
	if !v.OK {
		t.Fatalf("error %q", v.Report.Error)
	}
	var schema struct {
		Fields []struct {
			Name string
			Type any
		}
	}
	if err := json.Unmarshal([]byte(v.Report.Schema), &schema); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	for _, f := range schema.Fields {
		types[f.Name] = string(mustJSON(f.Type))
	}
	want := map[string]string{"text": `"string"`, "n": `"long"`, "f": `"double"`, "b": `"boolean"`, "obj": `"string"`,
		"big": `"string"`, "mix": `["null","string"]`, "opt": `["null","double"]`}
	for k, w := range want {
		if types[k] != w {
			t.Errorf("field %s: type %s, want %s", k, types[k], w)
		}
	}
	for _, w := range []string{"field mix holds values of several JSON types (boolean, number, string)",
		"field big holds integers beyond 2^53"} {
		if !strings.Contains(strings.Join(v.Report.Warnings, "\n"), w) {
			t.Errorf("no warning %q in %q", w, v.Report.Warnings)
		}
	}
	rows, _ := decodeAvro(t, avros[0].Bytes())
	checkAvro(t, v, 0, rows, v.Report.Schema)
	got := string(mustJSON(rows))
	wantRows := `[{"b":true,"big":"9007199254740993","f":1.5,"mix":"1","n":1,"obj":"{\"k\":1}","opt":2.5,"text":"a"},` +
		`{"b":false,"big":"1","f":2,"mix":"two","n":-2,"obj":"[1,2]","opt":null,"text":"b"},` +
		`{"b":true,"big":"2","f":1000,"mix":"false","n":3,"obj":"{}","opt":null,"text":"c"}]`
	if got != wantRows {
		t.Fatalf("rows\n%s\nwant\n%s", got, wantRows)
	}
}

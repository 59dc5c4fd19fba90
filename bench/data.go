package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

var filler = strings.Repeat("lorem ipsum dolor sit amet ", 12)

// chatRow is a unique three-turn chat-finetune conversation of about 900
// bytes, valid for Cohere's chat-finetune-input rules.
func chatRow(b []byte, i int) []byte {
	b = append(b, `{"messages":[{"role":"System","content":"You are assistant number `...)
	b = strconv.AppendInt(b, int64(i%7), 10)
	b = append(b, `."},{"role":"User","content":"Question `...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, ": "+filler+`"},{"role":"Chatbot","content":"Answer: `+filler+filler+`"}]}`+"\n"...)
	return b
}

// embedRow is an embed-input CSV row of about 350 bytes whose text is
// quoted and holds commas and quotes.
func embedRow(b []byte, i int) []byte {
	b = append(b, `"Row `...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `, with a comma and ""quotes"": `+filler+`",title `...)
	b = strconv.AppendInt(b, int64(i), 10)
	return append(b, '\n')
}

// dataFile writes (once per run) a file of whole rows of at least size
// bytes in the run's temp dir and returns its path.
func (b *bench) dataFile(kind string, size int64) (string, error) {
	ext, header, gen := ".jsonl", "", chatRow
	if kind == "embed" {
		ext, header, gen = ".csv", "text,title\n", embedRow
	}
	path := filepath.Join(b.tmp, "data", fmt.Sprintf("%s-%d%s", kind, size, ext))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	f, err := os.Create(path + ".tmp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(header)
	n := int64(len(header))
	var row []byte
	for i := 0; n < size; i++ {
		row = gen(row[:0], i)
		w.Write(row)
		n += int64(len(row))
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(path+".tmp", path)
}

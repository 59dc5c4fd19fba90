package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"

	"github.com/silo-datasets/silo/internal/gen"
)

// dataFile writes (once per run) a file of whole rows of at least size
// bytes in the run's temp dir and returns its path.
func (b *bench) dataFile(kind string, size int64) (string, error) {
	ext, header, makeRow := ".jsonl", "", gen.ChatRow
	if kind == "embed" {
		ext, header, makeRow = ".csv", "text,title\n", gen.EmbedCSVRow
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
		row = makeRow(row[:0], i)
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

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/validate"
)

// validation is workload 5: the validator's throughput on a large
// chat-finetune JSONL and a large embed-input CSV, read from a file as the
// worker reads a blob, against jq parsing the same JSONL and cat reading
// it.
func (b *bench) validation() error {
	chat, err := b.dataFile("chat", b.sz.Validate)
	if err != nil {
		return err
	}
	embed, err := b.dataFile("embed", b.sz.Validate)
	if err != nil {
		return err
	}
	_, jqErr := exec.LookPath("jq")
	var vc, vc1, po, ve, jq, cat []float64
	for range b.sz.Rounds {
		d, err := validateFile(chat, silo.TypeChatFinetune, silo.FormatJSONL, silo.CreateParams{})
		if err != nil {
			return err
		}
		vc = append(vc, mbps(fileSize(chat), d))
		prev := runtime.GOMAXPROCS(1)
		d, err = validateFile(chat, silo.TypeChatFinetune, silo.FormatJSONL, silo.CreateParams{})
		runtime.GOMAXPROCS(prev)
		if err != nil {
			return err
		}
		vc1 = append(vc1, mbps(fileSize(chat), d))
		if d, err = parseOnly(chat); err != nil {
			return err
		}
		po = append(po, mbps(fileSize(chat), d))
		if d, err = validateFile(embed, silo.TypeEmbedInput, silo.FormatCSV, silo.CreateParams{KeepFields: []string{"title"}}); err != nil {
			return err
		}
		ve = append(ve, mbps(fileSize(embed), d))
		if jqErr == nil {
			if d, err = timeShell(`jq -c . < "$0" > /dev/null`, chat); err != nil {
				return err
			}
			jq = append(jq, mbps(fileSize(chat), d))
		}
		if d, err = timeShell(`cat "$0" > /dev/null`, chat); err != nil {
			return err
		}
		cat = append(cat, mbps(fileSize(chat), d))
	}
	w := "5 validation"
	size := fmtMiB(b.sz.Validate)
	if jqErr == nil {
		b.ratioRow(w, "chat-finetune JSONL "+size+", validate package", fmtMBps(median(vc)), fmtMBps(median(jq))+" `jq -c .`", median(vc)/median(jq), ">=", 3)
		b.ratioRow(w, "embed-input CSV "+size+" (vs jq on the JSONL)", fmtMBps(median(ve)), fmtMBps(median(jq))+" `jq -c .`", median(ve)/median(jq), ">=", 3)
	} else {
		b.note("jq is not installed: the validation rows against jq were skipped (make bench installs it)")
	}
	b.ratioRow(w, "chat-finetune JSONL "+size+", validate package (all cores) vs a parse-only pass (jsontext, one core)",
		fmtMBps(median(vc)), fmtMBps(median(po))+" parse-only", median(vc)/median(po), ">=", 0.5)
	b.ratioRow(w, "the same, validate package on one core (GOMAXPROCS 1)",
		fmtMBps(median(vc1)), fmtMBps(median(po))+" parse-only", median(vc1)/median(po), "", 0)
	b.ratioRow(w, "chat-finetune JSONL vs raw read", fmtMBps(median(vc)), fmtMBps(median(cat))+" `cat`", median(vc)/median(cat), "", 0)
	b.ratioRow(w, "embed-input CSV vs raw read", fmtMBps(median(ve)), fmtMBps(median(cat))+" `cat`", median(ve)/median(cat), "", 0)
	return nil
}

// parseOnly is the baseline of issue 14's validation target: the same
// file only checked as JSON, value after value, by the v2 tokenizer that
// the validator decodes with, on one goroutine.
func parseOnly(path string) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	dec := jsontext.NewDecoder(bufio.NewReaderSize(f, 64<<10))
	for {
		if _, err := dec.ReadValue(); err == io.EOF {
			return time.Since(start), nil
		} else if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
	}
}

// validateFile runs the validator as the worker does, Avro output
// discarded, and fails unless the file validates.
func validateFile(path string, typ silo.DatasetType, format silo.Format, p silo.CreateParams) (time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	d := &silo.Dataset{Type: typ, Params: p}
	file := silo.ValidationFile{Part: &silo.Part{Kind: silo.PartTrain, Format: format}, Data: f, Avro: discard{}}
	v, err := validate.New(validate.Options{}).Validate(context.Background(), d, []silo.ValidationFile{file})
	if err != nil {
		return 0, err
	}
	if !v.OK {
		return 0, fmt.Errorf("%s did not validate: %s", path, v.Report.Error)
	}
	return time.Since(start), nil
}

// discard is io.Discard without its ReadFrom, so that the validator's
// writes cost what a write costs.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func timeShell(script, arg string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.Command("sh", "-c", script, arg).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %v: %s", script, err, out)
	}
	return time.Since(start), nil
}

package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/client"
)

func newDatasetsCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:     "datasets",
		Aliases: []string{"dataset", "ds"},
		Short:   "Upload, list, inspect, download and delete datasets",
	}
	addClientFlags(cmd, &f)
	cmd.AddCommand(newUploadCommand(&f), newListCommand(&f), newGetCommand(&f), newDownloadCommand(&f), newDeleteCommand(&f))
	return cmd
}

// waitInterval is how often --wait polls; tests shorten it.
var waitInterval = time.Second

func newUploadCommand(f *clientFlags) *cobra.Command {
	var name, typ, eval, chunk string
	var wait, dropOriginal bool
	var params []string
	var retryFor time.Duration
	cmd := &cobra.Command{
		Use:   "upload FILE --name NAME --type TYPE",
		Short: "Create a dataset from a file (.jsonl, .csv, .txt)",
		Long: "Create a dataset from a file (.jsonl, .json, .csv or .txt, uncompressed; the dataset type decides\n" +
			"which of those it accepts). With --wait, wait until validation ends and exit 1 if it failed.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			req := client.UploadRequest{Name: name, Type: typ, Params: url.Values{}}
			if dropOriginal {
				req.Params.Set("keep_original_file", "false")
			}
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				if !ok {
					return fmt.Errorf("--param %q: want KEY=VALUE, e.g. csv_delimiter=;", p)
				}
				req.Params.Add(k, v)
			}
			chunkSize, err := silo.ParseSize(chunk)
			if err != nil || chunkSize < 1 {
				return fmt.Errorf("--chunk-size: want a size such as 64MiB, not %q", chunk)
			}
			st, err := os.Stat(args[0])
			if err != nil {
				return err
			}
			var id string
			var raw []byte
			if st.Size() > chunkSize {
				r := resumable{c: c, cmd: cmd, chunk: chunkSize, retryFor: retryFor}
				id, raw, err = r.upload(req, args[0], eval)
			} else {
				id, raw, err = plainUpload(cmd, c, req, args[0], eval)
			}
			if err != nil {
				return err
			}
			req.Data.Size = st.Size()
			if !wait {
				if f.json {
					return printJSON(cmd.OutOrStdout(), raw)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created dataset %s (%s); validation is queued\n", id, size(req.Data.Size))
				return nil
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "created dataset %s; waiting for validation\n", id)
			d, raw, err := c.Wait(cmd.Context(), id, waitInterval)
			if err != nil {
				return err
			}
			return reportValidation(cmd, f, d, raw)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "name", "", "dataset name (fewer than 50 characters)")
	fl.StringVar(&typ, "type", "", "dataset type, e.g. embed-input or chat-finetune-input")
	fl.StringVar(&eval, "eval", "", "evaluation file to upload with it")
	fl.BoolVar(&wait, "wait", false, "wait until validation ends; exit 1 if it fails")
	fl.BoolVar(&dropOriginal, "drop-original", false, "keep only the validated Avro file (keep_original_file=false)")
	fl.StringArrayVar(&params, "param", nil, "further create parameter KEY=VALUE (e.g. csv_delimiter=;), repeatable")
	fl.StringVar(&chunk, "chunk-size", "64MiB", "files larger than this go as resumable uploads (tus), in chunks of this size, each with its SHA-256")
	fl.DurationVar(&retryFor, "retry-for", 10*time.Minute, "how long a resumable upload keeps retrying after a dropped connection or a server error")
	cmd.MarkFlagRequired("name")
	cmd.MarkFlagRequired("type")
	cmd.RegisterFlagCompletionFunc("type", completeTypes)
	cmd.MarkFlagFilename("eval", "jsonl", "csv", "txt", "json")
	return cmd
}

// plainUpload sends the files in one create request.
func plainUpload(cmd *cobra.Command, c *client.Client, req client.UploadRequest, path, eval string) (string, []byte, error) {
	data, closeData, err := openUpload(path, "uploading")
	if err != nil {
		return "", nil, err
	}
	defer closeData()
	req.Data = data
	if eval != "" {
		ev, closeEval, err := openUpload(eval, "uploading eval")
		if err != nil {
			return "", nil, err
		}
		defer closeEval()
		req.Eval = &ev
	}
	id, raw, err := c.Upload(cmd.Context(), req)
	closeData()
	return id, raw, err
}

// openUpload opens a file to upload, behind a progress bar on a terminal.
func openUpload(path, desc string) (client.File, func(), error) {
	fh, err := os.Open(path)
	if err != nil {
		return client.File{}, nil, err
	}
	st, err := fh.Stat()
	if err != nil || !st.Mode().IsRegular() {
		fh.Close()
		return client.File{}, nil, fmt.Errorf("%s is not a regular file", path)
	}
	r, finish := progress(fh, st.Size(), desc+" "+filepath.Base(path))
	var once bool
	done := func() {
		if !once {
			once = true
			finish()
			fh.Close()
		}
	}
	return client.File{Name: filepath.Base(path), Body: r, Size: st.Size()}, done, nil
}

// reportValidation prints a dataset whose validation ended; a failed one
// is an error (exit 1) whose message is the validation error.
func reportValidation(cmd *cobra.Command, f *clientFlags, d *client.Dataset, raw []byte) error {
	if f.json {
		if err := printJSON(cmd.OutOrStdout(), raw); err != nil {
			return err
		}
	}
	if d.ValidationStatus == "failed" {
		return withExit(exitFailed, fmt.Errorf("dataset %s failed validation: %s", d.ID, oneLine(d.ValidationError)))
	}
	if !f.json {
		fmt.Fprintf(cmd.OutOrStdout(), "dataset %s %s: %d rows, %s\n", d.ID, d.ValidationStatus, d.Rows(), size(d.SizeBytes))
		for _, w := range d.ValidationWarnings {
			fmt.Fprintf(cmd.OutOrStdout(), "warning: %s\n", oneLine(w))
		}
	}
	return nil
}

func newListCommand(f *clientFlags) *cobra.Command {
	var o client.ListOptions
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List your organisation's datasets, newest first",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ds, raw, err := c.List(cmd.Context(), o)
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			if len(ds) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no datasets")
				return nil
			}
			tw := table(cmd.OutOrStdout(), "ID", "NAME", "TYPE", "STATUS", "ROWS", "SIZE", "CREATED")
			for _, d := range ds {
				row(tw, d.ID, d.Name, d.DatasetType, d.ValidationStatus, rows(&d), size(d.SizeBytes), when(d.CreatedAt))
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Type, "type", "", "only datasets of this type")
	fl.StringVar(&o.Status, "status", "", "only datasets with this validation status (queued, processing, validated, failed)")
	fl.IntVar(&o.Limit, "limit", 0, "at most this many (1 to 1000; default all)")
	fl.IntVar(&o.Offset, "offset", 0, "skip this many")
	cmd.RegisterFlagCompletionFunc("type", completeTypes)
	cmd.RegisterFlagCompletionFunc("status", cobra.FixedCompletions([]string{"queued", "processing", "validated", "failed"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// rows is "-" until validation has counted them.
func rows(d *client.Dataset) string {
	if d.ValidationStatus != "validated" {
		return "-"
	}
	return fmt.Sprint(d.Rows())
}

func newGetCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:               "get ID",
		Short:             "Show one dataset: status, parts, validation errors",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeDatasetIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			d, raw, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			printDataset(cmd.OutOrStdout(), d)
			return nil
		},
	}
}

func printDataset(w io.Writer, d *client.Dataset) {
	tw := table(w, "ID", d.ID)
	row(tw, "Name", d.Name)
	row(tw, "Type", d.DatasetType)
	row(tw, "Status", d.ValidationStatus)
	row(tw, "Size", size(d.SizeBytes))
	row(tw, "Rows", rows(d))
	row(tw, "Created", when(d.CreatedAt))
	if d.ExpiresAt != nil {
		row(tw, "Expires", when(*d.ExpiresAt))
	}
	if d.ClientName != "" {
		row(tw, "Client", d.ClientName)
	}
	if d.ValidationError != "" {
		row(tw, "Error", oneLine(d.ValidationError))
	}
	for _, warn := range d.ValidationWarnings {
		row(tw, "Warning", oneLine(warn))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = table(w, "PART", "KIND", "SIZE", "ROWS", "AVRO")
	for _, p := range d.DatasetParts {
		avro := "no"
		if p.URL != "" {
			avro = "yes"
		}
		row(tw, p.Name, p.Kind, size(p.SizeBytes), p.NumRows, avro)
	}
	tw.Flush()
}

func newDeleteCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:               "delete ID",
		Aliases:           []string{"rm"},
		Short:             "Delete a dataset; its bytes stop counting at once",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeDatasetIDs(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), []byte("{}"))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted dataset %s\n", args[0])
			return nil
		},
	}
}

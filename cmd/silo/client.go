package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/client"
)

// clientFlags are the flags every client command shares. The key comes
// only from SILO_API_KEY: a flag would show it in ps and shell history.
type clientFlags struct {
	url  string
	json bool
}

// addClientFlags adds --url and --json to a command group.
func addClientFlags(cmd *cobra.Command, f *clientFlags) {
	cmd.PersistentFlags().StringVar(&f.url, "url", env("SILO_URL", "http://127.0.0.1:8080"), "base URL of the silo server (SILO_URL)")
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print the API's JSON instead of a human-readable summary")
}

// client returns an API client for the server and key the environment names.
func (f *clientFlags) client() (*client.Client, error) {
	key := os.Getenv("SILO_API_KEY")
	if key == "" {
		return nil, errors.New("SILO_API_KEY is not set: export SILO_API_KEY=<your API key>")
	}
	return client.New(f.url, key), nil
}

// printJSON prints an API answer, indented, as the API sent it.
func printJSON(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// table writes aligned columns; call flush when done.
func table(w io.Writer, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

func row(tw *tabwriter.Writer, cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(tw, strings.Join(s, "\t"))
}

// size renders bytes as "3.2 GB", "10 GB" (no ".0"), "512 B".
func size(n int64) string { return silo.HumanSize(n) }

// when renders a timestamp in local time, to the minute.
func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// onTerminal reports whether stderr is a terminal: progress bars go there,
// and only there, so pipes and CI logs stay clean.
func onTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

// progress wraps r in a progress bar on stderr when stderr is a terminal.
// total is -1 when unknown. The returned finish ends the bar's line.
func progress(r io.Reader, total int64, desc string) (io.Reader, func()) {
	if !onTerminal() {
		return r, func() {}
	}
	bar := newBar(total, desc)
	pr := progressbar.NewReader(r, bar)
	return &pr, func() { bar.Finish() }
}

// progressAt is a progress bar of total bytes that is told where it is
// (a resumable upload starts at the offset it resumes from).
func progressAt(total int64, desc string) (set func(int64), finish func()) {
	if !onTerminal() {
		return func(int64) {}, func() {}
	}
	bar := newBar(total, desc)
	return func(n int64) { bar.Set64(n) }, func() { bar.Finish() }
}

// newBar is a progress bar of total bytes on stderr.
func newBar(total int64, desc string) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSpinnerType(14),
	)
}

// completeTypes completes --type with Cohere's dataset types.
func completeTypes(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	out := make([]string, len(silo.DatasetTypes))
	for i, t := range silo.DatasetTypes {
		out[i] = string(t)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeDatasetIDs completes a dataset id from the server, when
// SILO_API_KEY is set; otherwise it offers nothing.
func completeDatasetIDs(f *clientFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := f.client()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		ds, _, err := c.List(cmd.Context(), client.ListOptions{Limit: 1000})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.ID + "\t" + d.Name
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/fsck"
)

func newFsckCommand() *cobra.Command {
	var c Config
	var repair bool
	cmd := &cobra.Command{
		Use:   "fsck",
		Short: "Check (and with --repair fix) the stores while no server uses them",
		Long: `fsck checks that every organisation's usage equals the sum of its datasets,
that its reserved bytes equal its open reservations, the same of every project
(and that what names a project names one of its organisation), that every dataset's files
exist with their recorded sizes and SHA-256 checksums, and that no blob, temp
file or reservation is orphaned. It exits 0 only when everything is consistent.

With the embedded stores (--data) it takes the data directory's lock, so it
never runs beside a server. With --db postgres://... it cannot know whether
nodes run: stop them first; without them stopped, --repair only releases
reservations and pending blobs whose lease ran out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFsck(cmd.Context(), cmd.OutOrStdout(), c, repair)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Data, "data", env("SILO_DATA", "./silo-data"), "data directory of the embedded stores (SILO_DATA)")
	f.StringVar(&c.DB, "db", env("SILO_DB", ""), "metadata store URL (SILO_DB; default sqlite in --data)")
	f.StringVar(&c.Blobs, "blobs", env("SILO_BLOBS", ""), "blob store URL (SILO_BLOBS; default file in --data)")
	f.BoolVar(&repair, "repair", false, "fix what is safe to fix and say what was done")
	return cmd
}

func runFsck(ctx context.Context, out io.Writer, c Config, repair bool) error {
	m := &Main{Config: c}
	defer m.Close()
	exclusive, err := m.openStores(ctx)
	if err != nil {
		return err
	}
	ck := &fsck.Checker{Store: m.Store, Blobs: m.Blobs, Exclusive: exclusive}
	r, err := ck.Check(ctx)
	if err != nil {
		return err
	}
	printReport(out, r)
	if repair && !r.OK() {
		if err := ck.Repair(ctx, r); err != nil {
			return fmt.Errorf("repair: %w", err)
		}
		for _, line := range r.Repairs {
			fmt.Fprintln(out, "repaired:", line)
		}
		if r, err = ck.Check(ctx); err != nil {
			return err
		}
		fmt.Fprintln(out, "after repair:")
		printReport(out, r)
	}
	if !r.OK() {
		return fmt.Errorf("fsck: %d findings", len(r.Findings))
	}
	return nil
}

func printReport(out io.Writer, r *fsck.Report) {
	fmt.Fprintf(out, "checked %d organisations, %d projects, %d datasets, %d parts, %d ledger rows, %d stored blobs; read and hashed %s\n",
		r.Orgs, r.Projects, r.Datasets, r.Parts, r.LedgerRows, r.Blobs, silo.FormatSize(r.BytesVerified))
	if r.Uploads > 0 {
		fmt.Fprintf(out, "%d resumable uploads are open (not expired): their bytes so far are theirs, not findings\n", r.Uploads)
	}
	for _, f := range r.Findings {
		fmt.Fprintln(out, "found:", f)
	}
	for _, s := range r.Skipped {
		fmt.Fprintln(out, "skipped:", s)
	}
	if r.OK() {
		fmt.Fprintln(out, "consistent: nothing lost, miscounted or orphaned")
	}
}

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/transfer"
)

func newMigrateCommand() *cobra.Command {
	var from, to Config
	cmd := &cobra.Command{
		Use:   "migrate --from-data DIR | --from-db URL --from-blobs URL  --to-data DIR | --to-db URL --to-blobs URL",
		Short: "Copy a whole silo from one pair of stores to another (offline)",
		Long: `migrate copies every organisation, key, quota, usage counter and history,
dataset, validation result, file and the URL signing secret from one pair of
stores to another: from the embedded default to PostgreSQL + S3, and back.
No server may run on either (the embedded stores are locked; stop the nodes
of a PostgreSQL + S3 service first). Files are verified by SHA-256 as they
are copied. The target must be empty (create its database and bucket first).

The source is checked first (every organisation's usage is the sum of
its datasets' sizes, ids and names are valid) and a --from-data that does
not exist or holds no silo data is refused. If the source changes while
it is copied (a PostgreSQL source still in use), migrate refuses at the
end instead of importing metadata whose files it did not copy.

Interrupted, run it again: it checks the files already copied (SHA-256),
copies what is missing and finishes. Run again after it finished, it
changes nothing. Uploads that were in flight
when the source stopped are not copied (it says how many).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMigrate(cmd, from, to)
		},
	}
	f := cmd.Flags()
	f.StringVar(&from.Data, "from-data", "", "source: an embedded data directory")
	f.StringVar(&from.DB, "from-db", "", "source metadata store URL (sqlite:// or postgres://)")
	f.StringVar(&from.Blobs, "from-blobs", "", "source blob store URL (file:// or s3://)")
	f.StringVar(&to.Data, "to-data", "", "target: a new embedded data directory")
	f.StringVar(&to.DB, "to-db", "", "target metadata store URL (sqlite:// or postgres://)")
	f.StringVar(&to.Blobs, "to-blobs", "", "target blob store URL (file:// or s3://)")
	return cmd
}

// sideOf checks one side's flags: a data directory, or both store URLs.
func sideOf(c Config, name string) error {
	if c.Data == "" && (c.DB == "" || c.Blobs == "") {
		return fmt.Errorf("say where to migrate %s: --%s-data DIR, or --%s-db URL and --%s-blobs URL", name, name, name, name)
	}
	return nil
}

func runMigrate(cmd *cobra.Command, from, to Config) (err error) {
	if err := errors.Join(sideOf(from, "from"), sideOf(to, "to")); err != nil {
		return err
	}
	out := cmd.ErrOrStderr()
	// The copier holds one part buffer per file in flight, and the S3
	// store's buffer pool drops them at every collection: a collection at
	// half the live heap instead of the whole keeps the peak near what the
	// copies need, whatever the size of the data.
	debug.SetGCPercent(50)
	if err := requireSource(from); err != nil {
		return err
	}
	src := &Main{Config: from}
	defer src.Close()
	if _, err := src.openStores(cmd.Context()); err != nil {
		return fmt.Errorf("source: %w", err)
	}
	dst := &Main{Config: to}
	defer dst.Close()
	if _, err := dst.openStores(cmd.Context()); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	if src.Config.DB == dst.Config.DB || src.Config.Blobs == dst.Config.Blobs {
		return errors.New("the source and the target are the same stores")
	}
	var bar *progressbar.ProgressBar
	mig := &transfer.Migration{
		From: transfer.Stores{Meta: src.Store, Blobs: src.Blobs},
		To:   transfer.Stores{Meta: dst.Store, Blobs: dst.Blobs},
		Plan: func(p *transfer.Plan) {
			fmt.Fprintf(out, "source: %d organisations, %d projects, %d keys, %d datasets, %d files (%s)\n",
				p.Orgs, p.Projects, p.Keys, p.Datasets, p.Blobs, silo.FormatSize(p.Bytes))
			if onTerminal() {
				bar = newBar(p.Bytes, "migrate")
			}
		},
		Progress: func(n int64) {
			if bar != nil {
				bar.Add64(n)
			}
		},
	}
	res, err := mig.Run(cmd.Context())
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	printMigration(out, res)
	return nil
}

// requireSource refuses an embedded source that is not there before
// anything opens it: opening creates an empty store, which would migrate
// as nothing and stamp the target, which would then refuse the right
// source.
func requireSource(c Config) error {
	if c.Data != "" {
		st, err := os.Stat(c.Data)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("--from-data %s: no such directory", c.Data)
		case err != nil:
			return fmt.Errorf("--from-data: %w", err)
		case !st.IsDir():
			return fmt.Errorf("--from-data %s is not a directory", c.Data)
		}
	}
	db := c.DB
	if db == "" {
		db = "sqlite://" + filepath.Join(absPath(c.Data), "silo.db")
	}
	if !strings.HasPrefix(db, "sqlite:") {
		return nil
	}
	path, err := sqlite.ParseURL(db)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("the source holds no silo data: there is no %s (a mistyped --from-data or --from-db?)", path)
	} else if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	return nil
}

func printMigration(out io.Writer, res *transfer.Result) {
	if res.AlreadyDone {
		fmt.Fprintln(out, "the target already holds this migration, complete: nothing to do")
		return
	}
	if res.Resumed {
		fmt.Fprintf(out, "resumed an interrupted migration: %d files were in place already\n", res.BlobsPresent)
	}
	fmt.Fprintf(out, "copied %d files (%s), each verified by SHA-256, and the metadata of %d datasets\n",
		res.BlobsCopied, silo.FormatSize(res.BytesCopied), res.Datasets)
	s := res.Skipped
	if s != (silo.Skipped{}) {
		fmt.Fprintf(out, "not copied: %d uploads in flight (%s reserved), %d files they or running validations wrote, %d files awaiting deletion, %d idempotent creates still running\n",
			s.Reservations, silo.FormatSize(s.ReservedBytes), s.PendingBlobs, s.GarbageBlobs, s.RunningCreates)
	}
	if s.ResumableUploads > 0 {
		fmt.Fprintf(out, "not copied: %d resumable uploads that were not datasets yet; their clients must upload them again\n", s.ResumableUploads)
	}
	fmt.Fprintln(out, "done: check the target with silo fsck, then start silo serve on it")
}

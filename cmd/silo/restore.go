package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/transfer"
)

func newRestoreCommand() *cobra.Command {
	var data string
	cmd := &cobra.Command{
		Use:   "restore --data DIR FILE",
		Short: "Make a new embedded data directory from a backup (offline)",
		Long: `restore reads a backup made by silo backup (FILE, or - for standard input),
checks that it agrees with itself (every file its metadata refers to is in
it with the recorded size and SHA-256 and nothing else is, every
organisation's usage is the sum of its datasets' sizes, ids and names are
valid), verifies every file as it streams, and writes a new data directory.
It refuses a DIR that is not empty, and a corrupted or inconsistent backup
(naming the first problem), leaving DIR empty. Then
silo serve --data DIR serves exactly what was acknowledged when the backup
started: uploads still in flight then are not in it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if data == "" {
				return errors.New("--data DIR is required: the new data directory")
			}
			return runRestore(cmd, data, args[0])
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "the new data directory (must not exist, or be empty)")
	return cmd
}

func runRestore(cmd *cobra.Command, dir, file string) (err error) {
	if err := requireEmptyDir(dir); err != nil {
		return err
	}
	in, total := io.Reader(cmd.InOrStdin()), int64(-1)
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			total = st.Size()
		}
		in = f
	}
	_, statErr := os.Stat(dir)
	made := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	m := &Main{Config: Config{Data: dir}}
	defer func() {
		err = errors.Join(err, m.Close())
		if err != nil {
			// It was empty, or not there: all of it is ours, and a refused
			// restore leaves no initialised store behind.
			removeContents(dir)
			if made {
				os.Remove(dir)
			}
		}
	}()
	if _, err := m.openStores(cmd.Context()); err != nil {
		return err
	}
	r, finish := progress(in, total, "restore")
	man, err := transfer.Restore(cmd.Context(), r, transfer.Stores{Meta: m.Store, Blobs: m.Blobs}, dir, nil)
	finish()
	if err != nil {
		return fmt.Errorf("restore refused: %w", err)
	}
	var bytes int64
	files := man.Files[1:] // [0] is the metadata: Restore refuses a manifest that does not list it first
	for _, f := range files {
		bytes += f.Size
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "restored the backup of %s: %d datasets, %d files (%s), every checksum verified, into %s\n",
		man.TakenAt.Format("2006-01-02 15:04:05 UTC"), man.Datasets, len(files), silo.FormatSize(bytes), dir)
	if s := man.Skipped; s.Reservations > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "not in the backup: %d uploads that were still in flight when it was taken\n", s.Reservations)
	}
	if s := man.Skipped; s.ResumableUploads > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "not in the backup: %d resumable uploads that were not datasets yet; their clients must upload them again\n", s.ResumableUploads)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "serve it with: silo serve --data %s\n", dir)
	return nil
}

// requireEmptyDir refuses a directory that holds anything: restore and
// migrate make new stores, and never mix them with others.
func requireEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty: restore makes a new data directory", dir)
	}
	return nil
}

func removeContents(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/sqlite"
	"github.com/silo-datasets/silo/transfer"
)

func newBackupCommand() *cobra.Command {
	var f clientFlags
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "backup -o FILE [--force]",
		Short: "Stream a consistent backup of a running embedded silo (admin key) into a tar file",
		Long: `backup asks the server at SILO_URL for a snapshot of the whole service as of one
instant (every organisation, key hash, quota, dataset, file, usage history and
the URL signing secret) while it goes on serving, and writes it as a tar file.
-o - writes it to standard output. Restore it with silo restore.

The file is readable by its owner only (mode 0600): it holds the URL signing
secret and every tenant's files. An existing file is never replaced unless
--force (exit 4).

A server on PostgreSQL + S3 answers 501: back those up with their own tools
(see the README, "Backups").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("-o FILE is required (- for standard output)")
			}
			if err := mayWrite(out, force); err != nil {
				return err // before the server spends a snapshot on it
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			body, n, err := c.Backup(cmd.Context())
			if err != nil {
				return err
			}
			defer body.Close()
			r, finish := progress(body, n, "backup")
			written, err := writeOutput(cmd, out, force, 0o600, r, func() error { return nil })
			finish()
			if exitCode(err) == exitRefused {
				return err // the file appeared while the backup streamed
			} else if err != nil {
				return fmt.Errorf("backup failed: %w", err)
			}
			if out != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%s)\n", out, size(written))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write; - for standard output")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite the output file if it exists")
	cmd.PersistentFlags().StringVar(&f.url, "url", env("SILO_URL", "http://127.0.0.1:8080"), "base URL of the silo server (SILO_URL)")
	return cmd
}

// embeddedBackup is GET /v1/admin/backup of a server on the embedded
// stores: it holds them, so it can take a snapshot of one instant.
func embeddedBackup(m *Main) func(ctx context.Context) (api.BackupSnapshot, error) {
	// The metadata is spooled beside the database, on its disk.
	dir := ""
	if path, err := sqlite.ParseURL(m.Config.DB); err == nil {
		dir = filepath.Dir(path)
	}
	b := &transfer.Backup{Store: m.Store, Blobs: m.Blobs, Pins: &m.Service.Pins, TempDir: dir}
	return func(ctx context.Context) (api.BackupSnapshot, error) {
		s, err := b.Snapshot(ctx)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

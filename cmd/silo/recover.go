package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo"
)

// newRecoverCommand is `silo admin recover`: the way back in when no admin
// key works any more. It talks to the metadata store itself, not to a
// server, so it needs what only the server's operator has: the data
// directory (with the embedded store, which must not be in use: stop the
// server first) or the database URL.
func newRecoverCommand() *cobra.Command {
	var c Config
	cmd := &cobra.Command{
		Use:   "recover [--data DIR | --db URL]",
		Short: "Create a new admin API key directly in the store, when no admin key is left (offline, on the server's machine)",
		Long: `recover creates a new admin API key in organisation "default" (created
again if it was deleted) and prints its secret once on stdout; it is stored only
as a hash. It opens the metadata store itself instead of calling a server: with
the embedded store (--data) stop the server first, as recover takes the data
directory's lock; with --db postgres://... the running nodes see the key at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRecover(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Data, "data", env("SILO_DATA", "./silo-data"), "data directory of the embedded store (SILO_DATA)")
	f.StringVar(&c.DB, "db", env("SILO_DB", ""), "metadata store URL (SILO_DB; default sqlite in --data)")
	return cmd
}

func runRecover(ctx context.Context, out, msgs io.Writer, c Config) error {
	if c.DB == "" {
		// A mistyped directory would otherwise become a new, empty store
		// with a key that opens nothing.
		if _, err := os.Stat(filepath.Join(c.Data, "silo.db")); err != nil {
			return fmt.Errorf("no silo store in %s (%v): point --data at the server's data directory, or --db at its database", c.Data, err)
		}
	}
	m := &Main{Config: c}
	defer m.Close()
	if _, err := m.openMetadata(ctx); err != nil {
		return err
	}
	svc := &silo.Service{Store: m.Store}
	k, org, err := svc.RecoverAdmin(ctx)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	fmt.Fprintf(msgs, "silo: created admin API key %s in organization %q (%s); its secret is shown only now:\n", k.ID, org.Name, org.ID)
	fmt.Fprintln(out, k.Secret)
	return nil
}

// Command silo is the Datasets service (silo serve), its offline checker
// (silo fsck) and a command-line client for it (silo usage, silo datasets,
// silo admin).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	if err := root.ExecuteContext(ctx); err != nil {
		// Errors are one line on stderr, exit status 1.
		fmt.Fprintln(os.Stderr, "silo:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "silo",
		Short:         "A self-hosted, Cohere-compatible Datasets service",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Each subcommand lives in its own file.
	root.AddCommand(newServeCommand())
	root.AddCommand(newFsckCommand())
	root.AddCommand(newUsageCommand(), newDatasetsCommand(), newAdminCommand())
	root.AddCommand(newBackupCommand(), newRestoreCommand(), newMigrateCommand())
	return root
}

// env returns the environment variable's value, or def: every flag's
// default comes from its variable so that a deployment sets either.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// Command silo is the Datasets service (silo serve), its offline checker
// (silo fsck) and a command-line client for it (silo usage, silo datasets,
// silo admin).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := newRootCommand()
	if cmd, err := root.ExecuteContextC(ctx); err != nil {
		// One line on stderr (one JSON object with --json), and an exit
		// status that says what kind of failure it was.
		stop()
		os.Exit(report(os.Stderr, cmd, err))
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "silo",
		Short:         "A self-hosted, Cohere-compatible Datasets service",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String(exitCodesFlag, env("SILO_EXIT_CODES", "plain"),
		"plain: every error exits 1; detailed: the exit status says the kind of failure (env SILO_EXIT_CODES)")
	// Each subcommand lives in its own file.
	root.AddCommand(newServeCommand())
	root.AddCommand(newFsckCommand())
	root.AddCommand(newBackupCommand(), newRestoreCommand(), newMigrateCommand())
	clients := []*cobra.Command{newUsageCommand(), newDatasetsCommand(), newWebhooksCommand(), newAdminCommand()}
	root.AddCommand(clients...)
	for _, c := range clients {
		documentExitCodes(c)
	}
	root.Long = root.Short + "\n\n" + exitCodesHelp
	return root
}

// documentExitCodes adds the exit statuses to the help of a client command
// and of all its subcommands.
func documentExitCodes(cmd *cobra.Command) {
	long := cmd.Long
	if long == "" {
		long = cmd.Short
	}
	cmd.Long = long + "\n\n" + exitCodesHelp
	for _, c := range cmd.Commands() {
		documentExitCodes(c)
	}
}

// env returns the environment variable's value, or def: every flag's
// default comes from its variable so that a deployment sets either.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

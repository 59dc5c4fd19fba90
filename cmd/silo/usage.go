package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo/client"
)

func newUsageCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Show the storage used by your organisation against its quota, by type and by client",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			u, raw, err := c.Usage(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return printJSON(cmd.OutOrStdout(), raw)
			}
			b, _, err := c.Breakdown(cmd.Context())
			if err != nil {
				return err
			}
			printUsage(cmd.OutOrStdout(), u, b)
			return nil
		},
	}
	addClientFlags(cmd, &f)
	return cmd
}

func printUsage(w io.Writer, u *client.Usage, b *client.Breakdown) {
	line := fmt.Sprintf("%s of %s used", size(u.OrganizationUsage), size(u.LimitBytes))
	if u.LimitBytes > 0 {
		line += fmt.Sprintf(" (%.0f%%)", 100*float64(u.OrganizationUsage)/float64(u.LimitBytes))
	}
	fmt.Fprintln(w, line)
	if u.ReservedBytes > 0 {
		fmt.Fprintf(w, "%s more held by uploads in progress\n", size(u.ReservedBytes))
	}
	for _, split := range []struct {
		title  string
		header string
		shares []client.Share
	}{{"By dataset type", "TYPE", b.ByType}, {"By client", "CLIENT", b.ByClient}} {
		if len(split.shares) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", split.title)
		tw := table(w, "  "+split.header, "DATASETS", "SIZE")
		for _, s := range split.shares {
			key := s.Key
			if key == "" {
				key = "(none)"
			}
			row(tw, "  "+key, s.Datasets, size(s.Bytes))
		}
		tw.Flush()
	}
}

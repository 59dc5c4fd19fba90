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
		Short: "Show the storage used by your organisation (and your key's project) against its quota, by type, client and project",
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

// printUsage shows the organisation's usage against its quota; for a
// project key, its project's first (the breakdown then covers the project
// only).
func printUsage(w io.Writer, u *client.Usage, b *client.Breakdown) {
	if u.ProjectID != "" {
		line := fmt.Sprintf("project %s: %s used", u.ProjectID, size(u.ProjectUsage))
		if q := u.ProjectLimitBytes; q != nil {
			line = fmt.Sprintf("project %s: %s", u.ProjectID, usedOf(u.ProjectUsage, *q))
		} else {
			line += " (no quota of its own: the organisation's caps it)"
		}
		fmt.Fprintln(w, line)
		if u.ProjectReservedBytes > 0 {
			fmt.Fprintf(w, "%s more held by the project's uploads in progress\n", size(u.ProjectReservedBytes))
		}
		fmt.Fprintf(w, "organisation: %s\n", usedOf(u.OrganizationUsage, u.LimitBytes))
	} else {
		fmt.Fprintln(w, usedOf(u.OrganizationUsage, u.LimitBytes))
		if u.ReservedBytes > 0 {
			fmt.Fprintf(w, "%s more held by uploads in progress\n", size(u.ReservedBytes))
		}
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
	if u.ProjectID == "" {
		printProjectShares(w, b.ByProject)
	}
}

// usedOf is "USED of QUOTA used (N%)".
func usedOf(used, quota int64) string {
	line := fmt.Sprintf("%s of %s used", size(used), size(quota))
	if quota > 0 {
		line += fmt.Sprintf(" (%.0f%%)", 100*float64(used)/float64(quota))
	}
	return line
}

// printProjectShares shows the split by project when the organisation has
// projects (datasets of no project: "(none)").
func printProjectShares(w io.Writer, shares []client.ProjectShare) {
	if len(shares) == 0 || len(shares) == 1 && shares[0].ProjectID == nil {
		return
	}
	fmt.Fprintf(w, "\nBy project:\n")
	tw := table(w, "  PROJECT", "DATASETS", "SIZE")
	for _, s := range shares {
		name := "(none)"
		if s.ProjectID != nil {
			name = *s.ProjectID
			if s.Name != "" {
				name = s.Name + " (" + name + ")"
			}
		}
		row(tw, "  "+name, s.Datasets, size(s.Bytes))
	}
	tw.Flush()
}

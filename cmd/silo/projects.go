package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/client"
)

// Projects (CONTRACT "Projects: quotas inside an organisation"): budgets
// inside an organisation's, and keys that see only their project.

func newProjectsCommand(f *clientFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "projects",
		Aliases: []string{"project"},
		Short:   "Create, list and delete projects inside organisations, set their quotas (PROJECT: an id, or a name with --org)",
	}
	cmd.AddCommand(newProjectCreateCommand(f), newProjectListCommand(f), newProjectSetQuotaCommand(f), newProjectDeleteCommand(f))
	return cmd
}

func newProjectCreateCommand(f *clientFlags) *cobra.Command {
	var org, quota string
	cmd := &cobra.Command{
		Use:   "create --org ORG NAME [--quota SIZE]",
		Short: "Create a project in an organisation (quota like 10GB or 10GiB; default: none of its own, the organisation's caps it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var q *int64
			if quota != "" {
				var err error
				if q, err = parseProjectQuota(quota); err != nil {
					return fmt.Errorf("--quota: %w", err)
				}
			}
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				o, err := resolveOrg(cmd.Context(), c, org)
				if err != nil {
					return nil, nil, err
				}
				p, raw, err := c.CreateProject(cmd.Context(), o.ID, args[0], q)
				return raw, func(w io.Writer) { printProjects(w, []client.Project{*p}, []client.Org{*o}) }, err
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organisation id or unique name")
	cmd.Flags().StringVar(&quota, "quota", "", "the project's storage quota, e.g. 10GB (10,000,000,000 bytes) or 10GiB")
	cmd.MarkFlagRequired("org")
	return cmd
}

func newProjectListCommand(f *clientFlags) *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:     "list [--org ORG]",
		Aliases: []string{"ls"},
		Short:   "List projects with their usage against their quotas",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				orgs, orgID, err := orgsAndFilter(cmd, c, org)
				if err != nil {
					return nil, nil, err
				}
				ps, raw, err := c.Projects(cmd.Context(), orgID)
				return raw, func(w io.Writer) { printProjects(w, ps, orgs) }, err
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "only the projects of this organisation (id or unique name)")
	return cmd
}

func newProjectSetQuotaCommand(f *clientFlags) *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:   "set-quota PROJECT SIZE|none [--org ORG]",
		Short: "Change a project's quota, e.g. set-quota prj_... 2GB; none removes it (the organisation's still caps the project)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			q, err := parseProjectQuota(args[1])
			if err != nil {
				return err
			}
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				p, o, err := resolveProject(cmd.Context(), c, args[0], org)
				if err != nil {
					return nil, nil, err
				}
				p, raw, err := c.SetProjectQuota(cmd.Context(), p.ID, q)
				return raw, func(w io.Writer) { printProjects(w, []client.Project{*p}, []client.Org{*o}) }, err
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "the project's organisation, to name the project by its name")
	return cmd
}

func newProjectDeleteCommand(f *clientFlags) *cobra.Command {
	var org string
	var purge bool
	cmd := &cobra.Command{
		Use:   "delete PROJECT [--org ORG] [--purge]",
		Short: "Delete a project and revoke its keys; refused while it holds datasets, unless --purge",
		Long: "Delete a project (by id, or by name with --org) and revoke its API keys. The server refuses while\n" +
			"the project holds datasets; --purge deletes them too, and their bytes stop counting for the\n" +
			"project and its organisation.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				p, o, err := resolveProject(cmd.Context(), c, args[0], org)
				if err != nil {
					return nil, nil, err
				}
				if err := c.DeleteProject(cmd.Context(), p.ID, purge); err != nil {
					return nil, nil, err
				}
				return []byte("{}"), func(w io.Writer) {
					if purge {
						fmt.Fprintf(w, "deleted project %s of organisation %s with its datasets (%s freed); its keys are revoked\n", projectLabel(p), orgLabel(o), size(p.UsageBytes))
						return
					}
					fmt.Fprintf(w, "deleted project %s of organisation %s; its keys are revoked\n", projectLabel(p), orgLabel(o))
				}, nil
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "the project's organisation, to name the project by its name")
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete the project's datasets")
	return cmd
}

// parseProjectQuota reads a project quota: a size, or "none" for no quota
// of its own.
func parseProjectQuota(s string) (*int64, error) {
	if strings.EqualFold(strings.TrimSpace(s), "none") {
		return nil, nil
	}
	n, err := silo.ParseSize(s)
	if err != nil {
		return nil, fmt.Errorf("%w, or none for no quota of the project's own", err)
	}
	return &n, nil
}

// resolveProject finds the project an operator means by ref, and its
// organisation: an id, or a name (exactly, else ignoring case) within the
// organisation orgRef if given, else among all projects (unique names
// only). Mistakes fail as resolveOrg's do.
func resolveProject(ctx context.Context, c *client.Client, ref, orgRef string) (*client.Project, *client.Org, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, nil, refusedf("a project is required: give its id, or its name with --org")
	}
	var org *client.Org
	orgID, where := "", ""
	if orgRef != "" {
		var err error
		if org, err = resolveOrg(ctx, c, orgRef); err != nil {
			return nil, nil, err
		}
		orgID, where = org.ID, " in organisation "+orgLabel(org)
	}
	ps, _, err := c.Projects(ctx, orgID)
	if err != nil {
		return nil, nil, err
	}
	ms := matchRef(ref, ps, func(p *client.Project) (string, string) { return p.ID, p.Name })
	switch len(ms) {
	case 0:
		return nil, nil, notFoundf("no project%s has the id or name %q (silo admin projects list shows them)", where, ref)
	case 1:
		if org == nil {
			org, err = resolveOrg(ctx, c, ms[0].OrgID)
		}
		return ms[0], org, err
	}
	var s []string
	for _, p := range ms {
		s = append(s, p.ID+" ("+p.Name+" in "+p.OrgID+")")
	}
	return nil, nil, refusedf("%q could mean projects %s: give the id, or --org", ref, strings.Join(s, ", "))
}

// projectLabel names a project in output: its name and id.
func projectLabel(p *client.Project) string { return p.Name + " (" + p.ID + ")" }

// printProjects shows projects with their organisations' names, and their
// usage against their own quota ("none": only the organisation's).
func printProjects(w io.Writer, ps []client.Project, orgs []client.Org) {
	names := map[string]string{}
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	tw := table(w, "ID", "NAME", "ORG", "USED", "QUOTA", "USE", "IN FLIGHT", "CREATED")
	for _, p := range ps {
		quota, use := "none", "-"
		if q := p.QuotaBytes; q != nil {
			quota = size(*q)
			if *q > 0 {
				use = fmt.Sprintf("%.0f%%", 100*float64(p.UsageBytes)/float64(*q))
			}
		}
		org := names[p.OrgID]
		if org == "" {
			org = p.OrgID
		}
		row(tw, p.ID, p.Name, org, size(p.UsageBytes), quota, use, size(p.ReservedBytes), when(p.CreatedAt))
	}
	tw.Flush()
}

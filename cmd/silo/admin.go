package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/client"
)

func newAdminCommand() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage organisations, projects, quotas and API keys (admin keys only)",
	}
	addClientFlags(cmd, &f)
	orgs := &cobra.Command{Use: "orgs", Aliases: []string{"org"}, Short: "Create, list and delete organisations, set quotas (ORG: an id or a unique name)"}
	orgs.AddCommand(newOrgCreateCommand(&f), newOrgListCommand(&f), newSetQuotaCommand(&f), newOrgDeleteCommand(&f))
	keys := &cobra.Command{Use: "keys", Aliases: []string{"key"}, Short: "Create, list and revoke API keys"}
	keys.AddCommand(newKeyCreateCommand(&f), newKeyListCommand(&f), newKeyRevokeCommand(&f))
	cmd.AddCommand(orgs, newProjectsCommand(&f), keys, newRecoverCommand())
	return cmd
}

func newOrgCreateCommand(f *clientFlags) *cobra.Command {
	var quota string
	cmd := &cobra.Command{
		Use:   "create NAME [--quota SIZE]",
		Short: "Create an organisation (quota like 10GB or 10GiB; default: the server's)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var q *int64
			if quota != "" {
				n, err := silo.ParseSize(quota)
				if err != nil {
					return fmt.Errorf("--quota: %w", err)
				}
				q = &n
			}
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				o, raw, err := c.CreateOrg(cmd.Context(), args[0], q)
				return raw, func(w io.Writer) { printOrgs(w, []client.Org{*o}) }, err
			})
		},
	}
	cmd.Flags().StringVar(&quota, "quota", "", "storage quota, e.g. 10GB (10,000,000,000 bytes) or 10GiB")
	return cmd
}

func newOrgListCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List organisations with their usage and quota",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				orgs, raw, err := c.Orgs(cmd.Context())
				return raw, func(w io.Writer) { printOrgs(w, orgs) }, err
			})
		},
	}
}

func newSetQuotaCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "set-quota ORG SIZE",
		Short: "Change an organisation's quota, e.g. set-quota acme 2GB (below its usage is allowed: new uploads are refused)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := silo.ParseSize(args[1])
			if err != nil {
				return err
			}
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				org, err := resolveOrg(cmd.Context(), c, args[0])
				if err != nil {
					return nil, nil, err
				}
				o, raw, err := c.SetQuota(cmd.Context(), org.ID, n)
				return raw, func(w io.Writer) { printOrgs(w, []client.Org{*o}) }, err
			})
		},
	}
}

func newOrgDeleteCommand(f *clientFlags) *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "delete ORG [--purge]",
		Short: "Delete an organisation and revoke its keys; refused while it holds datasets, unless --purge",
		Long: "Delete an organisation (by id or unique name) and revoke its API keys. The server refuses while\n" +
			"the organisation holds datasets; --purge deletes them too, and their bytes stop counting.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				org, err := resolveOrg(cmd.Context(), c, args[0])
				if err != nil {
					return nil, nil, err
				}
				if err := c.DeleteOrg(cmd.Context(), org.ID, purge); err != nil {
					return nil, nil, err
				}
				return []byte("{}"), func(w io.Writer) {
					if purge {
						fmt.Fprintf(w, "deleted organisation %s with its datasets (%s freed); its keys are revoked\n", orgLabel(org), size(org.UsageBytes))
						return
					}
					fmt.Fprintf(w, "deleted organisation %s; its keys are revoked\n", orgLabel(org))
				}, nil
			})
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete the organisation's datasets")
	return cmd
}

func printOrgs(w io.Writer, orgs []client.Org) {
	tw := table(w, "ID", "NAME", "USED", "QUOTA", "IN FLIGHT", "CREATED")
	for _, o := range orgs {
		row(tw, o.ID, o.Name, size(o.UsageBytes), size(o.QuotaBytes), size(o.ReservedBytes), when(o.CreatedAt))
	}
	tw.Flush()
}

func newKeyCreateCommand(f *clientFlags) *cobra.Command {
	var org, project, role, name string
	cmd := &cobra.Command{
		Use:   "create --org ORG [--project PROJECT] --role reader|writer|admin [--name NAME]",
		Short: "Create an API key, of the whole organisation or of one of its projects; its secret is shown only this once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				o, err := resolveOrg(cmd.Context(), c, org)
				if err != nil {
					return nil, nil, err
				}
				var p *client.Project
				if cmd.Flags().Changed("project") {
					if p, _, err = resolveProject(cmd.Context(), c, project, o.ID); err != nil {
						return nil, nil, err
					}
				}
				var k *client.Key
				var raw []byte
				if p != nil {
					k, raw, err = c.CreateProjectKey(cmd.Context(), o.ID, p.ID, role, name)
				} else {
					k, raw, err = c.CreateKey(cmd.Context(), o.ID, role, name)
				}
				return raw, func(w io.Writer) {
					if p != nil {
						fmt.Fprintf(w, "created %s key %s for project %s of organisation %s\n", k.Role, k.ID, projectLabel(p), orgLabel(o))
					} else {
						fmt.Fprintf(w, "created %s key %s for organisation %s\n", k.Role, k.ID, orgLabel(o))
					}
					fmt.Fprintf(w, "its secret, shown only now (store it somewhere safe):\n\n    %s\n\n", k.Secret)
				}, err
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "organisation id or unique name")
	cmd.Flags().StringVar(&project, "project", "", "bind the key to this project of the organisation (id or name): it sees only the project's datasets (roles reader and writer)")
	cmd.Flags().StringVar(&role, "role", "", "reader, writer or admin")
	cmd.Flags().StringVar(&name, "name", "", "a name to recognise the key by")
	cmd.MarkFlagRequired("org")
	cmd.MarkFlagRequired("role")
	cmd.RegisterFlagCompletionFunc("role", cobra.FixedCompletions([]string{"reader", "writer", "admin"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

func newKeyListCommand(f *clientFlags) *cobra.Command {
	var org string
	cmd := &cobra.Command{
		Use:     "list [--org ORG]",
		Aliases: []string{"ls"},
		Short:   "List API keys with their organisations' names (never their secrets)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				orgs, orgID, err := orgsAndFilter(cmd, c, org)
				if err != nil {
					return nil, nil, err
				}
				keys, raw, err := c.Keys(cmd.Context(), orgID)
				if err != nil {
					return nil, nil, err
				}
				var projects []client.Project
				if !f.json && anyProjectKey(keys) {
					if projects, _, err = c.Projects(cmd.Context(), orgID); err != nil {
						return nil, nil, err
					}
				}
				return raw, func(w io.Writer) { printKeys(w, keys, orgs, projects) }, nil
			})
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "only the keys of this organisation (id or unique name)")
	return cmd
}

// printKeys shows keys with their organisation's name; a key of a deleted
// organisation (revoked with it) shows its id. When a key is bound to a
// project, a PROJECT column names each key's project ("-": the whole
// organisation's).
func printKeys(w io.Writer, keys []client.Key, orgs []client.Org, projects []client.Project) {
	names := map[string]string{}
	for _, o := range orgs {
		names[o.ID] = o.Name
	}
	for _, p := range projects {
		names[p.ID] = p.Name
	}
	header := []string{"ID", "ORG", "ORG ID", "ROLE", "NAME", "CREATED", "REVOKED"}
	withProject := anyProjectKey(keys)
	if withProject {
		header = append(header[:3], append([]string{"PROJECT"}, header[3:]...)...)
	}
	tw := table(w, header...)
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != nil {
			revoked = when(*k.RevokedAt)
		}
		org, ok := names[k.OrgID]
		if !ok {
			org = "(deleted)"
		}
		cols := []any{k.ID, org, k.OrgID, k.Role, k.Name, when(k.CreatedAt), revoked}
		if withProject {
			project := "-"
			if k.ProjectID != "" {
				project = k.ProjectID
				if name, ok := names[k.ProjectID]; ok {
					project = name + " (" + k.ProjectID + ")"
				}
			}
			cols = append(cols[:3], append([]any{project}, cols[3:]...)...)
		}
		row(tw, cols...)
	}
	tw.Flush()
}

func anyProjectKey(keys []client.Key) bool {
	for _, k := range keys {
		if k.ProjectID != "" {
			return true
		}
	}
	return false
}

func newKeyRevokeCommand(f *clientFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke an API key: from now on it is refused (HTTP 498)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(f, cmd, func(c *client.Client) ([]byte, func(io.Writer), error) {
				err := c.RevokeKey(cmd.Context(), args[0])
				return []byte("{}"), func(w io.Writer) { fmt.Fprintf(w, "revoked key %s\n", args[0]) }, err
			})
		},
	}
}

// run calls the API through fn and prints its answer: the raw JSON with
// --json, else what fn's printer writes.
func run(f *clientFlags, cmd *cobra.Command, fn func(*client.Client) ([]byte, func(io.Writer), error)) error {
	c, err := f.client()
	if err != nil {
		return err
	}
	raw, print, err := fn(c)
	if err != nil {
		return err
	}
	if f.json {
		return printJSON(cmd.OutOrStdout(), raw)
	}
	print(cmd.OutOrStdout())
	return nil
}

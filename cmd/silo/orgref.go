package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/silo-datasets/silo/client"
)

// resolveOrg finds the organisation an operator means by ref: its id, or
// its name (exactly, else ignoring case). Every admin command resolves
// ORG here first, so the same mistake gives the same error in each: an
// unknown ref is "not found" (exit 3), one that could mean two
// organisations is refused (exit 4) with their ids to choose from.
func resolveOrg(ctx context.Context, c *client.Client, ref string) (*client.Org, error) {
	if strings.TrimSpace(ref) == "" {
		return nil, refusedf("an organisation is required: give its id or its name")
	}
	orgs, _, err := c.Orgs(ctx)
	if err != nil {
		return nil, err
	}
	ms := matchRef(ref, orgs, func(o *client.Org) (string, string) { return o.ID, o.Name })
	switch len(ms) {
	case 0:
		return nil, notFoundf("no organisation has the id or name %q (silo admin orgs list shows them)", ref)
	case 1:
		return ms[0], nil
	}
	var s []string
	for _, o := range ms {
		s = append(s, o.ID+" ("+o.Name+")")
	}
	return nil, refusedf("%q could mean organisations %s: give the id instead", ref, strings.Join(s, ", "))
}

// matchRef returns what ref may mean among items: the one with that id,
// along with any named ref exactly (an id that is also a name is
// ambiguous); else those named ref exactly; else those named ref ignoring
// case. One result is an answer, more are ambiguous, none is not found.
func matchRef[T any](ref string, items []T, idName func(*T) (id, name string)) []*T {
	var byID *T
	var byName, byFold []*T
	for i := range items {
		it := &items[i]
		id, name := idName(it)
		switch {
		case id == ref:
			byID = it
		case name == ref:
			byName = append(byName, it)
		case strings.EqualFold(name, ref):
			byFold = append(byFold, it)
		}
	}
	switch {
	case byID != nil:
		return append([]*T{byID}, byName...)
	case len(byName) > 0:
		return byName
	}
	return byFold
}

// orgLabel names an organisation in output: its name and id.
func orgLabel(o *client.Org) string { return o.Name + " (" + o.ID + ")" }

// orgsAndFilter reads every organisation (a listing names them) and
// resolves the listing's --org filter: its id, or "" without one.
func orgsAndFilter(cmd *cobra.Command, c *client.Client, org string) ([]client.Org, string, error) {
	orgs, _, err := c.Orgs(cmd.Context())
	if err != nil || !cmd.Flags().Changed("org") {
		return orgs, "", err
	}
	o, err := resolveOrg(cmd.Context(), c, org)
	if err != nil {
		return nil, "", err
	}
	return orgs, o.ID, nil
}

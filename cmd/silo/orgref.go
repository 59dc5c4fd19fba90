package main

import (
	"context"
	"strings"

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
	var byID *client.Org
	var byName, byFold []*client.Org
	for i := range orgs {
		o := &orgs[i]
		switch {
		case o.ID == ref:
			byID = o
		case o.Name == ref:
			byName = append(byName, o)
		case strings.EqualFold(o.Name, ref):
			byFold = append(byFold, o)
		}
	}
	switch {
	case byID != nil && len(byName) > 0:
		return nil, ambiguous(ref, append([]*client.Org{byID}, byName...))
	case byID != nil:
		return byID, nil
	case len(byName) == 1:
		return byName[0], nil
	case len(byName) > 1:
		return nil, ambiguous(ref, byName)
	case len(byFold) == 1:
		return byFold[0], nil
	case len(byFold) > 1:
		return nil, ambiguous(ref, byFold)
	}
	return nil, notFoundf("no organisation has the id or name %q (silo admin orgs list shows them)", ref)
}

func ambiguous(ref string, orgs []*client.Org) error {
	var s []string
	for _, o := range orgs {
		s = append(s, o.ID+" ("+o.Name+")")
	}
	return refusedf("%q could mean organisations %s: give the id instead", ref, strings.Join(s, ", "))
}

// orgLabel names an organisation in output: its name and id.
func orgLabel(o *client.Org) string { return o.Name + " (" + o.ID + ")" }

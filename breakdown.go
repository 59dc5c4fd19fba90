package silo

import (
	"context"
	"slices"
	"sort"
)

// UsageGroup is what an organisation's live datasets of one type, created by
// one client (X-Client-Name) with one API key, hold: the store's GROUP BY
// row, from which the API derives the breakdowns by type, by client and by
// key. KeyID is "" for datasets created before silo recorded keys.
type UsageGroup struct {
	Type       DatasetType
	ClientName string
	KeyID      string
	KeyName    string
	ProjectID  string // "" outside projects
	Datasets   int64
	Bytes      int64
}

// UsageShare is one line of a usage breakdown. Name is set in the split by
// key only: the key's name, or "unknown" for datasets of no recorded key.
type UsageShare struct {
	Key      string `json:"key"`
	Name     string `json:"name,omitempty"`
	Datasets int64  `json:"datasets"`
	Bytes    int64  `json:"bytes"`
}

// UnknownKeyName names, in the split by key, the datasets created before
// silo recorded which key created each one.
const UnknownKeyName = "unknown"

// UsageBreakdown is an organisation's usage split four ways. Each split
// sums to the organisation's usage (for a project key, its project's), so
// a dashboard can show any as a whole.
type UsageBreakdown struct {
	ByType    []UsageShare   `json:"by_type"`
	ByClient  []UsageShare   `json:"by_client"`
	ByKey     []UsageShare   `json:"by_key"` // the org's "users": the key that created each dataset
	ByProject []ProjectShare `json:"by_project"`
}

// ProjectShare is one line of the split by project: ProjectID nil for the
// datasets of no project.
type ProjectShare struct {
	ProjectID *string `json:"project_id"`
	Name      string  `json:"name,omitempty"`
	Datasets  int64   `json:"datasets"`
	Bytes     int64   `json:"bytes"`
}

// UsageBreakdown returns the caller's organisation's usage by dataset type,
// client name, key and project; for a project key, its project's only. It
// reads the datasets, not the counters, so it is a scan of the org's rows:
// fine for a dashboard, not for a hot path.
func (s *Service) UsageBreakdown(ctx context.Context, c *Caller) (*UsageBreakdown, error) {
	if err := require(c, RoleReader); err != nil {
		return nil, err
	}
	groups, err := s.Store.UsageBreakdown(ctx, c.OrgID())
	if err != nil {
		return nil, err
	}
	mine := groups[:0]
	for _, g := range groups {
		if c.sees(g.ProjectID) {
			mine = append(mine, g)
		}
	}
	b := SplitUsage(mine)
	names := map[string]string{}
	if slices.ContainsFunc(b.ByProject, func(sh ProjectShare) bool { return sh.ProjectID != nil }) {
		ps, err := s.Store.Projects(ctx, c.OrgID())
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			names[p.ID] = p.Name
		}
	}
	for i, sh := range b.ByProject {
		if sh.ProjectID != nil {
			b.ByProject[i].Name = names[*sh.ProjectID]
		}
	}
	return b, nil
}

// SplitUsage folds store groups into the three splits, each largest first
// (then by key, so the order is stable).
func SplitUsage(groups []UsageGroup) *UsageBreakdown {
	byType, byClient, byKey, byProject := map[string]*UsageShare{}, map[string]*UsageShare{}, map[string]*UsageShare{}, map[string]*UsageShare{}
	add := func(m map[string]*UsageShare, key, name string, g UsageGroup) {
		sh := m[key]
		if sh == nil {
			sh = &UsageShare{Key: key, Name: name}
			m[key] = sh
		}
		sh.Datasets += g.Datasets
		sh.Bytes += g.Bytes
	}
	for _, g := range groups {
		add(byType, string(g.Type), "", g)
		add(byClient, g.ClientName, "", g)
		if g.KeyID == "" {
			add(byKey, "", UnknownKeyName, g)
		} else {
			add(byKey, g.KeyID, g.KeyName, g)
		}
		add(byProject, g.ProjectID, "", g)
	}
	projects := sortedShares(byProject)
	b := &UsageBreakdown{ByType: sortedShares(byType), ByClient: sortedShares(byClient), ByKey: sortedShares(byKey),
		ByProject: make([]ProjectShare, len(projects))}
	for i, sh := range projects {
		b.ByProject[i] = ProjectShare{Datasets: sh.Datasets, Bytes: sh.Bytes}
		if sh.Key != "" {
			id := sh.Key
			b.ByProject[i].ProjectID = &id
		}
	}
	return b
}

func sortedShares(m map[string]*UsageShare) []UsageShare {
	out := make([]UsageShare, 0, len(m))
	for _, sh := range m {
		out = append(out, *sh)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Key < out[j].Key
	})
	return out
}

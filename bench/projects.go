package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// projects is workload 10 (issue 25): what a project's second quota level
// costs. (a) ScaleCreates concurrent creates by one project's key on 2
// nodes (PostgreSQL + versitygw), with a project quota that most of them
// fit but that the last ones meet, against a huge one: every create locks
// the org's row and then the project's, so this shows whether the second
// row becomes the bottleneck. (b) On the embedded store, usage req/s with
// a project key (the org's and the project's counters) against an org key
// (the org's only).
func (b *bench) projects() error {
	nodes, _, err := b.cluster("prj", 2)
	if err != nil {
		return err
	}
	defer stopAll(nodes)
	file, err := b.dataFile("embed", b.sz.ScaleEach)
	if err != nil {
		return err
	}
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	n := b.sz.ScaleCreates
	near := int64(n-n/8) * st.Size() // 7 in 8 fit
	const huge = 1 << 50
	admin := newClient(nodes[0].url(), adminKey)
	burst := func(name string, quota int64) (createRun, error) {
		key, err := admin.newProjectKey(name, quota, "writer")
		if err != nil {
			return createRun{}, err
		}
		return b.burst(nodes, name, key, quota, file, n)
	}
	if _, err := burst("prj-warm", huge); err != nil {
		return err
	}
	// A burst's time is its slowest create's: on a shared machine that
	// wanders more than workload 8's (where refusals make the tight kind
	// faster), so more rounds (11 in a full run) for the medians.
	var tight, wide []createRun
	for round := range 4*b.sz.Rounds - 1 {
		for _, quota := range inTurn[int64](round, near, huge) {
			r, err := burst(fmt.Sprintf("prj-%d-%d", round, quota), quota)
			if err != nil {
				return err
			}
			if quota == near {
				tight = append(tight, r)
			} else {
				wide = append(wide, r)
			}
		}
	}
	stopAll(nodes)
	t, h := medianRun(tight), medianRun(wide)
	w := "10 projects"
	b.ratioRow(w, fmt.Sprintf("%d concurrent %s creates in one project on 2 nodes (PostgreSQL + versitygw), project quota fits %d: answers/s", n, fmtMiB(st.Size()), n-n/8),
		fmt.Sprintf("%.1f creates/s (%d accepted)", t.rate, t.accepted), fmt.Sprintf("%.1f creates/s with a huge project quota", h.rate), t.rate/h.rate, ">=", 0.8)
	b.note("Workload 10: creates, ratios per round (near/huge project quota): %s.", roundRatios(rates(tight), rates(wide)))

	s, err := b.siloServer("silo-projects-usage", filepath.Join(b.tmp, "projects-usage"))
	if err != nil {
		return err
	}
	defer s.stop()
	sa := newClient(s.url(), adminKey)
	orgKey, err := sa.newOrgKey("usage-org", huge)
	if err != nil {
		return err
	}
	prjKey, err := sa.newProjectKey("usage-prj", huge, "reader")
	if err != nil {
		return err
	}
	var pr, or []loadResult
	for round := range 4*b.sz.Rounds - 1 {
		for _, project := range inTurn(round, true, false) {
			key, out := orgKey.key, &or
			if project {
				key, out = prjKey.key, &pr
			}
			r, err := load(s, s.url()+"/v1/datasets/usage", key, b.sz.Conc, b.sz.LoadDur)
			if err != nil {
				return err
			}
			*out = append(*out, r)
		}
	}
	pm, om := medianLoad(pr), medianLoad(or)
	b.ratioRow(w, fmt.Sprintf("embedded: GET /v1/datasets/usage req/s with a project key vs an org key (%d conns)", b.sz.Conc),
		fmt.Sprintf("%.0f req/s", pm.RPS), fmt.Sprintf("%.0f req/s org key", om.RPS), pm.RPS/om.RPS, ">=", 0.9)
	b.ratioRow(w, "embedded: server CPU per usage request, org key / project key", fmtMicros(pm.CPUPerReq), fmtMicros(om.CPUPerReq)+" org key",
		float64(om.CPUPerReq)/float64(pm.CPUPerReq), "", 0)
	b.note("Workload 10: usage, project/org key req/s per round: %s; org/project key server CPU per request per round: %s.",
		roundRatios(rpsOf(pr), rpsOf(or)), roundRatios(cpuOf(or), cpuOf(pr)))
	return nil
}

// newProjectKey makes an organisation with a huge quota, a project of it
// with quota, and a key of the project with role; it returns a client with
// that key.
func (c *client) newProjectKey(name string, quota int64, role string) (*client, error) {
	var org struct{ ID string }
	if err := c.do("POST", "/v1/admin/orgs", bytes.NewBufferString(fmt.Sprintf(`{"name":%q,"quota_bytes":%d}`, name, int64(1<<50))), &org); err != nil {
		return nil, err
	}
	var p struct{ ID string }
	body := fmt.Sprintf(`{"org_id":%q,"name":%q,"quota_bytes":%d}`, org.ID, name, quota)
	if err := c.do("POST", "/v1/admin/projects", bytes.NewBufferString(body), &p); err != nil {
		return nil, err
	}
	var key struct{ Key string }
	body = fmt.Sprintf(`{"org_id":%q,"project_id":%q,"role":%q,"name":"bench"}`, org.ID, p.ID, role)
	if err := c.do("POST", "/v1/admin/keys", bytes.NewBufferString(body), &key); err != nil {
		return nil, err
	}
	return newClient(c.base, key.Key), nil
}

package e2e

import (
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
)

// Projects (CONTRACT "Projects: quotas inside an organisation") under
// races: creates by keys of two projects whose quotas add up to more than
// their organisation's, concurrent on every node. Neither level may be
// exceeded, every refusal names the level that refused, and the counters
// end equal to what the datasets hold, on every node.

// project is a project of a test and its writer key.
type project struct {
	id, name, key string
	quota         int64
}

// newProject creates a project of orgID with a quota (0: none) and a
// writer key bound to it.
func newProject(t *testing.T, base, orgID, name string, quota int64) project {
	t.Helper()
	body := map[string]any{"org_id": orgID, "name": name}
	if quota > 0 {
		body["quota_bytes"] = quota
	}
	st, p := call(t, "POST", base+"/v1/admin/projects", adminKey, body)
	if st != 201 {
		t.Fatalf("create project %s: %d %v", name, st, p)
	}
	id := p["id"].(string)
	st, k := call(t, "POST", base+"/v1/admin/keys", adminKey, map[string]any{"org_id": orgID, "project_id": id, "role": "writer", "name": name})
	if st != 201 {
		t.Fatalf("create key of %s: %d %v", name, st, k)
	}
	return project{id: id, name: name, key: k["key"].(string), quota: quota}
}

// refusedBy tells which level a create's answer says refused it: the
// project's name, "org", or "" if the answer is no quota refusal.
func refusedBy(st int, out map[string]any) string {
	msg, _ := out["message"].(string)
	if st != 400 || !strings.HasPrefix(msg, "You have exceeded capacity") {
		return ""
	}
	if strings.Contains(msg, "You have exceeded capacity: the organization uses") {
		return "org"
	}
	name, _, ok := strings.Cut(strings.TrimPrefix(msg, `You have exceeded capacity: the project "`), `" uses`)
	if !ok {
		return ""
	}
	return name
}

// raceFigures are a race's books, per project: creates acknowledged (and
// their bytes), refused by the project, refused by the organisation.
type raceFigures struct {
	ok, byProject, byOrg map[string]int
	acked                map[string]int64
}

// projectRace sends n concurrent creates of various sizes, alternately
// with the keys of two projects (quotas 0.45 and 0.75 of the org's),
// spread over the nodes, half of them streamed. With the projects growing
// at the same pace the smaller one fills first (refusals by the project),
// then the larger one takes the organisation to its quota (refusals by the
// organisation). It checks everything the contract promises once the
// creates are answered, logs the figures and returns the org and its key.
func projectRace(t *testing.T, bases []string, n int) (string, string) {
	const avg = 20_000
	quota := int64(n) * avg * 2 / 5 // the creates ask for 2.5× the org's quota
	orgID, orgKey := newOrg(t, bases[0], "projects-race", quota)
	ps := []project{
		newProject(t, bases[0], orgID, "alpha", quota*45/100),
		newProject(t, bases[0], orgID, "beta", quota*75/100),
	}
	f := raceFigures{ok: map[string]int{}, byProject: map[string]int{}, byOrg: map[string]int{}, acked: map[string]int64{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := ps[i%2]
			size := avg/2 + (i*7919)%avg // 10,000 to 29,999 bytes
			st, out := createDataset(t, bases[i%len(bases)], p.key, fmt.Sprintf("race-%d", i),
				strings.NewReader(jsonlRows(size)), (i/2)%2 == 0)
			mu.Lock()
			defer mu.Unlock()
			switch by := refusedBy(st, out); {
			case st == 200:
				f.ok[p.name]++
				f.acked[p.name] += int64(size)
			case by == p.name:
				f.byProject[p.name]++
			case by == "org":
				f.byOrg[p.name]++
			default:
				t.Errorf("create %d of %s: %d %v", i, p.name, st, out)
			}
		}()
	}
	wg.Wait()
	var total int64
	for _, p := range ps {
		total += f.acked[p.name]
		t.Logf("project %s (quota %d): %d acknowledged (%d bytes, %.0f%% of its quota), %d refused by the project, %d by the organization",
			p.name, p.quota, f.ok[p.name], f.acked[p.name], 100*float64(f.acked[p.name])/float64(p.quota), f.byProject[p.name], f.byOrg[p.name])
	}
	t.Logf("organization (quota %d): %d creates of 10,000-29,999 bytes on %d node(s), %d bytes acknowledged (%.0f%% of its quota)",
		quota, n, len(bases), total, 100*float64(total)/float64(quota))
	if f.byProject["alpha"]+f.byProject["beta"] == 0 || f.byOrg["alpha"]+f.byOrg["beta"] == 0 {
		t.Errorf("refusals by the projects %v, by the organization %v: the race did not reach both levels", f.byProject, f.byOrg)
	}

	waitUnreserved(t, bases[0], orgID, orgKey, ps)
	checkProjectBooks(t, bases, orgID, orgKey, quota, ps, f.acked)
	return orgID, orgKey
}

// waitUnreserved waits until neither the org nor its projects hold
// reserved bytes: a refused create may still be releasing its hold when
// its answer is out.
func waitUnreserved(t *testing.T, base, orgID, orgKey string, ps []project) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		held := reserved(t, base, orgKey)
		for _, p := range adminProjects(t, base, orgID) {
			held += int64(p["reserved_bytes"].(float64))
		}
		if held == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d bytes reserved (org and projects) 60s after the creates ended", held)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// adminProjects is GET /v1/admin/projects?org_id=, by id.
func adminProjects(t *testing.T, base, orgID string) map[string]map[string]any {
	t.Helper()
	st, out := call(t, "GET", base+"/v1/admin/projects?org_id="+orgID, adminKey, nil)
	if st != 200 {
		t.Fatalf("list projects: %d %v", st, out)
	}
	ps := map[string]map[string]any{}
	for _, p := range out["projects"].([]any) {
		ps[p.(map[string]any)["id"].(string)] = p.(map[string]any)
	}
	return ps
}

// datasetSizes lists key's datasets and sums their sizes by project ("":
// none), checking that each is listed once.
func datasetSizes(t *testing.T, base, key string) (map[string]int64, map[string]int) {
	t.Helper()
	st, out := call(t, "GET", base+"/v1/datasets?limit=1000", key, nil)
	if st != 200 {
		t.Fatalf("list: %d %v", st, out)
	}
	sizes, counts := map[string]int64{}, map[string]int{}
	seen := map[string]bool{}
	for _, d := range out["datasets"].([]any) {
		d := d.(map[string]any)
		if seen[d["id"].(string)] {
			t.Errorf("dataset %s listed twice", d["id"])
		}
		seen[d["id"].(string)] = true
		pid, _ := d["project_id"].(string)
		sizes[pid] += int64(d["size_bytes"].(float64))
		counts[pid]++
	}
	return sizes, counts
}

// checkProjectBooks: on every node the usage answers (org key and each
// project's key) are the same; the counters equal the acknowledged bytes
// and the sizes of the listed datasets, at both levels; nothing is
// reserved; neither level is over its quota; a project key lists its
// project's datasets only.
func checkProjectBooks(t *testing.T, bases []string, orgID, orgKey string, quota int64, ps []project, acked map[string]int64) {
	t.Helper()
	var total int64
	for _, a := range acked {
		total += a
	}
	keys := map[string]string{"org": orgKey}
	for _, p := range ps {
		keys[p.name] = p.key
	}
	first := map[string]map[string]any{}
	for i, base := range bases {
		for who, key := range keys {
			u := usageAnswer(t, base, key)
			delete(u, "as_of")
			if i == 0 {
				first[who] = u
			} else if !reflect.DeepEqual(u, first[who]) {
				t.Errorf("node %d answers usage for %s %v, node 0 %v", i, who, u, first[who])
			}
		}
	}
	if u := first["org"]; u["organization_usage"] != float64(total) || u["reserved_bytes"] != 0.0 || total > quota {
		t.Errorf("org usage %v; acknowledged %d bytes, quota %d", u, total, quota)
	}
	sizes, _ := datasetSizes(t, bases[len(bases)-1], orgKey)
	var listed int64
	for _, s := range sizes {
		listed += s
	}
	if listed != total || sizes[""] != 0 {
		t.Errorf("the org's datasets hold %d bytes (%v), acknowledged %d", listed, sizes, total)
	}
	admin := adminProjects(t, bases[len(bases)-1], orgID)
	for _, p := range ps {
		u := first[p.name]
		want := map[string]any{"project_id": p.id, "project_usage": float64(acked[p.name]), "project_limit_bytes": float64(p.quota),
			"project_reserved_bytes": 0.0, "organization_usage": float64(total)}
		for k, v := range want {
			if u[k] != v {
				t.Errorf("%s's usage: %s = %v, want %v (%v)", p.name, k, u[k], v, u)
			}
		}
		if sizes[p.id] != acked[p.name] || acked[p.name] > p.quota {
			t.Errorf("%s: its datasets hold %d bytes, acknowledged %d, quota %d", p.name, sizes[p.id], acked[p.name], p.quota)
		}
		if a := admin[p.id]; a["usage_bytes"] != float64(acked[p.name]) || a["reserved_bytes"] != 0.0 {
			t.Errorf("%s in the admin list: %v", p.name, a)
		}
		own, _ := datasetSizes(t, bases[0], p.key)
		if !maps.Equal(own, map[string]int64{p.id: acked[p.name]}) && acked[p.name] > 0 {
			t.Errorf("%s's key lists %v", p.name, own)
		}
	}
}

// TestProjectRaceScaleOut: 3 nodes on one PostgreSQL and one S3 bucket, 96
// concurrent creates from the keys of two projects (quotas 0.45 and 0.75
// of the org's: oversubscribed). Afterwards the bucket holds exactly the
// live datasets' blobs.
func TestProjectRaceScaleOut(t *testing.T) {
	c := newCluster(t, "30s")
	nodes := c.nodes(t, 3)
	bases := []string{nodes[0].URL, nodes[1].URL, nodes[2].URL}
	orgID, orgKey := projectRace(t, bases, 96)
	waitSettled(t, c, bases[0], orgKey)
	checkBucket(t, c, orgID)
}

// TestProjectRaceEmbedded: the same race with 64 concurrent creates on
// one node of the embedded store (SQLite + disk).
func TestProjectRaceEmbedded(t *testing.T) {
	p := siloproc.Serve(t, append(embeddedEnv, "SILO_MAX_INFLIGHT_PER_KEY=128"), "--data", t.TempDir())
	projectRace(t, []string{p.URL}, 64)
}

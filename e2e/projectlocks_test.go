package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/internal/testenv"
)

// TestProjectLocks: on 3 nodes sharing a PostgreSQL of the test's own (to
// read its log) and an S3 bucket, keys of several projects create datasets
// (multipart and tus uploads, some finished by their metadata, some by
// POST /v1/datasets?upload_id=) and delete them, while an admin changes
// the projects' quotas all along, purges a project per round, and purges
// a second organisation (with its projects, their keys still creating) per
// round. Every answer is one the contract allows (never 500 or 503);
// neither level ever holds more than its quota, used and reserved;
// PostgreSQL logs no "deadlock detected" (the store takes the org's row,
// then the project's, everywhere); no level ends over its quota; every
// counter, org's and project's, equals the sum of what it holds and
// nothing is reserved; nothing of a purged project or org is left; fsck
// finds the stores consistent.
func TestProjectLocks(t *testing.T) {
	pg := testenv.OwnPostgres(t)
	s3 := testenv.S3(t)
	c := &cluster{db: pg.URL, s3: s3, env: append(s3.Env(), "SILO_BOOTSTRAP_KEY="+adminKey, "SILO_RATE_LIMIT=0",
		"SILO_LEASE_TTL=30s", "SILO_MAX_INFLIGHT_PER_KEY=128")}
	nodes := c.nodes(t, 3)
	r := projectLockRace(t, nodes)

	log, err := pg.Log()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("PostgreSQL's log: %d bytes, %d ERROR lines, %d deadlocks", len(log), strings.Count(log, "ERROR:"), strings.Count(log, "deadlock detected"))
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "ERROR:") {
			t.Logf("PostgreSQL: %s", line)
		}
	}
	if n := strings.Count(log, "deadlock detected"); n > 0 {
		i := strings.Index(log, "deadlock detected")
		t.Errorf("PostgreSQL logged %d deadlocks; the first:\n%s", n, log[max(i-200, 0):min(i+1500, len(log))])
	}

	waitSettled(t, c, nodes[0].URL, r.keptKey)
	checkKeptBooks(t, []string{nodes[0].URL, nodes[1].URL, nodes[2].URL}, r)
	checkNothingLeft(t, pg.URL, r.purgedProjects, r.purgedOrgs)
	if out, err := c.fsck(t); err != nil {
		t.Errorf("fsck: %v\n%s", err, out)
	}
	checkBucket(t, c, r.keptID)
}

// TestProjectLocksEmbedded: the same race on one node of the embedded
// store (SQLite + disk, one writer): the same answers and books, nothing
// of the purged projects and orgs left that the API shows, and fsck
// clean once the node has stopped.
func TestProjectLocksEmbedded(t *testing.T) {
	dir := t.TempDir()
	p := siloproc.Serve(t, append(embeddedEnv, "SILO_MAX_INFLIGHT_PER_KEY=128"), "--data", dir)
	r := projectLockRace(t, []*siloproc.Proc{p})
	checkKeptBooks(t, []string{p.URL}, r)
	for _, id := range r.purgedProjects {
		if st, out := call(t, "GET", p.URL+"/v1/admin/projects/"+id, adminKey, nil); st != 404 {
			t.Errorf("purged project %s: %d %v", id, st, out)
		}
	}
	for _, id := range r.purgedOrgs {
		if st, out := call(t, "GET", p.URL+"/v1/admin/projects?org_id="+id, adminKey, nil); st != 200 || len(out["projects"].([]any)) != 0 {
			t.Errorf("projects of purged org %s: %d %v", id, st, out)
		}
	}
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(siloproc.Binary(t), "fsck", "--data", dir).CombinedOutput()
	if err != nil {
		t.Errorf("fsck: %v\n%s", err, out)
	}
}

// lockRace is what projectLockRace leaves to check: the org that lives
// on, its key and its steady projects, and the ids of what was purged.
type lockRace struct {
	keptID, keptKey            string
	kept                       []project
	purgedProjects, purgedOrgs []string
}

const lockOrgQuota, lockLow, lockHigh = 80_000, 20_000, 40_000

// projectLockRace runs the load and the admin's changes of
// TestProjectLocks against the nodes, checking every answer and, all
// along, that neither level holds more than its quota.
func projectLockRace(t *testing.T, nodes []*siloproc.Proc) *lockRace {
	bases := make([]string, len(nodes))
	for i, nd := range nodes {
		bases[i] = nd.URL
	}
	n := len(bases)
	const orgQuota, low, high = lockOrgQuota, lockLow, lockHigh
	keptID, keptKey := newOrg(t, bases[0], "kept", orgQuota)
	kept := []project{newProject(t, bases[0], keptID, "steady-0", high), newProject(t, bases[0], keptID, "steady-1", high)}
	l := &lockLoad{t: t, bases: bases, codes: map[string]map[int]int{}, examples: map[string]string{}}
	for _, p := range kept {
		l.work(p, 3)
	}
	// Quota changes of the kept projects, all along.
	quotaStop := make(chan struct{})
	var quotaWG sync.WaitGroup
	quotaWG.Add(1)
	go func() {
		defer quotaWG.Done()
		for i := 0; ; i++ {
			select {
			case <-quotaStop:
				return
			default:
			}
			q := []int64{low, high}[i%2]
			p := kept[i%len(kept)]
			if st, out := call(t, "PATCH", bases[i%n]+"/v1/admin/projects/"+p.id, adminKey, map[string]any{"quota_bytes": q}); st != 200 {
				t.Errorf("set %s's quota: %d %v", p.name, st, out)
				return
			}
			l.quotaChanges.Add(1)
			// Never over, counting what is held, at either level: the
			// org's quota is fixed, the projects' never above high.
			// (call, not usageAnswer: t.Fatal is for the test's goroutine.)
			st, u := call(t, "GET", bases[(i+1)%n]+"/v1/datasets/usage", keptKey, nil)
			if held, _ := u["organization_usage"].(float64); st != 200 || held+u["reserved_bytes"].(float64) > orgQuota {
				t.Errorf("the kept org's usage: %d %v (quota %d)", st, u, orgQuota)
			}
			st, out := call(t, "GET", bases[(i+2)%n]+"/v1/admin/projects?org_id="+keptID, adminKey, nil)
			ps, _ := out["projects"].([]any)
			if st != 200 {
				t.Errorf("list projects: %d %v", st, out)
			}
			for _, p := range ps {
				p := p.(map[string]any)
				if held := p["usage_bytes"].(float64) + p["reserved_bytes"].(float64); p["quota_bytes"] != nil && held > high {
					t.Errorf("project %s holds %.0f bytes (used and reserved) over its highest quota %d", p["name"], held, high)
				}
			}
		}
	}()

	const rounds = 3
	var purgedProjects, purgedOrgs []string
	for r := range rounds {
		doomed := newProject(t, bases[0], keptID, fmt.Sprintf("doomed-%d", r), 0)
		goneID, _ := newOrg(t, bases[0], fmt.Sprintf("gone-%d", r), 60_000)
		gone := []project{newProject(t, bases[0], goneID, "g-0", 30_000), newProject(t, bases[0], goneID, "g-1", 40_000)}
		l.work(doomed, 3)
		for _, p := range gone {
			l.work(p, 3)
		}
		l.waitAcked(12)
		// A project holding datasets: 409 without purge, then purged.
		if st, out := call(t, "DELETE", bases[1%n]+"/v1/admin/projects/"+doomed.id, adminKey, nil); st != 409 && st != 200 {
			t.Errorf("round %d: delete %s without purge: %d %v", r, doomed.name, st, out)
		}
		if st, out := call(t, "DELETE", bases[1%n]+"/v1/admin/projects/"+doomed.id+"?purge=true", adminKey, nil); st != 200 {
			t.Errorf("round %d: purge %s: %d %v", r, doomed.name, st, out)
		}
		purgedProjects = append(purgedProjects, doomed.id)
		l.waitAcked(6)
		if st, out := call(t, "DELETE", bases[2%n]+"/v1/admin/projects/"+gone[1].id+"?purge=true", adminKey, nil); st != 200 {
			t.Errorf("round %d: purge %s: %d %v", r, gone[1].name, st, out)
		}
		purgedProjects = append(purgedProjects, gone[1].id)
		l.waitAcked(6)
		if st, out := call(t, "DELETE", bases[0]+"/v1/admin/orgs/"+goneID+"?purge=true", adminKey, nil); st != 200 {
			t.Errorf("round %d: purge org %s: %d %v", r, goneID, st, out)
		}
		purgedOrgs = append(purgedOrgs, goneID)
		if t.Failed() {
			break
		}
	}
	l.waitAcked(6)
	close(quotaStop)
	quotaWG.Wait()
	l.stop()
	t.Logf("%d quota changes; answers by operation: %v", l.quotaChanges.Load(), l.codes)
	for k, msg := range l.examples {
		t.Logf("%s: %s", k, msg)
	}
	if t.Failed() {
		for _, nd := range nodes {
			for _, line := range strings.Split(nd.Logs(), "\n") {
				if strings.Contains(line, "level=ERROR") {
					t.Log(line)
				}
			}
		}
	}
	return &lockRace{keptID: keptID, keptKey: keptKey, kept: kept, purgedProjects: purgedProjects, purgedOrgs: purgedOrgs}

}

// checkKeptBooks: once the load is over, with the steady projects' quotas
// back to high and nothing held, the kept org's and its projects'
// counters equal what their datasets hold, within their quotas, and only
// the steady projects are left.
func checkKeptBooks(t *testing.T, bases []string, r *lockRace) {
	t.Helper()
	keptID, keptKey, kept := r.keptID, r.keptKey, r.kept
	const orgQuota, high = lockOrgQuota, lockHigh
	n := len(bases)
	for _, p := range kept {
		if st, out := call(t, "PATCH", bases[0]+"/v1/admin/projects/"+p.id, adminKey, map[string]any{"quota_bytes": high}); st != 200 {
			t.Fatalf("set %s's quota: %d %v", p.name, st, out)
		}
	}
	waitUnreserved(t, bases[0], keptID, keptKey, kept)
	sizes, _ := datasetSizes(t, bases[0], keptKey)
	var total int64
	for _, s := range sizes {
		total += s
	}
	if u := usageAnswer(t, bases[1%n], keptKey); u["organization_usage"] != float64(total) || total > orgQuota || u["reserved_bytes"] != 0.0 {
		t.Errorf("the kept org's usage %v, its datasets hold %d (%v), quota %d", u, total, sizes, orgQuota)
	}
	admin := adminProjects(t, bases[2%n], keptID)
	for _, p := range kept {
		a := admin[p.id]
		if a["usage_bytes"] != float64(sizes[p.id]) || a["reserved_bytes"] != 0.0 || sizes[p.id] > high {
			t.Errorf("%s: %v, its datasets hold %d", p.name, a, sizes[p.id])
		}
	}
	if len(admin) != len(kept) {
		t.Errorf("the kept org has projects %v, want only the steady ones", admin)
	}
}

// checkNothingLeft reads PostgreSQL: every counter of every org and
// project equals the sum of its datasets, nothing is reserved, and
// nothing of the purged projects and orgs is left but their revoked keys.
func checkNothingLeft(t *testing.T, db string, projects, orgs []string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range []struct {
		what, sql string
		args      []any
	}{
		{"orgs whose used_bytes is not the sum of their datasets or that hold reserved bytes", `SELECT count(*) FROM orgs o
			WHERE used_bytes <> (SELECT COALESCE(SUM(size_bytes), 0) FROM datasets WHERE org_id = o.id) OR reserved_bytes <> 0`, nil},
		{"projects whose used_bytes is not the sum of their datasets or that hold reserved bytes", `SELECT count(*) FROM projects p
			WHERE used_bytes <> (SELECT COALESCE(SUM(size_bytes), 0) FROM datasets WHERE project_id = p.id) OR reserved_bytes <> 0`, nil},
		{"reservations", `SELECT count(*) FROM reservations`, nil},
		{"uploads that are no dataset", `SELECT count(*) FROM uploads WHERE dataset_id IS NULL`, nil},
		{"datasets of a project that does not exist", `SELECT count(*) FROM datasets WHERE project_id IS NOT NULL AND project_id NOT IN (SELECT id FROM projects)`, nil},
		{"rows of purged projects", `SELECT (SELECT count(*) FROM projects WHERE id = ANY($1)) + (SELECT count(*) FROM datasets WHERE project_id = ANY($1))
			+ (SELECT count(*) FROM uploads WHERE project_id = ANY($1)) + (SELECT count(*) FROM keys WHERE project_id = ANY($1) AND revoked_at IS NULL)
			+ (SELECT count(*) FROM project_usage_samples WHERE project_id = ANY($1))`, []any{projects}},
		{"rows of purged orgs", `SELECT (SELECT count(*) FROM orgs WHERE id = ANY($1)) + (SELECT count(*) FROM projects WHERE org_id = ANY($1))
			+ (SELECT count(*) FROM datasets WHERE org_id = ANY($1)) + (SELECT count(*) FROM uploads WHERE org_id = ANY($1))
			+ (SELECT count(*) FROM keys WHERE org_id = ANY($1) AND revoked_at IS NULL)`, []any{orgs}},
	} {
		var n int
		if err := conn.QueryRow(t.Context(), q.sql, q.args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q.what, err)
		}
		if n != 0 {
			t.Errorf("%d %s", n, q.what)
		}
	}
}

// lockLoad is the creators of TestProjectLocks: per project, workers that
// create (multipart or tus), and delete their oldest dataset past 3, until
// their key is revoked or the load stops.
type lockLoad struct {
	t            *testing.T
	bases        []string
	done         atomic.Bool
	wg           sync.WaitGroup
	acked        atomic.Int64
	quotaChanges atomic.Int64
	mu           sync.Mutex
	codes        map[string]map[int]int // op -> status -> count
	examples     map[string]string      // "op status" -> a message of that answer
}

// allowed are the answers the contract allows each operation of a project
// key whose project, or org, may be purged under it (404, 409) or whose
// key may be revoked (498); 400 only as a quota refusal (checked apart).
var allowed = map[string][]int{
	"create":      {200, 400, 404, 409, 498},
	"tus-create":  {201, 400, 404, 409, 498},
	"tus-patch":   {204, 404, 409, 410, 498},
	"from-upload": {200, 404, 409, 498},
	"tus-delete":  {204, 404, 410, 498},
	"delete":      {200, 404, 498},
}

// record books an answer and reports whether the worker may go on.
func (l *lockLoad) record(p project, op string, st int, msg string) bool {
	l.mu.Lock()
	if l.codes[op] == nil {
		l.codes[op] = map[int]int{}
	}
	l.codes[op][st]++
	if st >= 300 && l.examples[fmt.Sprint(op, " ", st)] == "" {
		l.examples[fmt.Sprint(op, " ", st)] = msg
	}
	l.mu.Unlock()
	ok := false
	for _, a := range allowed[op] {
		ok = ok || a == st
	}
	if st == 400 {
		ok = strings.HasPrefix(msg, "You have exceeded capacity: the organization uses") ||
			strings.HasPrefix(msg, fmt.Sprintf("You have exceeded capacity: the project %q uses", p.name))
	}
	if !ok {
		l.t.Errorf("%s by %s: %d %s", op, p.name, st, msg)
	}
	return ok && st != 498 && !l.done.Load()
}

func (l *lockLoad) work(p project, workers int) {
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			var mine []string
			for i := 0; ; i++ {
				base := l.bases[(w+i)%len(l.bases)]
				size := 1000 + (w*1009+i*3001)%3000
				name := fmt.Sprintf("%s-%d-%d", p.name, w, i)
				var id string
				var more bool
				if i%2 == 0 {
					st, out := createDataset(l.t, base, p.key, name, strings.NewReader(jsonlRows(size)), i%4 == 0)
					msg, _ := out["message"].(string)
					more = l.record(p, "create", st, msg)
					id, _ = out["id"].(string)
				} else {
					id, more = l.tus(p, base, name, size, i%4 == 1)
				}
				if id != "" {
					l.acked.Add(1)
					mine = append(mine, id)
				}
				if more && len(mine) > 3 {
					st, out := call(l.t, "DELETE", l.bases[(w+i+1)%len(l.bases)]+"/v1/datasets/"+mine[0], p.key, nil)
					msg, _ := out["message"].(string)
					more = l.record(p, "delete", st, msg)
					mine = mine[1:]
				}
				if !more {
					return
				}
			}
		}()
	}
}

// tus uploads size bytes through a resumable upload opened on base and
// sent to the next node: finished by its metadata if byMeta, else by POST
// /v1/datasets?upload_id=. An upload that does not become a dataset is
// terminated. It returns the dataset's id ("" if none) and whether the
// worker may go on.
func (l *lockLoad) tus(p project, base, name string, size int, byMeta bool) (string, bool) {
	t := l.t
	hdr := map[string]string{"Upload-Length": strconv.Itoa(size)}
	if byMeta {
		hdr["Upload-Metadata"] = tusMeta("name", name, "type", "embed-input", "filename", name+".jsonl")
	}
	st, h, body := tusReq(t, "POST", base+"/v1/uploads", p.key, hdr, nil)
	if ok := l.record(p, "tus-create", st, messageOf(body)); st != 201 {
		return "", ok
	}
	loc, err := url.Parse(h.Get("Location"))
	if err != nil {
		t.Errorf("Location %q: %v", h.Get("Location"), err)
		return "", false
	}
	other := l.bases[(indexOf(l.bases, base)+1)%len(l.bases)]
	st, h, body = tusPatch(t, other+loc.Path, p.key, 0, []byte(jsonlRows(size)), "")
	more := l.record(p, "tus-patch", st, messageOf(body))
	id := ""
	switch {
	case st == 204 && byMeta:
		if id = h.Get("Silo-Dataset-Id"); id == "" {
			t.Errorf("the last PATCH of %s with name and type: no Silo-Dataset-Id", name)
		}
	case st == 204:
		st, out := call(t, "POST", base+"/v1/datasets?type=embed-input&name="+url.QueryEscape(name)+"&upload_id="+loc.Path[strings.LastIndex(loc.Path, "/")+1:], p.key, nil)
		msg, _ := out["message"].(string)
		more = l.record(p, "from-upload", st, msg)
		id, _ = out["id"].(string)
	}
	if id == "" && st != 498 {
		st, _, body := tusReq(t, "DELETE", other+loc.Path, p.key, nil, nil)
		more = l.record(p, "tus-delete", st, messageOf(body)) && more
	}
	return id, more
}

// messageOf is the message of a JSON answer's body, or the body.
func messageOf(body string) string {
	var out struct{ Message string }
	if json.Unmarshal([]byte(body), &out) != nil {
		return body
	}
	return out.Message
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// waitAcked waits until n more datasets are acknowledged: the load has
// gone on across what the test did last.
func (l *lockLoad) waitAcked(n int64) {
	target := l.acked.Load() + n
	deadline := time.Now().Add(60 * time.Second)
	for l.acked.Load() < target {
		if time.Now().After(deadline) {
			l.t.Fatalf("fewer than %d datasets acknowledged in 60s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (l *lockLoad) stop() {
	l.done.Store(true)
	l.wg.Wait()
}

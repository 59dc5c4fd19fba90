package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/internal/testenv"
)

// TestCrashConsistency is the kill -9 harness: 20 rounds of ~100 concurrent
// creates and deletes on the embedded stores, each cut short by SIGKILL at
// a random moment. After every restart:
//
//   - every acknowledged create is there, byte for byte (SHA-256 of its
//     original_url download) — nothing lost;
//   - every acknowledged delete stays deleted — nothing resurrected;
//   - a create the kill cut off is wholly there (once, with all its bytes)
//     or wholly absent; a create refused with an error status is absent;
//   - usage equals the sum of the datasets that are there;
//   - with the server stopped, `silo fsck` finds nothing: no miscounted
//     usage, no orphaned blob, temp file, reservation or ledger row.
func TestCrashConsistency(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 3
	}
	// Not t.TempDir: if the binary dies mid-round, a later run removes it.
	dir := testenv.Dir(t, "crash")
	// 100 requests at once from one key: its in-flight cap is not the point.
	env := []string{"SILO_BOOTSTRAP_KEY=" + adminKey, "SILO_RATE_LIMIT=0", "SILO_LEASE_TTL=1s", "SILO_MAX_INFLIGHT_PER_KEY=256"}
	serve := func() *siloproc.Proc { return siloproc.Serve(t, env, "--data", dir) }
	p := serve()
	_, key := newOrg(t, p.URL, "crash", 0)
	http.DefaultClient.CloseIdleConnections()
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	m := &crashModel{live: map[string]sent{}, deleted: map[string]bool{}, doubtful: map[string]sent{},
		refused: map[string]bool{}, doubtDel: map[string]sent{}}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6))
	start := time.Now()
	for round := 1; round <= rounds; round++ {
		p := serve()
		m.storm(t, p, key, round, rng)
		p = serve() // Recover cleans what the killed process left
		m.verify(t, p.URL, key)
		waitFinal(t, p.URL, key)
		http.DefaultClient.CloseIdleConnections() // nothing for the drain to wait for
		if err := p.Stop(); err != nil {
			t.Fatalf("round %d: stop: %v", round, err)
		}
		if out, err := exec.Command(siloproc.Binary(t), "fsck", "--data", dir).CombinedOutput(); err != nil {
			m.orphaned += strings.Count(string(out), "found:")
			t.Fatalf("round %d: fsck: %v\n%s", round, err, out)
		}
		t.Logf("round %2d: %3d live, killed after %v with %d answered, %d in flight",
			round, len(m.live), m.lastKill.Round(time.Millisecond), m.lastAnswered, m.lastInFlight)
		if t.Failed() {
			break
		}
	}
	t.Logf("crash harness: %d rounds in %v, %d kills; creates: %d acknowledged, %d refused, %d cut off (%d there, %d absent); "+
		"deletes: %d acknowledged, %d cut off (%d done, %d not); lost %d, resurrected %d, partial %d, orphaned %d; fsck clean after every round",
		rounds, time.Since(start).Round(time.Second), m.kills, m.ackCreates, m.refusedN, m.cutCreates, m.cutThere, m.cutAbsent,
		m.ackDeletes, m.cutDeletes, m.cutDelDone, m.cutDelNot, m.lost, m.resurrected, m.partial, m.orphaned)
	if m.lost+m.resurrected+m.partial+m.orphaned != 0 {
		t.Fatal("the crash harness found lost, resurrected, partial or orphaned data")
	}
}

// sent is what the harness sent for a create (and, once known, its id).
type sent struct {
	id, name string
	sum      string
	size     int64
}

// crashModel is what the clients know: acknowledged answers, and requests
// whose answer the kill swallowed.
type crashModel struct {
	mu       sync.Mutex
	live     map[string]sent // id -> acknowledged (or found) dataset
	deleted  map[string]bool // ids of acknowledged deletes
	doubtful map[string]sent // name -> a create without an answer
	refused  map[string]bool // names of creates answered with an error
	doubtDel map[string]sent // id -> a delete without an answer

	kills, ackCreates, refusedN, cutCreates, cutThere, cutAbsent int
	ackDeletes, cutDeletes, cutDelDone, cutDelNot                int
	lost, resurrected, partial, orphaned                         int
	lastKill                                                     time.Duration
	lastAnswered, lastInFlight                                   int
}

// storm runs ~100 concurrent creates and deletes and kills the server at a
// random moment while they run.
func (m *crashModel) storm(t *testing.T, p *siloproc.Proc, key string, round int, rng *rand.Rand) {
	var victims []sent
	for _, d := range m.live {
		if len(victims) < 35 && rng.IntN(2) == 0 {
			victims = append(victims, d)
		}
	}
	creates := 100 - len(victims)
	var wg sync.WaitGroup
	var answered int
	for i := 0; i < creates; i++ {
		body := randomJSONL(rng, 200+rng.IntN(30_000))
		sum := sha256.Sum256(body)
		s := sent{name: fmt.Sprintf("r%02d-c%03d", round, i), sum: hex.EncodeToString(sum[:]), size: int64(len(body))}
		withLength := rng.IntN(2) == 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, out := createDataset(t, p.URL, key, s.name, bytes.NewReader(body), withLength)
			m.mu.Lock()
			defer m.mu.Unlock()
			switch {
			case st == 200:
				s.id = out["id"].(string)
				m.live[s.id] = s
				m.ackCreates++
				answered++
			case st == 0:
				m.doubtful[s.name] = s
				m.cutCreates++
			default:
				m.refused[s.name] = true
				m.refusedN++
				answered++
			}
		}()
	}
	for _, d := range victims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, out := call(t, "DELETE", p.URL+"/v1/datasets/"+d.id, key, nil)
			m.mu.Lock()
			defer m.mu.Unlock()
			switch st {
			case 200:
				delete(m.live, d.id)
				m.deleted[d.id] = true
				m.ackDeletes++
				answered++
			case 0:
				m.doubtDel[d.id] = d
				m.cutDeletes++
			default:
				t.Errorf("delete %s: %d %v", d.id, st, out)
			}
		}()
	}
	// The kill comes at a random moment: after a random number of answers
	// (0 to all of them), then a random few milliseconds more, so that it
	// lands anywhere from before the first byte to after the last commit.
	began := time.Now()
	target := rng.IntN(len(victims) + creates + 1)
	for deadline := began.Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		m.mu.Lock()
		n := answered
		m.mu.Unlock()
		if n >= target {
			break
		}
	}
	time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
	m.mu.Lock()
	m.lastAnswered = answered
	m.mu.Unlock()
	p.Kill()
	m.kills++
	wg.Wait()
	m.lastKill, m.lastInFlight = time.Since(began), 100-m.lastAnswered
}

func randomJSONL(rng *rand.Rand, n int) []byte {
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "{\"text\":\"%x %d\"}\n", rng.Uint64(), rng.IntN(1e6))
	}
	return b.Bytes()
}

// verify compares what the server holds with what the clients know, and
// settles the requests the kill cut off.
func (m *crashModel) verify(t *testing.T, base, key string) {
	t.Helper()
	list := listAll(t, base, key)
	byName := map[string][]map[string]any{}
	for _, d := range list {
		byName[d["name"].(string)] = append(byName[d["name"].(string)], d)
	}
	seen := map[string]bool{}
	for id, s := range m.doubtDel {
		if st, _ := call(t, "GET", base+"/v1/datasets/"+id, key, nil); st == 404 {
			delete(m.live, id)
			m.deleted[id] = true
			m.cutDelDone++
		} else {
			m.cutDelNot++
		}
		_ = s
	}
	clear(m.doubtDel)
	for name, s := range m.doubtful {
		switch got := byName[name]; len(got) {
		case 0:
			m.cutAbsent++
		case 1:
			s.id = got[0]["id"].(string)
			m.live[s.id] = s
			m.cutThere++
		default:
			m.partial++
			t.Errorf("a cut-off create %s is there %d times", name, len(got))
		}
	}
	clear(m.doubtful)
	for name := range m.refused {
		if len(byName[name]) > 0 {
			m.partial++
			t.Errorf("create %s was refused but is there", name)
		}
	}
	var want int64
	for id, s := range m.live {
		seen[id] = true
		want += s.size
		if !m.checkBytes(t, base, key, s) {
			m.lost++
		}
	}
	for _, d := range list {
		id := d["id"].(string)
		if m.deleted[id] {
			m.resurrected++
			t.Errorf("dataset %s came back after its delete was acknowledged", id)
		} else if !seen[id] {
			t.Errorf("dataset %s (%s) is there but no client created it", id, d["name"])
		}
	}
	if got := usage(t, base, key); got != want {
		t.Errorf("usage %d, want the sum of the datasets that are there, %d", got, want)
	}
}

// checkBytes downloads a dataset's original file and compares its SHA-256.
func (m *crashModel) checkBytes(t *testing.T, base, key string, s sent) bool {
	st, out := call(t, "GET", base+"/v1/datasets/"+s.id, key, nil)
	if st != 200 {
		t.Errorf("acknowledged dataset %s (%s) lost: %d %v", s.id, s.name, st, out)
		return false
	}
	d := out["dataset"].(map[string]any)
	parts := d["dataset_parts"].([]any)
	if len(parts) != 1 || int64(d["size_bytes"].(float64)) != s.size {
		t.Errorf("dataset %s: %d parts, %v bytes; want 1 part of %d bytes", s.id, len(parts), d["size_bytes"], s.size)
		return false
	}
	resp, err := http.Get(parts[0].(map[string]any)["original_url"].(string))
	if err != nil {
		t.Errorf("download %s: %v", s.id, err)
		return false
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if resp.StatusCode != 200 || err != nil || n != s.size || hex.EncodeToString(h.Sum(nil)) != s.sum {
		t.Errorf("dataset %s: download %d, %d bytes (%v), checksum differs: %v", s.id, resp.StatusCode, n, err, hex.EncodeToString(h.Sum(nil)) != s.sum)
		return false
	}
	return true
}

func listAll(t *testing.T, base, key string) []map[string]any {
	t.Helper()
	st, out := call(t, "GET", base+"/v1/datasets", key, nil)
	if st != 200 {
		t.Fatalf("list: %d %v", st, out)
	}
	var ds []map[string]any
	for _, d := range out["datasets"].([]any) {
		ds = append(ds, d.(map[string]any))
	}
	return ds
}

// waitFinal waits until every dataset's validation has ended, so that a
// clean stop leaves no validation half done for fsck to see.
func waitFinal(t *testing.T, base, key string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		busy := 0
		for _, d := range listAll(t, base, key) {
			if s := d["validation_status"]; s == "queued" || s == "processing" {
				busy++
			}
		}
		if busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d datasets still validating after 60s", busy)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/silo-datasets/silo/internal/siloproc"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/postgres"
)

// TestOrgPurgeRacingCreates: on a real PostgreSQL (its own, to read its
// log), organisations are purged while their own writer keys keep
// creating (some with an Idempotency-Key), round after round, with the validation workers busy on the
// datasets being purged. Every create is answered 200, or (its org gone
// under it) 404 or 409, or (its key revoked) 498: never 500 or 503;
// PostgreSQL logs no "deadlock detected" (the purge takes its locks in the
// order creates, reservations and the worker take theirs); and nothing of
// a purged org is left in the store.
func TestOrgPurgeRacingCreates(t *testing.T) {
	pg := testenv.OwnPostgres(t)
	p := siloproc.Serve(t, []string{"SILO_BOOTSTRAP_KEY=" + adminKey, "SILO_RATE_LIMIT=0", "SILO_MAX_INFLIGHT_PER_KEY=128"},
		"--db", pg.URL, "--data", t.TempDir(), "--workers", "4")
	const rounds, creators = 8, 12
	seen := map[int]int{}
	var purged []string
	for round := range rounds {
		orgID, key := newOrg(t, p.URL, fmt.Sprintf("purge-%d", round), 0)
		var mu sync.Mutex
		ok := 0
		enough := make(chan struct{}) // some datasets exist: the purge has work, the worker too
		stop := make(chan struct{})   // the purge failed: its key is not revoked
		var wg sync.WaitGroup
		for c := range creators {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Until this key is revoked: every creator runs across the purge.
				for i := 0; ; i++ {
					name := fmt.Sprintf("r%d-c%d-%d", round, c, i)
					var st int
					var out map[string]any
					if i%3 == 2 {
						st, out = createIdempotent(p.URL, key, name, jsonlRows(20+i%50))
					} else {
						st, out = createDataset(t, p.URL, key, name, strings.NewReader(jsonlRows(20+i%50)), i%2 == 0)
					}
					mu.Lock()
					seen[st]++
					if st == 200 {
						if ok++; ok == creators {
							close(enough)
						}
					}
					mu.Unlock()
					switch st {
					case 200, 404, 409:
					case 498:
						return
					default:
						t.Errorf("round %d: create %s: %d %v", round, name, st, out)
						return
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}()
		}
		<-enough
		st, out := call(t, "DELETE", p.URL+"/v1/admin/orgs/"+orgID+"?purge=true", adminKey, nil)
		if st != 200 {
			t.Errorf("round %d: purge: %d %v", round, st, out)
			close(stop)
		}
		purged = append(purged, orgID)
		wg.Wait()
		if t.Failed() {
			break
		}
	}
	t.Logf("create answers over %d rounds: %v", rounds, seen)
	if t.Failed() {
		for _, l := range strings.Split(p.Logs(), "\n") {
			if strings.Contains(l, "level=ERROR") || strings.Contains(l, "level=WARN") {
				t.Log(l)
			}
		}
	}

	log, err := pg.Log()
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(log, "deadlock detected"); n > 0 {
		i := strings.Index(log, "deadlock detected")
		t.Errorf("PostgreSQL logged %d deadlocks; the first:\n%s", n, log[max(i-200, 0):min(i+1500, len(log))])
	}

	s, err := postgres.Open(context.Background(), pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := s.Reservations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sums, err := s.UsageSums(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range purged {
		if _, ok := sums[id]; ok {
			t.Errorf("purged org %s still has datasets", id)
		}
		for _, r := range res {
			if r.OrgID == id {
				t.Errorf("purged org %s still has reservation %s", id, r.ID)
			}
		}
	}
	if codes := slices.Sorted(maps.Keys(seen)); len(codes) < 2 {
		t.Errorf("the creates saw only %v: they did not race the purges", codes)
	}
}

// createIdempotent is a create sent with an Idempotency-Key of its own.
func createIdempotent(base, key, name, data string) (int, map[string]any) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := writeDataPart(mw, name, strings.NewReader(data)); err != nil {
		return failed(err)
	}
	if err := mw.Close(); err != nil {
		return failed(err)
	}
	req, err := http.NewRequest("POST", base+"/v1/datasets?type=embed-input&name="+url.QueryEscape(name), &buf)
	if err != nil {
		return failed(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Idempotency-Key", name)
	return send(req)
}

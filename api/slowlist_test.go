package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
)

var seedT0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// TestSlowListReadersCostOnlyThemselves: 20 clients read a large
// organisation's unpaged list at one byte a second through 4 KiB receive
// buffers (more than SQLite's 8 read connections and PostgreSQL's pool of
// 16). Another organisation's requests, authentication and a store read
// each, keep their latency: each slow reader holds a page of memory and
// its own slot, never a store connection or transaction. Logs another
// organisation's p50/p99 with and without the slow readers.
func TestSlowListReadersCostOnlyThemselves(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) silo.Store) {
		st := open(t)
		// No write timeout: it would cut the slow readers off after a
		// while; what is tested is that they hold nothing meanwhile.
		n := startHost(t, st, 30*time.Second, func(s *api.Server) { s.WriteTimeout = -1 })
		bigOrg, bigKey := n.org(t, "big", silo.RoleReader)
		otherOrg, otherKey := n.org(t, "other", silo.RoleReader)
		// 400 datasets of some 8 KiB each: a 3.5 MB list, far more than
		// the socket buffers between the server and a slow reader.
		seedDatasets(t, st, bigOrg, 400, 8<<10, func(i int) time.Time { return seedT0.Add(time.Duration(i) * time.Second) })
		seedDatasets(t, st, otherOrg, 5, 100, func(i int) time.Time { return seedT0.Add(time.Duration(i) * time.Second) })
		const path, rounds, readers = "/v1/datasets?limit=5", 200, 20

		calm50, calm99 := quantiles(latencies(t, n.URL, otherKey, path, rounds))
		rs, started := startSlowReaders(t, readers, n.URL, bigKey, "/v1/datasets")
		lat := latencies(t, n.URL, otherKey, path, rounds)
		hostile50, hostile99 := quantiles(lat)
		t.Logf("another org's GET %s: p50 %v p99 %v alone; p50 %v p99 %v with %d slow readers of a 3.5 MB list (%d answers started)",
			path, calm50, calm99, hostile50, hostile99, readers, started)
		if started != readers {
			t.Errorf("only %d of %d slow readers got their answer started within 20s", started, readers)
		}
		// Generous: the machine is shared; what is refused is a stall.
		if hostile99 > 2*time.Second {
			t.Errorf("another org's p99 with slow readers: %v, want under 2s", hostile99)
		}
		for _, r := range rs {
			select {
			case <-r.done:
				t.Fatal("a slow reader's answer ended: the list was not large enough to hold it")
			default:
			}
		}
	})
}

// TestListPagesReadAsOneList: an unpaged list, read from the store a page
// at a time, is the same list as one query gives (newest first, ties on
// created_at by id, across page boundaries, nothing twice), and limit and
// offset windows across pages are the same slices of it.
func TestListPagesReadAsOneList(t *testing.T) {
	stores(t, func(t *testing.T, open func(t *testing.T) silo.Store) {
		st := open(t)
		n := startHost(t, st, 30*time.Second, nil)
		orgID, key := n.org(t, "lister", silo.RoleReader)
		// Three datasets share each created_at: ties straddle every page
		// boundary of 100.
		seedDatasets(t, st, orgID, 250, 0, func(i int) time.Time { return seedT0.Add(time.Duration(i/3) * time.Second) })
		var whole []string
		err := st.Datasets(context.Background(), silo.DatasetFilter{OrgID: orgID}, func(d *silo.Dataset) error {
			whole = append(whole, d.ID)
			return nil
		})
		if err != nil || len(whole) != 250 {
			t.Fatalf("one query: %d datasets, %v", len(whole), err)
		}
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"", whole},
			{"?limit=150&offset=60", whole[60:210]},
			{"?limit=1000&offset=199", whole[199:]},
			{"?limit=100", whole[:100]},
			{"?before=" + seedT0.Add(50*time.Second).Format(time.RFC3339), whole[100:]},
		} {
			got := listIDs(t, n.URL, key, tc.query)
			if !slices.Equal(got, tc.want) {
				t.Errorf("GET /v1/datasets%s: %d ids, want %d; first difference at %d", tc.query, len(got), len(tc.want), firstDiff(got, tc.want))
			}
		}
	})
}

func listIDs(t *testing.T, base, key, query string) []string {
	t.Helper()
	req := newRequest(t, "GET", base+"/v1/datasets"+query, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Datasets []struct{ ID string } `json:"datasets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("list%s: %d %v", query, resp.StatusCode, err)
	}
	ids := make([]string, len(out.Datasets))
	for i, d := range out.Datasets {
		ids[i] = d.ID
	}
	return ids
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSlowListReaderCutOff: a client that stops reading a list is cut off
// once one write has waited --write-timeout, and its in-flight slots come
// back: with a per-key cap of 2, two such readers hold the key at 503, and
// soon after the timeout the key is served again.
func TestSlowListReaderCutOff(t *testing.T) {
	st := openSQLite(t)
	n := startHost(t, st, 30*time.Second, func(s *api.Server) {
		s.MaxInFlightPerKey, s.WriteTimeout = 2, 2*time.Second
	})
	orgID, key := n.org(t, "big", silo.RoleReader)
	seedDatasets(t, st, orgID, 400, 8<<10, func(i int) time.Time { return seedT0.Add(time.Duration(i) * time.Second) })
	if _, started := startSlowReaders(t, 2, n.URL, key, "/v1/datasets"); started != 2 {
		t.Fatalf("%d of 2 slow readers started", started)
	}
	status := func() int {
		req := newRequest(t, "GET", n.URL+"/v1/datasets/usage", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		discard(t, resp)
		return resp.StatusCode
	}
	start := time.Now()
	if st := status(); st != 503 {
		t.Fatalf("the key's third request while two slow readers hold its slots: %d, want 503", st)
	}
	waitFor(t, func() bool { return status() == 200 })
	t.Logf("the slow readers' slots came back %v after they were seen held", time.Since(start))
}

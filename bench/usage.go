package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/sqlite"
)

// serveBareUsage is the baseline of workload 1: a bare net/http server
// whose one handler encodes the same JSON as silo's usage endpoint, with
// no auth, no store, no middleware. It runs as its own process, as silo
// does, so that both compete for the same cores the same way.
func serveBareUsage(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	type usageJSON struct {
		OrganizationUsage int64  `json:"organization_usage"`
		LimitBytes        int64  `json:"limit_bytes"`
		ReservedBytes     int64  `json:"reserved_bytes"`
		AsOf              string `json:"as_of"`
	}
	fmt.Fprintf(os.Stderr, "bare listening addr=%s\n", ln.Addr())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(usageJSON{OrganizationUsage: 123456789, LimitBytes: 1e15, AsOf: time.Now().UTC().Format(time.RFC3339Nano)})
	}))
}

var bareListening = regexp.MustCompile(`bare listening addr=(\S+)`)

// usageVsBare is workload 1: authenticated GET /v1/datasets/usage against
// the bare handler, same load generator, same concurrency.
func (b *bench) usageVsBare() error {
	s, err := b.siloServer("silo-usage", filepath.Join(b.tmp, "usage"))
	if err != nil {
		return err
	}
	defer s.stop()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	bare, err := startProc("bare-usage", self, []string{"bare-usage", "127.0.0.1:0"}, nil, b.tmp, bareListening)
	if err != nil {
		return err
	}
	defer bare.stop()
	// The two alternate which goes first, over more rounds than the other
	// workloads: a round is 4 s, and on a shared 2-core VM the bare
	// handler's own rate moved from 24k to 42k req/s between runs.
	type target struct {
		out      *[]loadResult
		srv      *proc
		url, key string
	}
	var sr, br []loadResult
	for round := range 2*b.sz.Rounds - 1 {
		for _, t := range inTurn(round, target{&sr, s, s.url() + "/v1/datasets/usage", adminKey}, target{&br, bare, bare.url() + "/", ""}) {
			r, err := load(t.srv, t.url, t.key, b.sz.Conc, b.sz.LoadDur)
			if err != nil {
				return err
			}
			*t.out = append(*t.out, r)
		}
	}
	sm, bm := medianLoad(sr), medianLoad(br)
	scpu := cpuOf(sr)
	b.note("Workload 1: silo/bare req/s per round: %s; bare/silo server CPU per request per round: %s (silo %s µs).",
		roundRatios(rpsOf(sr), rpsOf(br)), roundRatios(cpuOf(br), scpu), fmtList("%.1f", scpu))
	w := "1 usage"
	b.ratioRow(w, fmt.Sprintf("GET /v1/datasets/usage req/s (%d conns)", b.sz.Conc), fmt.Sprintf("%.0f req/s", sm.RPS),
		fmt.Sprintf("%.0f req/s bare net/http", bm.RPS), sm.RPS/bm.RPS, ">=", 0.8)
	b.ratioRow(w, "server CPU per request, user + system (bare/silo)", fmtMicros(sm.CPUPerReq), fmtMicros(bm.CPUPerReq)+" bare",
		float64(bm.CPUPerReq)/float64(sm.CPUPerReq), "", 0)
	b.ratioRow(w, "p50 latency (bare/silo)", fmtDur(sm.P50), fmtDur(bm.P50), float64(bm.P50)/float64(sm.P50), "", 0)
	b.ratioRow(w, "p99 latency (bare/silo)", fmtDur(sm.P99), fmtDur(bm.P99), float64(bm.P99)/float64(sm.P99), "", 0)
	return nil
}

// scale is workload 2: usage and list of an organisation with 10 datasets
// against one with BigOrg of them, on one server.
func (b *bench) scale() error {
	dir := filepath.Join(b.tmp, "scale")
	start := time.Now()
	if err := seed(dir, b.sz.BigOrg); err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	log.Printf("seeded 10 + %d datasets in %v", b.sz.BigOrg, time.Since(start).Round(time.Millisecond))
	s, err := b.siloServer("silo-scale", dir)
	if err != nil {
		return err
	}
	defer s.stop()
	big := newClient(s.url(), bigKey)
	if u, err := big.usage(); err != nil || u != int64(b.sz.BigOrg)*seedSize {
		return fmt.Errorf("seeded org's usage: %d, %v; want %d", u, err, int64(b.sz.BigOrg)*seedSize)
	}
	pair := func(path string, dur time.Duration) (small, large loadResult, err error) {
		var sr, lr []loadResult
		for range b.sz.Rounds {
			r, err := load(nil, s.url()+path, smallKey, b.sz.Conc, dur)
			if err != nil {
				return small, large, err
			}
			sr = append(sr, r)
			if r, err = load(nil, s.url()+path, bigKey, b.sz.Conc, dur); err != nil {
				return small, large, err
			}
			lr = append(lr, r)
		}
		return medianLoad(sr), medianLoad(lr), nil
	}
	w := "2 scale"
	n := fmt.Sprintf("%d", b.sz.BigOrg)
	su, lu, err := pair("/v1/datasets/usage", b.sz.LoadDur)
	if err != nil {
		return err
	}
	b.ratioRow(w, "usage p50, "+n+" datasets / 10", fmtDur(lu.P50), fmtDur(su.P50)+" with 10", float64(lu.P50)/float64(su.P50), "<=", 1.2)
	sl, ll, err := pair("/v1/datasets?limit=10", b.sz.LoadDur)
	if err != nil {
		return err
	}
	b.ratioRow(w, "list limit=10 first page p50, "+n+" / 10", fmtDur(ll.P50), fmtDur(sl.P50)+" with 10", float64(ll.P50)/float64(sl.P50), "<=", 1.5)
	for _, off := range []int{b.sz.BigOrg / 2, b.sz.BigOrg - 10} {
		r, err := load(nil, fmt.Sprintf("%s/v1/datasets?limit=10&offset=%d", s.url(), off), bigKey, 2, b.sz.LoadDur/2)
		if err != nil {
			return err
		}
		b.ratioRow(w, fmt.Sprintf("list limit=10 offset=%d p50 (deep page / first page)", off), fmtDur(r.P50), fmtDur(ll.P50)+" first page",
			float64(r.P50)/float64(ll.P50), "", 0)
	}
	return nil
}

const (
	smallKey = "bench-small-org-key-0123456789abcdef01234"
	bigKey   = "bench-big-org-key-0123456789abcdef0123456"
	seedSize = 1000 // bytes of each seeded dataset
)

// seed creates, before the server starts, an organisation with 10 datasets
// (through the store's own create path) and one with n (bulk-inserted in
// one transaction: n fsynced creates would take minutes).
func seed(dir string, n int) error {
	ctx := context.Background()
	path := filepath.Join(dir, "silo.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	admin := &silo.Org{ID: silo.NewID("org_"), Name: "default", QuotaBytes: 1 << 50, CreatedAt: now}
	small := &silo.Org{ID: silo.NewID("org_"), Name: "small", QuotaBytes: 1 << 50, CreatedAt: now}
	big := &silo.Org{ID: silo.NewID("org_"), Name: "big", QuotaBytes: 1 << 50, CreatedAt: now}
	keys := map[*silo.Org]string{admin: adminKey, small: smallKey, big: bigKey}
	for _, o := range []*silo.Org{admin, small, big} {
		if err := st.CreateOrg(ctx, o); err != nil {
			return err
		}
		role := silo.RoleReader
		if o == admin {
			role = silo.RoleAdmin
		}
		k := &silo.Key{ID: silo.NewID("key_"), OrgID: o.ID, Role: role, Name: "bench", Hash: silo.HashSecret(keys[o]), CreatedAt: now}
		if err := st.CreateKey(ctx, k); err != nil {
			return err
		}
	}
	for i := range 10 {
		res := &silo.Reservation{ID: silo.NewID("res_"), OrgID: small.ID, Node: "seed", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := st.OpenReservation(ctx, res); err != nil {
			return err
		}
		if err := st.CreateDataset(ctx, seedDataset(small.ID, i, now), res.ID); err != nil {
			return err
		}
	}
	if err := st.Close(); err != nil {
		return err
	}
	return bulkSeed(ctx, path, big.ID, n, now)
}

func seedDataset(orgID string, i int, now time.Time) *silo.Dataset {
	at := now.Add(-time.Duration(i) * time.Second)
	return &silo.Dataset{
		ID: fmt.Sprintf("seed-%s-%07d", orgID, i), OrgID: orgID, Name: fmt.Sprintf("seed %d", i), Type: silo.TypeChatFinetune,
		Status: silo.StatusValidated, CreatedAt: at, UpdatedAt: at, SizeBytes: seedSize,
		Params: silo.CreateParams{KeepOriginalFile: true},
		Parts: []silo.Part{{ID: silo.NewID("dp_"), Name: "data.jsonl", Kind: silo.PartTrain, Format: silo.FormatJSONL,
			Filename: "data.jsonl", BlobKey: silo.NewBlobKey(), SizeBytes: seedSize, SHA256: "00", NumRows: 3}},
	}
}

// bulkSeed inserts n datasets of one org in one transaction, with the
// columns and JSON encodings the sqlite store writes, and sets the org's
// used bytes to their sum.
func bulkSeed(ctx context.Context, path, orgID string, n int, now time.Time) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO datasets (id, org_id, name, type, status, created_at, updated_at, expires_at,
		client_name, size_bytes, params, parts, report) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, '', ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for i := range n {
		d := seedDataset(orgID, i, now)
		if _, err := ins.ExecContext(ctx, d.ID, d.OrgID, d.Name, d.Type, d.Status, d.CreatedAt.UnixMicro(), d.UpdatedAt.UnixMicro(),
			d.SizeBytes, js(d.Params), js(d.Parts), js(d.Report)); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE orgs SET used_bytes = ? WHERE id = ?`, int64(n)*seedSize, orgID); err != nil {
		return err
	}
	return tx.Commit()
}

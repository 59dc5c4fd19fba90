package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/postgres"
	"github.com/silo-datasets/silo/storetest"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) silo.Store {
		return open(t, testenv.Postgres(t))
	})
}

// Many goroutines, each with its own pool as a node has, reserve in small
// steps against a small quota: the sum granted never exceeds it, and every
// refusal names the org's numbers.
func TestReserveNeverExceedsQuota(t *testing.T) {
	const (
		quota   = 10_000
		workers = 64
		nodes   = 4
	)
	url := testenv.Postgres(t)
	stores := make([]*postgres.Store, nodes)
	for i := range stores {
		stores[i] = open(t, url)
		defer stores[i].Close()
	}
	ctx := context.Background()
	org := &silo.Org{ID: silo.NewID("org_"), Name: "small", QuotaBytes: quota, CreatedAt: time.Now()}
	if err := stores[0].CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	var granted, refused atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%nodes]
			r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: org.ID, Node: "n", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
			if err := s.OpenReservation(ctx, r); err != nil {
				t.Error(err)
				return
			}
			for j := 0; ; j++ {
				// Odd sizes and a want above the need, as an upload asks.
				need := int64(13 + (i+j)%29)
				n, err := s.Reserve(ctx, r.ID, need, need*3)
				var qe *silo.QuotaError
				if errors.As(err, &qe) {
					if qe.LimitBytes != quota || qe.RequestedBytes != need || qe.UsedBytes+qe.ReservedBytes+need <= quota {
						t.Errorf("refusal with numbers that fit: %+v", qe)
					}
					refused.Add(1)
					return
				} else if err != nil {
					t.Error(err)
					return
				}
				if n < need || n > need*3 {
					t.Errorf("granted %d for need %d want %d", n, need, need*3)
				}
				granted.Add(n)
			}
		}()
	}
	wg.Wait()
	o, err := stores[0].Org(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g := granted.Load(); g > quota || o.ReservedBytes != g {
		t.Fatalf("granted %d, org holds %d reserved, quota %d", g, o.ReservedBytes, quota)
	}
	if quota-granted.Load() >= 13+29 || refused.Load() != workers {
		t.Fatalf("granted %d of %d with %d of %d workers refused: the quota was not used up", granted.Load(), quota, refused.Load(), workers)
	}
	var sum int64
	rs, err := stores[0].Reservations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		sum += r.Bytes
	}
	if sum != granted.Load() {
		t.Fatalf("reservations hold %d bytes, granted %d", sum, granted.Load())
	}
}

// Nodes that start together on an empty database migrate it once.
func TestConcurrentOpen(t *testing.T) {
	url := testenv.Postgres(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), url)
			if err == nil {
				err = s.Ping(context.Background())
				s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenFailsFast(t *testing.T) {
	ctx := context.Background()
	url := testenv.Postgres(t)
	missing := url[:strings.LastIndex(url, "/")] + "/no_such_db?sslmode=disable"
	if _, err := postgres.Open(ctx, missing); err == nil || !strings.Contains(err.Error(), "no_such_db") {
		t.Errorf("Open of a missing database: %v", err)
	}
	for _, bad := range []string{"sqlite:///x.db", "postgres://u:secretpw@127.0.0.1:1/db?sslmode=nonsense"} {
		_, err := postgres.Open(ctx, bad)
		if err == nil {
			t.Errorf("Open(%q) accepted", bad)
		} else if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("Open's error shows the password: %v", err)
		}
	}
	start := time.Now()
	_, err := postgres.Open(ctx, "postgres://postgres:secretpw@127.0.0.1:1/db?sslmode=disable")
	if err == nil || strings.Contains(err.Error(), "secretpw") || !strings.Contains(err.Error(), "cannot connect") {
		t.Errorf("Open of a closed port: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("Open of a closed port took %v", d)
	}
}

// Uploads that reserve and release side by side: the org's reserved bytes
// never exceed the quota at any moment, every refusal names numbers that
// really do not fit, and when all is released nothing stays reserved.
func TestReserveAndRelease(t *testing.T) {
	const quota, workers, rounds = 5_000, 32, 8
	url := testenv.Postgres(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	org := &silo.Org{ID: silo.NewID("org_"), Name: "churn", QuotaBytes: quota, CreatedAt: time.Now()}
	if err := a.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	sampled := make(chan int)
	go func() {
		n := 0
		defer func() { sampled <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			o, err := a.Org(ctx, org.ID)
			if err != nil {
				t.Error(err)
				return
			}
			if o.UsedBytes+o.ReservedBytes > quota {
				t.Errorf("org holds %d reserved bytes against a quota of %d", o.ReservedBytes, quota)
			}
			n++
		}
	}()
	var refusals atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*postgres.Store{a, b}[w%2]
			for round := 0; round < rounds; round++ {
				r := &silo.Reservation{ID: silo.NewID("res_"), OrgID: org.ID, Node: "n", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
				if err := s.OpenReservation(ctx, r); err != nil {
					t.Error(err)
					return
				}
				for step := 0; step < 5; step++ {
					need := int64(50 + (w*7+round*13+step)%150)
					_, err := s.Reserve(ctx, r.ID, need, need)
					var qe *silo.QuotaError
					if errors.As(err, &qe) {
						refusals.Add(1)
						if qe.UsedBytes+qe.ReservedBytes+need <= quota {
							t.Errorf("refused %d bytes with numbers that fit: %+v", need, qe)
						}
						break
					} else if err != nil {
						t.Error(err)
						return
					}
				}
				if _, err := s.DropReservation(ctx, r.ID, time.Time{}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	n := <-sampled
	o, err := a.Org(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	if o.ReservedBytes != 0 {
		t.Fatalf("%d bytes stay reserved after every reservation was released", o.ReservedBytes)
	}
	if refusals.Load() == 0 {
		t.Fatalf("no reservation was refused: the test did not press on the quota")
	}
	t.Logf("%d refusals, %d samples of the counters", refusals.Load(), n)
}

func TestSharedClock(t *testing.T) {
	storetest.TestSharedClock(t, func(t *testing.T) silo.Store {
		return open(t, testenv.Postgres(t))
	})
}

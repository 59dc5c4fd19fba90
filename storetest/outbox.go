package storetest

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
)

// testOutboxSuite is the outbox's part of TestStore (silo.OutboxStore): events
// written with the change and never without it, fan-out to the endpoints
// that exist, claims with leases that several claimers share without
// overlap, the order of one dataset's events, retries, and usage
// thresholds once per crossing.
func testOutboxSuite() []struct {
	name string
	fn   func(*testing.T, silo.Store)
} {
	return []struct {
		name string
		fn   func(*testing.T, silo.Store)
	}{
		{"OutboxWithTheChange", testOutboxWithChange},
		{"OutboxClaims", testOutboxClaims},
		{"OutboxClaimsConcurrent", testOutboxClaimsConcurrent},
		{"OutboxOrder", testOutboxOrder},
		{"OutboxDeletes", testOutboxDeletes},
		{"OutboxThresholds", testOutboxThresholds},
		{"OutboxProjects", testOutboxProjects},
		{"OutboxPrune", testOutboxPrune},
	}
}

func newWebhook(t *testing.T, s silo.Store, orgID string, events ...silo.EventType) *silo.Webhook {
	t.Helper()
	w := &silo.Webhook{ID: silo.NewID("wh_"), OrgID: orgID, AllOrgs: orgID == "", URL: "https://example.com/hook", Events: events,
		Description: "test", Secret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	must(t, s.CreateWebhook(ctx(t), w))
	return w
}

// claimAll claims every due delivery (fresh store: all are the test's),
// marking each delivered unless keep; it returns them in claim order.
func claimAll(t *testing.T, s silo.Store, keep bool) []*silo.ClaimedDelivery {
	t.Helper()
	var out []*silo.ClaimedDelivery
	for {
		now := time.Now()
		cs, err := s.ClaimDeliveries(ctx(t), "n1", now, now.Add(time.Minute), 100, nil)
		must(t, err)
		if len(cs) == 0 {
			return out
		}
		out = append(out, cs...)
		if keep {
			return out
		}
		for _, c := range cs {
			must(t, finishDelivery(t, s, c, silo.Outcome{Status: silo.DeliveryDelivered, StatusCode: 204, At: now}))
		}
	}
}

// byWebhook lists "type reason" of each claimed delivery per endpoint.
func byWebhook(cs []*silo.ClaimedDelivery) map[string][]string {
	m := map[string][]string{}
	for _, c := range cs {
		s := string(c.Event.Type)
		if c.Event.Data.Reason != "" {
			s += " " + c.Event.Data.Reason
		}
		if th := c.Event.Data.Threshold; th != nil {
			s += fmt.Sprintf(" %d", th.ThresholdPercent)
		}
		m[c.WebhookID] = append(m[c.WebhookID], s)
	}
	return m
}

func testOutboxWithChange(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1_000_000)
	other := newOrg(t, s, 1_000_000)
	before := createDataset(t, s, o.ID, "before-aaaaaa", 10, t0)
	all := newWebhook(t, s, o.ID)
	onlyDeleted := newWebhook(t, s, "", silo.EventDatasetDeleted)
	otherOrg := newWebhook(t, s, other.ID)
	ops := newWebhook(t, s, "")
	d := createDataset(t, s, o.ID, "after-aaaaaa", 20, t0)

	// A create that fails (its id is taken) writes nothing.
	r := openRes(t, s, o.ID, "n1", t0.Add(time.Hour))
	dup := *d
	dup.Parts = nil
	wantCode(t, s.CreateDataset(ctx(t), &dup, r.ID), silo.ECONFLICT)

	cs := claimAll(t, s, false)
	got := byWebhook(cs)
	if len(got[all.ID]) != 1 || len(got[ops.ID]) != 1 || len(got[onlyDeleted.ID]) != 0 || len(got[otherOrg.ID]) != 0 {
		t.Fatalf("deliveries per endpoint = %v; want one dataset.created for the org's and the operator's endpoint", got)
	}
	for _, c := range cs {
		e := c.Event
		if e.Type != silo.EventDatasetCreated || e.Subject != d.ID || e.DatasetID != d.ID || e.OrgID != o.ID || e.ID == "" {
			t.Fatalf("event = %+v", e)
		}
		if e.Data.Dataset == nil || e.Data.Dataset.ID != d.ID || e.Data.Dataset.SizeBytes != 20 || e.Data.Dataset.Status != silo.StatusQueued {
			t.Fatalf("event data = %+v", e.Data.Dataset)
		}
		if c.Webhook.Secret == "" || c.Webhook.URL == "" || c.Attempts != 1 {
			t.Fatalf("claimed delivery = %+v, webhook %+v", c.Delivery, c.Webhook)
		}
	}
	if cs[0].Event.ID != cs[1].Event.ID {
		t.Fatalf("one event, two ids: %s %s", cs[0].Event.ID, cs[1].Event.ID)
	}
	_ = before
	ds, err := s.Deliveries(ctx(t), all.ID, 10)
	must(t, err)
	if len(ds) != 1 || ds[0].Status != silo.DeliveryDelivered || ds[0].LastStatusCode != 204 || ds[0].DeliveredAt == nil || ds[0].NextAttemptAt != nil {
		t.Fatalf("Deliveries = %+v", ds)
	}
	ws, err := s.Webhooks(ctx(t), o.ID, false)
	must(t, err)
	if len(ws) != 1 || ws[0].ID != all.ID || ws[0].Secret != "" {
		t.Fatalf("Webhooks(org) = %+v", ws)
	}
	ws, err = s.Webhooks(ctx(t), "", true)
	must(t, err)
	if len(ws) != 4 {
		t.Fatalf("Webhooks(all) = %d, want 4", len(ws))
	}
	w, err := s.Webhook(ctx(t), ops.ID)
	must(t, err)
	if !w.AllOrgs || w.Secret != ops.Secret || len(w.Events) != 0 {
		t.Fatalf("Webhook = %+v", w)
	}
	must(t, s.DeleteWebhook(ctx(t), ops.ID))
	wantCode(t, s.DeleteWebhook(ctx(t), ops.ID), silo.ENOTFOUND)
	_, err = s.Webhook(ctx(t), ops.ID)
	wantCode(t, err, silo.ENOTFOUND)
	createDataset(t, s, o.ID, "later-aaaaaa", 1, t0)
	if got := byWebhook(claimAll(t, s, false)); len(got[ops.ID]) != 0 || len(got[all.ID]) != 1 {
		t.Fatalf("after deleting an endpoint: %v", got)
	}
	if p, err := s.OutboxCheck(ctx(t)); err != nil || len(p) != 0 {
		t.Fatalf("OutboxCheck = %v, %v", p, err)
	}
}

func testOutboxClaims(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1_000_000)
	w1 := newWebhook(t, s, o.ID)
	w2 := newWebhook(t, s, o.ID)
	createDataset(t, s, o.ID, "c-aaaaaa", 1, t0)
	now := time.Now()
	// An endpoint in skip is not claimed.
	cs, err := s.ClaimDeliveries(ctx(t), "n1", now, now.Add(time.Minute), 10, []string{w2.ID})
	must(t, err)
	if len(cs) != 1 || cs[0].WebhookID != w1.ID {
		t.Fatalf("claim skipping w2 = %d deliveries", len(cs))
	}
	c1 := cs[0]
	// Leased: nobody else gets it.
	cs, err = s.ClaimDeliveries(ctx(t), "n2", now, now.Add(time.Minute), 10, nil)
	must(t, err)
	if len(cs) != 1 || cs[0].WebhookID != w2.ID {
		t.Fatalf("second claim = %d deliveries", len(cs))
	}
	c2 := cs[0]
	// A retry later: not due before then.
	must(t, finishDelivery(t, s, c1, silo.Outcome{Status: silo.DeliveryPending, StatusCode: 500, Error: "HTTP 500", At: now, Next: now.Add(time.Hour)}))
	wantCode(t, finishDelivery(t, s, c1, silo.Outcome{Status: silo.DeliveryDelivered, At: now}), silo.ENOTFOUND) // that attempt is over
	ds, err := s.Deliveries(ctx(t), w1.ID, 10)
	must(t, err)
	if len(ds) != 1 || ds[0].Status != silo.DeliveryPending || ds[0].Attempts != 1 || ds[0].LastStatusCode != 500 ||
		ds[0].LastError != "HTTP 500" || ds[0].NextAttemptAt == nil || ds[0].NextAttemptAt.Before(now.Add(50*time.Minute)) {
		t.Fatalf("after a failed attempt: %+v", ds[0])
	}
	if at, err := s.OldestPendingDelivery(ctx(t)); err != nil || at.IsZero() {
		t.Fatalf("OldestPendingDelivery = %v, %v", at, err)
	}
	cs, err = s.ClaimDeliveries(ctx(t), "n1", now, now.Add(time.Minute), 10, nil)
	must(t, err)
	if len(cs) != 0 {
		t.Fatalf("claimed %d deliveries before their next attempt", len(cs))
	}
	// A lease that runs out makes the delivery claimable again, as a new
	// attempt; the old attempt can no longer record an outcome.
	must(t, finishDelivery(t, s, c2, silo.Outcome{Status: silo.DeliveryPending, Error: "refused", At: now, Next: now}))
	now = time.Now()
	cs, err = s.ClaimDeliveries(ctx(t), "n1", now, now.Add(50*time.Millisecond), 10, nil)
	must(t, err)
	if len(cs) != 1 || cs[0].Attempts != 2 {
		t.Fatalf("claim after a retry = %+v", cs)
	}
	stale := cs[0]
	var again []*silo.ClaimedDelivery
	waitFor(t, func() bool {
		now := time.Now()
		again, err = s.ClaimDeliveries(ctx(t), "n2", now, now.Add(time.Minute), 10, nil)
		must(t, err)
		return len(again) == 1
	})
	if again[0].Attempts != 3 || again[0].Owner != "n2" {
		t.Fatalf("claim after the lease ran out = %+v", again[0].Delivery)
	}
	// Outcomes recorded together: each only if still its attempt's.
	n, err := s.FinishDeliveries(ctx(t), []silo.Finished{
		{Delivery: stale, Outcome: silo.Outcome{Status: silo.DeliveryDelivered, At: now}},
		{Delivery: again[0], Outcome: silo.Outcome{Status: silo.DeliveryFailed, Error: "gave up", At: now}},
	})
	if err != nil || n != 1 {
		t.Fatalf("FinishDeliveries of a stale and a current attempt = %d, %v; want 1", n, err)
	}
	if ds, err := s.Deliveries(ctx(t), w2.ID, 10); err != nil || len(ds) != 1 || ds[0].Status != silo.DeliveryFailed || ds[0].LastError != "gave up" {
		t.Fatalf("after the batch: %+v, %v", ds, err)
	}
	if at, err := s.OldestPendingDelivery(ctx(t)); err != nil || at.IsZero() {
		t.Fatalf("OldestPendingDelivery with w1's pending = %v, %v", at, err)
	}
	// A restart of the sole user releases the dead's leases at once.
	must(t, s.DeleteWebhook(ctx(t), w1.ID))
	if at, err := s.OldestPendingDelivery(ctx(t)); err != nil || !at.IsZero() {
		t.Fatalf("OldestPendingDelivery with none pending = %v, %v", at, err)
	}
	createDataset(t, s, o.ID, "d-aaaaaa", 1, t0)
	now = time.Now()
	cs, err = s.ClaimDeliveries(ctx(t), "dead", now, now.Add(time.Hour), 10, nil)
	must(t, err)
	if len(cs) != 1 {
		t.Fatalf("claim = %d", len(cs))
	}
	must(t, s.ReleaseDeliveries(ctx(t), "n1"))
	if cs := claimAll(t, s, true); len(cs) != 1 {
		t.Fatalf("after ReleaseDeliveries: %d claimable, want 1", len(cs))
	}
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testOutboxClaimsConcurrent(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1_000_000)
	for i := 0; i < 4; i++ {
		newWebhook(t, s, o.ID)
	}
	const datasets = 15
	for i := 0; i < datasets; i++ {
		createDataset(t, s, o.ID, silo.NewDatasetID("cc"), 1, t0)
	}
	var mu sync.Mutex
	seen := map[int64]int{}
	var wg sync.WaitGroup
	for n := 0; n < 4; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("n%d", n)
			for idle := 0; idle < 3; {
				now := time.Now()
				cs, err := s.ClaimDeliveries(ctx(t), owner, now, now.Add(time.Minute), 3, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if len(cs) == 0 {
					idle++
					continue
				}
				for _, c := range cs {
					mu.Lock()
					seen[c.ID]++
					mu.Unlock()
					if err := finishDelivery(t, s, c, silo.Outcome{Status: silo.DeliveryDelivered, At: now}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != 4*datasets {
		t.Fatalf("claimed %d distinct deliveries, want %d", len(seen), 4*datasets)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("delivery %d claimed %d times", id, n)
		}
	}
}

func testOutboxOrder(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1_000_000)
	w := newWebhook(t, s, o.ID)
	d := createDataset(t, s, o.ID, "o-aaaaaa", 5, t0)
	d2 := createDataset(t, s, o.ID, "p-aaaaaa", 5, t0)
	job, err := s.ClaimJob(ctx(t), "n1", t0, t0.Add(time.Minute))
	must(t, err)
	fin := *d
	if job.DatasetID == d2.ID {
		fin = *d2
	}
	fin.Status, fin.UpdatedAt = silo.StatusValidated, t0.Add(time.Second)
	must(t, s.FinishJob(ctx(t), job, &fin))
	// Three events: created, created, validated of fin. The validated one
	// waits for its dataset's created.
	cs := claimAll(t, s, true)
	if len(cs) != 2 || cs[0].Event.Type != silo.EventDatasetCreated || cs[1].Event.Type != silo.EventDatasetCreated {
		t.Fatalf("first claim = %v, want the two creates only", byWebhook(cs))
	}
	var first *silo.ClaimedDelivery
	for _, c := range cs {
		if c.Event.DatasetID == fin.ID {
			first = c
		} else {
			must(t, finishDelivery(t, s, c, silo.Outcome{Status: silo.DeliveryDelivered, At: time.Now()}))
		}
	}
	// A retry of the created keeps the validated back.
	now := time.Now()
	must(t, finishDelivery(t, s, first, silo.Outcome{Status: silo.DeliveryPending, Error: "x", At: now, Next: now}))
	cs = claimAll(t, s, true)
	if len(cs) != 1 || cs[0].Event.Type != silo.EventDatasetCreated || cs[0].Event.DatasetID != fin.ID {
		t.Fatalf("claim while created is pending = %v", byWebhook(cs))
	}
	must(t, finishDelivery(t, s, cs[0], silo.Outcome{Status: silo.DeliveryDelivered, At: time.Now()}))
	cs = claimAll(t, s, false)
	if len(cs) != 1 || cs[0].Event.Type != silo.EventDatasetValidated || cs[0].WebhookID != w.ID {
		t.Fatalf("after created was delivered = %v", byWebhook(cs))
	}
	if got := cs[0].Event.Data.Dataset; got.Status != silo.StatusValidated || !cs[0].Event.Time.Equal(fin.UpdatedAt) {
		t.Fatalf("validated event's dataset = %+v at %v", got, cs[0].Event.Time)
	}
	if cs[0].Event.Seq <= first.Event.Seq {
		t.Fatalf("validated seq %d <= created seq %d", cs[0].Event.Seq, first.Event.Seq)
	}
	// A failed validation is dataset.failed.
	job, err = s.ClaimJob(ctx(t), "n1", t0, t0.Add(time.Minute))
	must(t, err)
	other, err := s.Dataset(ctx(t), o.ID, job.DatasetID)
	must(t, err)
	other.Status, other.Report.Error = silo.StatusFailed, "bad rows"
	must(t, s.FinishJob(ctx(t), job, other))
	cs = claimAll(t, s, false)
	if len(cs) != 1 || cs[0].Event.Type != silo.EventDatasetFailed || cs[0].Event.Data.Dataset.Report.Error != "bad rows" {
		t.Fatalf("failed validation = %v", byWebhook(cs))
	}
}

func testOutboxDeletes(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1_000_000)
	doomed := newOrg(t, s, 1_000_000)
	orgHook := newWebhook(t, s, o.ID, silo.EventDatasetDeleted)
	doomedHook := newWebhook(t, s, doomed.ID)
	ops := newWebhook(t, s, "", silo.EventDatasetDeleted)
	a := createDataset(t, s, o.ID, "a-aaaaaa", 1, t0)
	b := createDataset(t, s, o.ID, "b-aaaaaa", 1, t0)
	createDataset(t, s, doomed.ID, "c-aaaaaa", 1, t0)
	createDataset(t, s, doomed.ID, "d-aaaaaa", 1, t0)
	claimAll(t, s, false)
	_, err := s.DeleteDataset(ctx(t), o.ID, a.ID)
	must(t, err)
	_, err = s.ExpireDataset(ctx(t), o.ID, b.ID)
	must(t, err)
	_, err = s.ExpireDataset(ctx(t), o.ID, b.ID)
	wantCode(t, err, silo.ENOTFOUND)
	createDataset(t, s, doomed.ID, "e-aaaaaa", 1, t0) // pending for doomedHook when the org goes
	_, err = s.DeleteOrg(ctx(t), doomed.ID, true, t0)
	must(t, err)
	got := byWebhook(claimAll(t, s, false))
	sort.Strings(got[ops.ID])
	want := []string{"dataset.deleted deleted", "dataset.deleted expired", "dataset.deleted org_deleted", "dataset.deleted org_deleted", "dataset.deleted org_deleted"}
	if fmt.Sprint(got[ops.ID]) != fmt.Sprint(want) {
		t.Fatalf("operator's deliveries = %v, want %v", got[ops.ID], want)
	}
	if fmt.Sprint(got[orgHook.ID]) != fmt.Sprint(want[:2]) {
		t.Fatalf("org's deliveries = %v", got[orgHook.ID])
	}
	if len(got[doomedHook.ID]) != 0 {
		t.Fatalf("the deleted org's endpoint got %v", got[doomedHook.ID])
	}
	if _, err := s.Webhook(ctx(t), doomedHook.ID); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("the deleted org's endpoint: %v", err)
	}
}

func testOutboxThresholds(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1000)
	w := newWebhook(t, s, o.ID, silo.EventUsageThreshold)
	step := func(name string, fn func(), want ...string) {
		t.Helper()
		fn()
		got := byWebhook(claimAll(t, s, false))[w.ID]
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: events %v, want %v", name, got, want)
		}
	}
	var big *silo.Dataset
	step("to 50%", func() { big = createDataset(t, s, o.ID, "big-aaaaaa", 500, t0) })
	step("to 85%", func() { createDataset(t, s, o.ID, "b-aaaaaa", 350, t0) }, "usage.threshold 80")
	step("to 90%", func() { createDataset(t, s, o.ID, "c-aaaaaa", 50, t0) })
	step("back to 40%", func() { _, err := s.DeleteDataset(ctx(t), o.ID, big.ID); must(t, err) })
	step("to 96%", func() { createDataset(t, s, o.ID, "d-aaaaaa", 560, t0) }, "usage.threshold 95")
	step("to 100%", func() { createDataset(t, s, o.ID, "e-aaaaaa", 40, t0) }, "usage.threshold 100")
	cs := claimAll(t, s, true)
	if len(cs) != 0 {
		t.Fatalf("left over: %v", byWebhook(cs))
	}
	ds, err := s.Deliveries(ctx(t), w.ID, 10)
	must(t, err)
	if len(ds) != 3 || ds[0].Type != silo.EventUsageThreshold {
		t.Fatalf("Deliveries = %+v", ds)
	}
}

// testOutboxProjects: a project's usage crosses its own thresholds (the
// event names the project), and a project's purge tells of each dataset.
func testOutboxProjects(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 10_000)
	p := newProject(t, s, o.ID, quota(100))
	free := newProject(t, s, o.ID, nil)
	w := newWebhook(t, s, o.ID, silo.EventUsageThreshold, silo.EventDatasetDeleted)
	createIn(t, s, o.ID, free.ID, "f-aaaaaa", 500, t0) // no quota of its own: no thresholds
	createIn(t, s, o.ID, p.ID, "p-aaaaaa", 85, t0)
	cs := claimAll(t, s, false)
	if len(cs) != 1 || cs[0].Event.Data.Threshold == nil || cs[0].Event.Data.Threshold.ProjectID == nil ||
		*cs[0].Event.Data.Threshold.ProjectID != p.ID || cs[0].Event.Data.Threshold.ThresholdPercent != 80 ||
		cs[0].Event.Data.Threshold.LimitBytes != 100 {
		t.Fatalf("after 85%% of the project's quota: %v", byWebhook(cs))
	}
	_, err := s.DeleteProject(ctx(t), p.ID, true, t0)
	must(t, err)
	if got := byWebhook(claimAll(t, s, false))[w.ID]; fmt.Sprint(got) != "[dataset.deleted project_deleted]" {
		t.Fatalf("after the project's purge: %v", got)
	}
}

// finishDelivery records one attempt's outcome: ENOTFOUND if the delivery
// is no longer that attempt's.
func finishDelivery(t *testing.T, s silo.Store, c *silo.ClaimedDelivery, o silo.Outcome) error {
	n, err := s.FinishDeliveries(ctx(t), []silo.Finished{{Delivery: c, Outcome: o}})
	if err == nil && n == 0 {
		err = silo.Errorf(silo.ENOTFOUND, "delivery %d is no longer this attempt's", c.ID)
	}
	return err
}

// Finished deliveries older than the retention go, with the events and
// deleted endpoints nothing refers to any more; pending ones, and their
// events, stay.
func testOutboxPrune(t *testing.T, s silo.Store) {
	o := newOrg(t, s, 1_000_000)
	w1 := newWebhook(t, s, o.ID)
	w2 := newWebhook(t, s, o.ID)
	createDataset(t, s, o.ID, "p-aaaaaa", 1, t0)
	if cs := claimAll(t, s, false); len(cs) != 2 {
		t.Fatalf("delivered %d, want 2", len(cs))
	}
	must(t, s.DeleteWebhook(ctx(t), w2.ID))
	pending := createDataset(t, s, o.ID, "p-bbbbbb", 1, t0.Add(time.Second))
	quiet := newOrg(t, s, 1_000_000) // no endpoints: its events have no deliveries
	createDataset(t, s, quiet.ID, "p-cccccc", 1, t0.Add(2*time.Second))

	if n, err := s.PruneOutbox(ctx(t), t0, 100); err != nil || n != 0 {
		t.Fatalf("PruneOutbox before anything ended = %d, %v; want 0", n, err)
	}
	// One at a time: a delivered delivery, and the quiet org's event
	// (the other still has a delivery, and so has the deleted endpoint).
	if n, err := s.PruneOutbox(ctx(t), t0.Add(time.Hour), 1); err != nil || n != 2 {
		t.Fatalf("PruneOutbox limit 1 = %d, %v; want 2", n, err)
	}
	// Then the other delivered one, its event, the deleted endpoint.
	if n, err := s.PruneOutbox(ctx(t), t0.Add(time.Hour), 100); err != nil || n != 3 {
		t.Fatalf("PruneOutbox = %d, %v; want 3 more", n, err)
	}
	if n, err := s.PruneOutbox(ctx(t), t0.Add(time.Hour), 100); err != nil || n != 0 {
		t.Fatalf("PruneOutbox again = %d, %v; want 0", n, err)
	}
	ds, err := s.Deliveries(ctx(t), w1.ID, 10)
	must(t, err)
	if len(ds) != 1 || ds[0].Status != silo.DeliveryPending {
		t.Fatalf("w1's deliveries after the prune: %+v", ds)
	}
	if problems, err := s.OutboxCheck(ctx(t)); err != nil || len(problems) != 0 {
		t.Fatalf("OutboxCheck after the prune = %v, %v", problems, err)
	}
	cs := claimAll(t, s, false)
	if len(cs) != 1 || cs[0].Event.DatasetID != pending.ID {
		t.Fatalf("claimable after the prune: %d", len(cs))
	}
}

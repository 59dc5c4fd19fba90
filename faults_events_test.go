package silo_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-datasets/silo"
	fs "github.com/silo-datasets/silo/internal/faultstore"
	"github.com/silo-datasets/silo/webhook"
)

// TestFaultsCreateEvents: a create refused during a store fault (503)
// produces no event; a create whose commit landed but whose answer was lost
// (504, or 200 once the service found it stored) produces exactly one
// dataset.created, then its dataset.validated. The events go through the
// real outbox and a real dispatcher to a receiver on loopback.
func TestFaultsCreateEvents(t *testing.T) {
	cases := []struct {
		name   string
		faults []fault
		code   string // the create's answer
		stored bool
	}{
		{"refused-503-reservation", []fault{{"OpenReservation", fs.Fail, 1, 0}}, silo.EUNAVAILABLE, false},
		{"refused-503-commit", []fault{{"CreateDataset", fs.Fail, 1, 0}}, silo.EUNAVAILABLE, false},
		{"refused-503-commit-hung", []fault{{"CreateDataset", fs.Hang, 1, 0}}, "", false},
		{"lost-answer-settled-200", []fault{{"CreateDataset", fs.Lose, 1, 0}}, "", true},
		{"lost-answer-504", []fault{{"CreateDataset", fs.Lose, 1, 0}, {"DropReservation", fs.Lose, -1, 0}, {"Dataset", fs.Fail, -1, 0}}, silo.ETIMEOUT, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startFaulty(t)
			recv := startEventSink(t)
			if _, err := e.svc.CreateWebhook(t.Context(), e.c, silo.WebhookRequest{URL: recv.srv.URL + "/hook"}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			d := &webhook.Dispatcher{Store: e.st, Guard: &webhook.Guard{AllowPrivate: true}, Node: "events-test", Poll: 20 * time.Millisecond}
			done := make(chan struct{})
			go func() { d.Run(ctx); close(done) }()
			t.Cleanup(func() { cancel(); <-done })

			for _, f := range tc.faults {
				e.F.Set(f.method, f.mode, f.times)
			}
			_, err := e.create(t.Context(), false)
			// A hung commit ends at the deadline: 504 if the service could
			// not learn the outcome, 503 if it learnt nothing was stored.
			if tc.code == "" && !tc.stored {
				checkAnswer(t, "create", err, want(silo.EUNAVAILABLE, silo.ETIMEOUT))
			} else if silo.ErrorCode(err) != tc.code {
				t.Fatalf("create answered %v (code %q), want code %q", err, silo.ErrorCode(err), tc.code)
			}
			e.settled(t)

			var stored []string
			err = e.st.Datasets(t.Context(), silo.DatasetFilter{OrgID: e.orgID}, func(ds *silo.Dataset) error {
				stored = append(stored, ds.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.stored != (len(stored) == 1) || len(stored) > 1 {
				t.Fatalf("stored %v after the fault, want stored=%v", stored, tc.stored)
			}
			var wantEvents []string
			for _, id := range stored {
				wantEvents = append(wantEvents, "dataset.created "+id, "dataset.validated "+id)
			}
			e.delivered(t, recv, wantEvents)
			// And the outbox still works: a create after the fault is
			// announced (so that "no event" above is not a dead relay).
			id := e.mustCreate(t, false)
			e.settled(t)
			e.delivered(t, recv, append(wantEvents, "dataset.created "+id, "dataset.validated "+id))
		})
	}
}

// delivered waits until no delivery is pending, then checks that the
// receiver got exactly want (as eventSink.events sorts them).
func (e *faultEnv) delivered(t *testing.T, recv *eventSink, want []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		at, err := e.st.OldestPendingDelivery(t.Context())
		if err == nil && at.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries still pending 30 s after settling (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sorted := append([]string(nil), want...)
	sortEvents(sorted)
	if got := recv.events(); strings.Join(got, ",") != strings.Join(sorted, ",") {
		t.Fatalf("events received %v, want %v", got, sorted)
	}
}

// eventSink receives deliveries and keeps each event once (by webhook-id),
// in arrival order.
type eventSink struct {
	srv  *httptest.Server
	mu   sync.Mutex
	seen map[string]bool
	got  []string // "type subject"
}

func startEventSink(t *testing.T) *eventSink {
	s := &eventSink{seen: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ ID, Type, Subject string }
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil || ev.ID != r.Header.Get("webhook-id") {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		if !s.seen[ev.ID] {
			s.seen[ev.ID] = true
			s.got = append(s.got, ev.Type+" "+ev.Subject)
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// events lists what arrived, sorted by subject and then type (created
// sorts before validated), which the dispatcher's per-dataset order also
// guarantees in arrival order.
func (s *eventSink) events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := append([]string(nil), s.got...)
	sortEvents(out)
	return out
}

func sortEvents(evs []string) {
	sort.SliceStable(evs, func(i, j int) bool { return strings.Fields(evs[i])[1] < strings.Fields(evs[j])[1] })
}

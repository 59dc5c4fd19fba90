package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/silo-datasets/silo"
)

// Store is what the dispatcher needs of the metadata store.
type Store interface {
	ClaimDeliveries(ctx context.Context, owner string, now, leaseUntil time.Time, limit int, skip []string) ([]*silo.ClaimedDelivery, error)
	FinishDeliveries(ctx context.Context, fs []silo.Finished) (int, error)
}

// Defaults for zero Dispatcher fields.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultRetryFor    = 24 * time.Hour
	DefaultWorkers     = 32
	DefaultPerEndpoint = 4
	DefaultPoll        = 250 * time.Millisecond
	FirstRetry         = 5 * time.Second
	MaxRetryGap        = time.Hour
)

// Results of an attempt, as metrics count them.
const (
	ResultDelivered = "delivered"
	ResultRetry     = "retry"
	ResultFailed    = "failed"
)

// Dispatcher delivers the outbox from one node. Every node runs one; the
// store's claims keep them from sending one delivery twice at once, and
// leases hand a dead node's deliveries to the others.
type Dispatcher struct {
	Store  Store
	Guard  *Guard
	Source string // the CloudEvents source: the service's --public-url
	// Data renders an event's data as the API shows it (the Dataset object
	// plus org_id); nil sends the stored snapshot as it is.
	Data     func(*silo.Event) any
	Node     string        // lease owner
	RetryFor time.Duration // how long a delivery is retried before it is failed
	// Workers bounds deliveries in flight on this node; PerEndpoint those
	// of one endpoint, so that a slow or dead endpoint holds at most that
	// many workers while the others' deliveries go on.
	Workers     int
	PerEndpoint int
	Timeout     time.Duration // of one POST
	Poll        time.Duration // how often to look for due deliveries without a Kick
	Logger      *slog.Logger
	Now         func() time.Time
	// Observe, if set, learns each attempt's result and, for a delivered
	// one, how long after its event it arrived.
	Observe func(result string, latency time.Duration)

	once   sync.Once
	wake   chan struct{}
	client *http.Client
	mu     sync.Mutex
	busy   map[string]int // endpoint id: deliveries in flight
	n      int            // deliveries in flight
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		d.wake = make(chan struct{}, 1)
		d.busy = map[string]int{}
		if d.Guard == nil {
			d.Guard = &Guard{}
		}
		d.client = d.Guard.Client(d.timeout())
	})
}

func orDefault[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (d *Dispatcher) timeout() time.Duration { return orDefault(d.Timeout, DefaultTimeout) }

func (d *Dispatcher) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// Kick asks for a look at the outbox now: this node committed an event.
func (d *Dispatcher) Kick() {
	d.init()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends. Attempts in flight then are abandoned
// without an outcome: their leases run out and they are sent again (at
// least once; receivers deduplicate by webhook-id).
//
// Each attempt runs on a goroutine of its own, so that a slow endpoint
// holds only its own workers; its outcome goes to one recorder, which
// writes whatever outcomes are waiting in one store transaction (a group
// commit: one write for a claim batch's outcomes, not one per delivery).
// An attempt holds its worker (and its place in the per-endpoint cap)
// until its outcome is queued for the recorder; a dataset's next event
// waits in the store until the outcome is written.
func (d *Dispatcher) Run(ctx context.Context) {
	d.init()
	workers, per := orDefault(d.Workers, DefaultWorkers), orDefault(d.PerEndpoint, DefaultPerEndpoint)
	lease := 3 * d.timeout()
	t := time.NewTicker(orDefault(d.Poll, DefaultPoll))
	defer t.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan finished, workers)
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.record(ctx, done, workers)
	}()
	failing := 0
	for {
		d.mu.Lock()
		free := workers - d.n
		var skip []string
		for id, n := range d.busy {
			if n >= per {
				skip = append(skip, id)
			}
		}
		d.mu.Unlock()
		more := false
		if free > 0 {
			now := d.now()
			cs, err := d.Store.ClaimDeliveries(ctx, d.Node, now, now.Add(lease), free, skip)
			switch {
			case err != nil && ctx.Err() == nil:
				// The store is down: the outbox waits in it. Say so
				// once, not at every poll.
				if failing++; failing == 1 {
					d.log().Warn("webhooks: cannot claim deliveries; retrying", "err", err)
				}
			case err == nil:
				if failing > 0 {
					d.log().Info("webhooks: claiming deliveries again")
				}
				failing = 0
			}
			d.mu.Lock()
			for _, c := range cs {
				d.n++
				d.busy[c.WebhookID]++
			}
			d.mu.Unlock()
			for _, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					o, ok := d.attempt(ctx, c)
					if !ok {
						return // stopping: the lease hands it on
					}
					select {
					case done <- finished{c, o}:
						// Its worker is free once the outcome is queued for
						// the recorder, not once it is written: the lease
						// keeps the delivery from being claimed again
						// meanwhile, and the store keeps a dataset's next
						// event back until this one is written, so only
						// the cap's count would wait on the recorder's
						// commit. (It did: with 4 attempts an endpoint, a
						// recorder slowed by a loaded database capped
						// each endpoint's rate, and on 2 nodes deliveries
						// queued for tens of seconds.) done holds at most
						// workers outcomes, so unwritten ones stay bounded.
						d.release(c)
					case <-ctx.Done():
					}
				}()
			}
			more = len(cs) == free
		}
		if more {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-t.C:
		}
	}
}

// finished is an attempt on its way to the recorder.
type finished struct {
	c *silo.ClaimedDelivery
	o silo.Outcome
}

// record writes the outcomes that arrive on done, all those waiting at
// once, frees their workers and wakes the claim loop.
func (d *Dispatcher) record(ctx context.Context, done <-chan finished, limit int) {
	for {
		var batch []finished
		select {
		case <-ctx.Done():
			return
		case f := <-done:
			batch = append(batch, f)
		}
	drain:
		for len(batch) < limit {
			select {
			case f := <-done:
				batch = append(batch, f)
			default:
				break drain
			}
		}
		fs := make([]silo.Finished, len(batch))
		for i, f := range batch {
			fs[i] = silo.Finished{Delivery: f.c, Outcome: f.o}
		}
		d.finish(ctx, fs)
		d.Kick() // a dataset's next event may be due now
	}
}

// release frees the worker of an attempt whose outcome is queued for the
// recorder, and wakes the claim loop.
func (d *Dispatcher) release(c *silo.ClaimedDelivery) {
	d.mu.Lock()
	d.n--
	if d.busy[c.WebhookID]--; d.busy[c.WebhookID] <= 0 {
		delete(d.busy, c.WebhookID)
	}
	d.mu.Unlock()
	d.Kick()
}

// attempt makes one attempt and returns its outcome; false when ctx ended
// meanwhile.
func (d *Dispatcher) attempt(ctx context.Context, c *silo.ClaimedDelivery) (silo.Outcome, bool) {
	code, err := d.post(ctx, c)
	if ctx.Err() != nil {
		return silo.Outcome{}, false
	}
	now := d.now()
	o := silo.Outcome{Status: silo.DeliveryDelivered, StatusCode: code, At: now}
	result := ResultDelivered
	if err != nil {
		o.Status, o.Error, result = silo.DeliveryPending, err.Error(), ResultRetry
		o.Next = now.Add(Backoff(c.Attempts))
		if o.Next.After(c.CreatedAt.Add(orDefault(d.RetryFor, DefaultRetryFor))) {
			o.Status, result = silo.DeliveryFailed, ResultFailed
		}
	}
	if d.Observe != nil {
		d.Observe(result, now.Sub(c.Event.Time))
	}
	if result == ResultFailed {
		d.log().Warn("webhook delivery failed for good", "webhook", c.WebhookID, "event", c.EventID, "attempts", c.Attempts, "err", o.Error)
	}
	return o, true
}

// finish records outcomes, trying again while their leases last if the
// store does not answer; if it never does, the leases run out and the
// deliveries are sent again. The store writes them without waiting for
// the disk: an outcome lost in a crash only means one more attempt.
func (d *Dispatcher) finish(ctx context.Context, fs []silo.Finished) {
	deadline := time.Now().Add(2 * d.timeout())
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		fctx, cancel := context.WithTimeout(ctx, d.timeout())
		_, err := d.Store.FinishDeliveries(fctx, fs)
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			if err != nil && ctx.Err() == nil {
				d.log().Warn("webhooks: cannot record deliveries' outcomes; they will be sent again", "deliveries", len(fs), "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// Backoff is the wait after the attempt-th failed attempt: 5 s, doubling,
// at most an hour.
func Backoff(attempt int) time.Duration {
	b := FirstRetry
	for i := 1; i < attempt && b < MaxRetryGap; i++ {
		b *= 2
	}
	return min(b, MaxRetryGap)
}

// post sends one attempt; nil error means a 2xx answer.
func (d *Dispatcher) post(ctx context.Context, c *silo.ClaimedDelivery) (int, error) {
	body, err := d.Body(c.Event)
	if err != nil {
		return 0, err
	}
	ts := d.now().Unix()
	sig, err := Sign(c.Webhook.Secret, c.Event.ID, ts, body)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Webhook.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("User-Agent", "silo-webhooks/1")
	req.Header.Set("webhook-id", c.Event.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := d.client.Do(req)
	if err != nil {
		var re *refusedError
		if errors.As(err, &re) {
			return 0, fmt.Errorf("%s (silo calls only public addresses, unless started with --webhook-allow-private)", re.msg)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("no answer within %s", d.timeout())
		}
		return 0, errors.New(stripURL(err))
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return resp.StatusCode, fmt.Errorf("HTTP %d: redirects are not followed", resp.StatusCode)
		}
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// stripURL is an HTTP client error without the URL it repeats.
func stripURL(err error) string {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner.Error()
		}
	}
	return err.Error()
}

// cloudEvent is a CloudEvents 1.0 event in structured JSON mode.
type cloudEvent struct {
	SpecVersion     string `json:"specversion"`
	ID              string `json:"id"`
	Source          string `json:"source"`
	Type            string `json:"type"`
	Subject         string `json:"subject"`
	Time            string `json:"time"`
	DataContentType string `json:"datacontenttype"`
	Data            any    `json:"data"`
}

// Body renders e as the body of its deliveries.
func (d *Dispatcher) Body(e *silo.Event) ([]byte, error) {
	var data any = e.Data
	switch {
	case d.Data != nil:
		data = d.Data(e)
	case e.Data.Threshold != nil:
		data = e.Data.Threshold
	}
	source := d.Source
	if source == "" {
		source = "silo"
	}
	return json.Marshal(cloudEvent{SpecVersion: "1.0", ID: e.ID, Source: source, Type: string(e.Type), Subject: e.Subject,
		Time: e.Time.UTC().Format(time.RFC3339Nano), DataContentType: "application/json", Data: data})
}

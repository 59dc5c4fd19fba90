// Package metrics exposes silo to Prometheus: every request by route and
// status, latencies, bytes in and out, quota refusals, validation queue depth
// and durations, and each organisation's and project's usage against its
// quota. Every metric is prefixed silo_ and lives in the package's own
// registry (never the global one), so that tests and several servers in one
// process do not share counters.
package metrics

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
)

// Metrics holds silo's metrics and the registry they are served from.
type Metrics struct {
	Registry *prometheus.Registry

	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	bytesIn    *prometheus.CounterVec
	bytesOut   *prometheus.CounterVec
	refusals   prometheus.Counter
	validation *prometheus.HistogramVec
	waited     prometheus.Histogram
	tus        *prometheus.CounterVec // resumable uploads' events (tus.go)
	tusBytes   prometheus.Counter
	webhooks   webhookMetrics // webhooks.go

	// series keeps each request series' counters once resolved: finding a
	// child of a vector hashes its label values under a lock, four times a
	// request; this is one map read. Routes are patterns and statuses a
	// small set, so it stays small.
	series sync.Map // seriesKey → *requestSeries
}

type seriesKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	requests          prometheus.Counter
	latency           prometheus.Observer
	bytesIn, bytesOut prometheus.Counter
}

func (m *Metrics) seriesOf(route, method string, status int) *requestSeries {
	k := seriesKey{route, method, status}
	if v, ok := m.series.Load(k); ok {
		return v.(*requestSeries)
	}
	v, _ := m.series.LoadOrStore(k, &requestSeries{
		requests: m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
		latency:  m.latency.WithLabelValues(route, method),
		bytesIn:  m.bytesIn.WithLabelValues(route),
		bytesOut: m.bytesOut.WithLabelValues(route),
	})
	return v.(*requestSeries)
}

// New registers silo's metrics in a new registry; with a store, the
// per-organisation and per-project gauges and the queue depth are read from it at scrape
// time (nil leaves them out).
func New(store silo.Store) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silo_http_requests_total", Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "silo_http_request_duration_seconds", Help: "Time to answer an HTTP request, by route pattern and method.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"route", "method"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silo_http_request_bytes_total", Help: "Request body bytes read, by route pattern.",
		}, []string{"route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silo_http_response_bytes_total", Help: "Response body bytes written, by route pattern.",
		}, []string{"route"}),
		refusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "silo_quota_refusals_total", Help: "Dataset creates refused because they would exceed the organisation's quota.",
		}),
		validation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "silo_validation_duration_seconds", Help: "Time to validate a dataset, by outcome (validated, failed, error).",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}, []string{"outcome"}),
		waited: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "silo_validation_wait_seconds", Help: "Time from a dataset's create to the start of its validation.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		}),
	}
	m.tus = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "silo_tus_events_total",
		Help: "Resumable uploads' events: opened (201 to a creation), resumed (a HEAD answered: a client asking where to go on), dataset (a PATCH or final concatenation that made a dataset).",
	}, []string{"event"})
	m.tusBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "silo_tus_bytes_total", Help: "Bytes received in the bodies of resumable uploads' PATCH and creation-with-upload requests, kept or not.",
	})
	m.Registry.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, m.refusals, m.validation, m.waited, m.tus, m.tusBytes)
	// The runtime's metrics too, under silo_ like everything else (silo_go_*,
	// silo_process_*), so that one prefix selects all of silo.
	prometheus.WrapRegistererWithPrefix("silo_", m.Registry).MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if store != nil {
		m.Registry.MustRegister(&storeCollector{store: store})
	}
	return m
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// createRoute and tusCreateRoute are the routes whose 400 answers may be
// quota refusals.
const (
	createRoute    = "POST /v1/datasets"
	tusCreateRoute = "POST /v1/uploads"
)

// countTus counts the events of resumable uploads, from their answers.
func (m *Metrics) countTus(route string, status int, in int64, h http.Header) {
	switch route {
	case tusCreateRoute, "PATCH /v1/uploads/{id}":
		m.tusBytes.Add(float64(in))
		if route == tusCreateRoute && status == http.StatusCreated {
			m.tus.WithLabelValues("opened").Inc()
		}
		if h.Get("Silo-Dataset-Id") != "" {
			m.tus.WithLabelValues("dataset").Inc()
		}
	case "HEAD /v1/uploads/{id}":
		if status == http.StatusOK {
			m.tus.WithLabelValues("resumed").Inc()
		}
	}
}

// quotaPrefix starts every quota refusal's message (CONTRACT.md fixes it,
// as Cohere's): it tells a refusal from the create's other 400 answers
// without a hook into the service.
var quotaPrefix = []byte(`{"message":"You have exceeded capacity`)

// Wrap is the middleware for api.Server.Wrap. It runs inside the server's
// request logging, so api.InfoOf reports the route, status and bytes
// after the handler ran; metrics name routes by pattern, never by path.
func (m *Metrics) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := api.InfoOf(r).Start // the request log's: one clock read fewer per request
		if start.IsZero() {
			start = time.Now() // not inside api's request logging
		}
		sw := &sniffer{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		info := api.InfoOf(r)
		status := info.Status // as the log line reports it (499: the client went away first)
		if status == 0 {
			status = http.StatusOK // not inside api's request logging
		}
		route := info.Route
		ser := m.seriesOf(route, methodLabel(r.Method), status)
		ser.requests.Inc()
		ser.latency.Observe(time.Since(start).Seconds())
		ser.bytesIn.Add(float64(info.In))
		ser.bytesOut.Add(float64(info.Out))
		if (route == createRoute || route == tusCreateRoute) && status == http.StatusBadRequest && bytes.HasPrefix(sw.head, quotaPrefix) {
			m.refusals.Inc()
		}
		m.countTus(route, status, info.In, w.Header())
	})
}

// methodLabel bounds the method label: net/http accepts any token as a
// method, and a client must not be able to mint series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// sniffer keeps the first bytes of a 400 answer.
type sniffer struct {
	http.ResponseWriter
	status int
	head   []byte
}

func (s *sniffer) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *sniffer) Write(p []byte) (int, error) {
	if s.status == http.StatusBadRequest && len(s.head) < len(quotaPrefix) {
		s.head = append(s.head, p[:min(len(p), len(quotaPrefix)-len(s.head))]...)
	}
	return s.ResponseWriter.Write(p)
}

func (s *sniffer) Unwrap() http.ResponseWriter { return s.ResponseWriter }

package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// webhookMetrics count the webhook dispatcher's attempts (webhook.Dispatcher's
// Observe). The oldest pending delivery's age is read from the store at
// scrape time (collector.go), so that every node reports the same backlog.
type webhookMetrics struct {
	once       sync.Once
	deliveries *prometheus.CounterVec
	latency    prometheus.Histogram
}

// ObserveWebhook counts one delivery attempt by result (delivered, retry,
// failed); a delivered one's latency is the time from its event to its
// answer.
func (m *Metrics) ObserveWebhook(result string, latency time.Duration) {
	w := &m.webhooks
	w.once.Do(func() {
		w.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "silo_webhook_deliveries_total", Help: "Webhook delivery attempts, by result: delivered, retry (to be tried again), failed (given up).",
		}, []string{"result"})
		w.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "silo_webhook_event_latency_seconds", Help: "Time from an event's commit to its delivery (2xx answer).",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 10),
		})
		m.Registry.MustRegister(w.deliveries, w.latency)
		for _, r := range []string{"delivered", "retry", "failed"} {
			w.deliveries.WithLabelValues(r)
		}
	})
	w.deliveries.WithLabelValues(result).Inc()
	if result == "delivered" {
		w.latency.Observe(max(0, latency.Seconds()))
	}
}

package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/silo-datasets/silo"
)

// storeCollector reads the organisations' and projects' counters and the
// validation queue
// from the metadata store at scrape time: they are exact there, on every
// node, and need no bookkeeping here. A project's series are one per
// project, as an organisation's are one per organisation; a project
// without a quota of its own has no quota series (the org's caps it).
type storeCollector struct {
	store silo.Store
}

var (
	usageDesc = prometheus.NewDesc("silo_org_usage_bytes",
		"Bytes stored by the organisation's datasets (its organization_usage).", []string{"org", "name"}, nil)
	reservedDesc = prometheus.NewDesc("silo_org_reserved_bytes",
		"Bytes held against the organisation's quota by uploads in flight.", []string{"org", "name"}, nil)
	quotaDesc = prometheus.NewDesc("silo_org_quota_bytes",
		"The organisation's quota in bytes.", []string{"org", "name"}, nil)
	projectUsageDesc = prometheus.NewDesc("silo_project_usage_bytes",
		"Bytes stored by the project's datasets (its project_usage; counted in its organisation's too).", []string{"org", "project", "name"}, nil)
	projectReservedDesc = prometheus.NewDesc("silo_project_reserved_bytes",
		"Bytes held against the project's quota by uploads in flight.", []string{"org", "project", "name"}, nil)
	projectQuotaDesc = prometheus.NewDesc("silo_project_quota_bytes",
		"The project's own quota in bytes; absent for a project with none (its organisation's caps it).", []string{"org", "project", "name"}, nil)
	queueDesc = prometheus.NewDesc("silo_validation_queue_depth",
		"Validation jobs not yet finished.", nil, nil)
	queueAgeDesc = prometheus.NewDesc("silo_validation_queue_oldest_seconds",
		"Age of the oldest validation job not yet finished (0 when the queue is empty).", nil, nil)
	webhookAgeDesc = prometheus.NewDesc("silo_webhook_oldest_pending_seconds",
		"Age of the oldest webhook delivery not yet delivered or failed (0 when none is pending).", nil, nil)
	scrapeErrDesc = prometheus.NewDesc("silo_store_scrape_errors",
		"1 if reading the metadata store for this scrape failed.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{usageDesc, reservedDesc, quotaDesc, projectUsageDesc, projectReservedDesc, projectQuotaDesc,
		queueDesc, queueAgeDesc, webhookAgeDesc, scrapeErrDesc} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	failed := 0.0
	orgs, err := c.store.Orgs(ctx)
	if err != nil {
		failed = 1
	}
	for _, o := range orgs {
		ch <- prometheus.MustNewConstMetric(usageDesc, prometheus.GaugeValue, float64(o.UsedBytes), o.ID, o.Name)
		ch <- prometheus.MustNewConstMetric(reservedDesc, prometheus.GaugeValue, float64(o.ReservedBytes), o.ID, o.Name)
		ch <- prometheus.MustNewConstMetric(quotaDesc, prometheus.GaugeValue, float64(o.QuotaBytes), o.ID, o.Name)
	}
	if projects, err := c.store.Projects(ctx, ""); err == nil {
		for _, p := range projects {
			ch <- prometheus.MustNewConstMetric(projectUsageDesc, prometheus.GaugeValue, float64(p.UsedBytes), p.OrgID, p.ID, p.Name)
			ch <- prometheus.MustNewConstMetric(projectReservedDesc, prometheus.GaugeValue, float64(p.ReservedBytes), p.OrgID, p.ID, p.Name)
			if p.QuotaBytes != nil {
				ch <- prometheus.MustNewConstMetric(projectQuotaDesc, prometheus.GaugeValue, float64(*p.QuotaBytes), p.OrgID, p.ID, p.Name)
			}
		}
	} else {
		failed = 1
	}
	if n, err := c.store.PendingJobs(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(n))
	} else {
		failed = 1
	}
	if at, err := c.store.OldestJob(ctx); err == nil {
		age := 0.0
		if !at.IsZero() {
			age = max(0, time.Since(at).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, age)
	} else {
		failed = 1
	}
	if at, err := c.store.OldestPendingDelivery(ctx); err == nil {
		age := 0.0
		if !at.IsZero() {
			age = max(0, time.Since(at).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(webhookAgeDesc, prometheus.GaugeValue, age)
	} else {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeErrDesc, prometheus.GaugeValue, failed)
}

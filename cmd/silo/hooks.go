package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/webhook"
)

// hookConfig is silo serve's webhook flags.
type hookConfig struct {
	WebhookAllowPrivate bool
	WebhookRetryFor     string
	WebhookLogRetention string
}

func hookFlags(f *pflag.FlagSet, c *hookConfig) {
	allow, _ := strconv.ParseBool(env("SILO_WEBHOOK_ALLOW_PRIVATE", "false"))
	f.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", allow, "let webhooks call loopback, private and link-local addresses: for receivers on premises only, as any tenant's endpoint may then reach the internal network (SILO_WEBHOOK_ALLOW_PRIVATE)")
	f.StringVar(&c.WebhookLogRetention, "webhook-log-retention", env("SILO_WEBHOOK_LOG_RETENTION", "7d"), "how long finished webhook deliveries (delivered or failed) are kept in an endpoint's deliveries log before the sweep deletes them with their events (SILO_WEBHOOK_LOG_RETENTION)")
	f.StringVar(&c.WebhookRetryFor, "webhook-retry-for", env("SILO_WEBHOOK_RETRY_FOR", "24h"), "how long a webhook delivery is retried (5s doubling, at most 1h apart) before it is marked failed (SILO_WEBHOOK_RETRY_FOR)")
}

// openHooks builds the webhook dispatcher and gives the service its URL
// check and its wake-up, before the server takes requests.
func (m *Main) openHooks() error {
	c := &m.Config
	retryFor, err := silo.ParseDuration(c.WebhookRetryFor)
	if err != nil || retryFor <= 0 {
		return fmt.Errorf("--webhook-retry-for: want a positive duration such as 24h, not %q", c.WebhookRetryFor)
	}
	keep, err := silo.ParseDuration(c.WebhookLogRetention)
	if err != nil || keep <= 0 {
		return fmt.Errorf("--webhook-log-retention: want a positive duration such as 7d, not %q", c.WebhookLogRetention)
	}
	m.Service.WebhookLogRetention = keep
	guard := &webhook.Guard{AllowPrivate: c.WebhookAllowPrivate}
	m.Dispatcher = &webhook.Dispatcher{
		Store: m.Store, Guard: guard, Data: m.Server.EventData,
		Node: m.Service.Node, RetryFor: retryFor, Logger: m.Logger, Observe: m.observeWebhook,
	}
	m.Service.CheckWebhookURL = guard.CheckURL
	m.Service.EventsCommitted = m.Dispatcher.Kick
	return nil
}

// runHooks delivers webhooks until ctx ends.
func (m *Main) runHooks(ctx context.Context) {
	if m.Dispatcher != nil {
		m.Dispatcher.Run(ctx)
	}
}

func (m *Main) observeWebhook(result string, latency time.Duration) {
	if m.metrics != nil {
		m.metrics.ObserveWebhook(result, latency)
	}
}

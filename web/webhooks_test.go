package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/web"
	"github.com/silo-datasets/silo/webhook"
)

// TestDashboardWebhooks drives the webhooks panel in a real headless
// Chromium: a writer adds an endpoint (its secret shown once, gone after a
// reload), an upload's events reach a receiver on loopback through a real
// dispatcher and show in the endpoint's deliveries, and a delete (two
// clicks) removes it. A reader key's page has no panel.
func TestDashboardWebhooks(t *testing.T) {
	ctx, consoleErrors := browser(t)
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.Extra = web.Routes() }})
	orgID, key := e.Org(t, "acme", 50_000_000, silo.RoleWriter)
	var got atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer recv.Close()
	dctx, cancel := context.WithCancel(context.Background())
	d := &webhook.Dispatcher{Store: e.Store, Guard: &webhook.Guard{AllowPrivate: true}, Node: "web-test", Poll: 50 * time.Millisecond}
	done := make(chan struct{})
	go func() { d.Run(dctx); close(done) }()
	defer func() { cancel(); <-done }()

	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
			shot, _ := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			artifact(t, "dashboard-webhooks-failure.png", shot)
			t.Fatalf("waiting for %s (%s): %v\npage errors: %v", what, expr, err, consoleErrors())
		}
	}
	signIn := func(key string) {
		t.Helper()
		must(t, chromedp.Do(ctx,
			chromedp.Navigate(e.URL+"/"),
			chromedp.WaitVisible(chromedp.CSS("#key")),
			chromedp.SendKeys(chromedp.CSS("#key"), key),
			chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		))
		poll("the signed-in view", `!document.querySelector('#app').hidden`)
	}

	signIn(key)
	poll("the empty panel", `!document.querySelector('#wh-empty').hidden`)
	hookURL := recv.URL + "/silo-events"
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS("#wh-url"), hookURL),
		chromedp.Click(chromedp.CSS(`input[name="wh-event"][value="dataset.created"]`)),
		chromedp.Click(chromedp.CSS(`input[name="wh-event"][value="dataset.validated"]`)),
		chromedp.SendKeys(chromedp.CSS("#wh-desc"), "CI pipeline"),
		chromedp.Click(chromedp.CSS("#wh-submit")),
	))
	poll("the secret, once", `(document.querySelector('#wh-secret')?.textContent || '').startsWith('whsec_')`)
	poll("the endpoint's row", `document.querySelectorAll('#webhooks tbody tr[data-id]').length === 1 &&
		document.querySelector('#webhooks tbody').textContent.includes('dataset.created, dataset.validated')`)
	secret, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#wh-secret")))
	must(t, err)
	hooks, err := e.Service.Webhooks(t.Context(), e.Admin(t), orgID, false)
	must(t, err)
	if len(hooks) != 1 || hooks[0].URL != hookURL || len(hooks[0].Events) != 2 || hooks[0].Description != "CI pipeline" {
		t.Fatalf("stored webhooks %+v", hooks)
	}
	full, err := e.Store.Webhook(t.Context(), hooks[0].ID)
	must(t, err)
	if full.Secret != secret {
		t.Fatalf("the page showed secret %q, the endpoint signs with another", secret)
	}
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	artifact(t, "dashboard-webhooks.png", shot)

	// Shown once: after a reload the secret is nowhere on the page.
	must(t, chromedp.Do(ctx, chromedp.Reload()))
	poll("the row after a reload", `document.querySelectorAll('#webhooks tbody tr[data-id]').length === 1`)
	if body, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body.innerHTML")); err != nil || strings.Contains(body, secret) {
		t.Fatalf("the secret is on the page after a reload (%v)", err)
	}

	// An upload's events arrive and show as delivered.
	uploadRows(t, e, key, 100)
	deadline := time.Now().Add(30 * time.Second)
	for got.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := got.Load(); n != 2 {
		t.Fatalf("the receiver got %d deliveries, want 2 (created, validated)", n)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#webhooks button[aria-label="Deliveries of `+hookURL+`"]`))))
	poll("the deliveries", `(() => { const t = document.querySelector('#wh-deliveries-table');
		return t && t.tBodies[0].rows.length === 2 && t.textContent.includes('dataset.created') &&
			t.textContent.includes('dataset.validated') && !t.textContent.includes('pending') && t.textContent.includes('delivered'); })()`)

	// Delete: the first click asks, the second deletes.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#webhooks button[aria-label="Delete `+hookURL+`"]`))))
	poll("the confirming button", `document.querySelector('#webhooks button[aria-label="Confirm: delete `+hookURL+`"]') !== null`)
	if hooks, err := e.Service.Webhooks(t.Context(), e.Admin(t), orgID, false); err != nil || len(hooks) != 1 {
		t.Fatalf("one click deleted the webhook: %v, %v", hooks, err)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#webhooks button[aria-label="Confirm: delete `+hookURL+`"]`))))
	poll("the row to go", `document.querySelectorAll('#webhooks tbody tr[data-id]').length === 0 &&
		document.querySelector('#toast').textContent.includes('Deleted the webhook')`)
	if hooks, err := e.Service.Webhooks(t.Context(), e.Admin(t), orgID, false); err != nil || len(hooks) != 0 {
		t.Fatalf("after the delete: %v, %v", hooks, err)
	}

	// A reader's page has no panel.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin"))))
	signIn(e.Key(t, orgID, silo.RoleReader))
	poll("the reader's table", `document.querySelector('#datasets tbody').rows.length > 0`)
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#webhooks-card').length`)); err != nil || n != 0 {
		t.Fatalf("a reader's page has %d webhook panels (%v)", n, err)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

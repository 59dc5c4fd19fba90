package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/client"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/web"
)

// TestDashboardAdmin drives the all-organisations view in a real headless
// Chromium: an admin key sees every org with its usage and quota, fullest
// first and the near-full ones highlighted; changes a quota; creates a key
// (its secret shown once, and working) and revokes it (498 from then on);
// deletes an empty org. A writer key then sees none of the admin controls,
// the usage plot draws its quota, the breakdown shows usage by key, and an
// upload that cannot fit is refused before it is sent. With
// SILO_UPDATE_DOCS=1 it rewrites docs/dashboard-admin.png and
// docs/dashboard-writer.png.
func TestDashboardAdmin(t *testing.T) {
	ctx, consoleErrors := browser(t)
	var clk clock
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		s.Extra = web.Routes()
		s.Service.Now = clk.now
	}})
	_, acmeKey := e.Org(t, "acme", 1_000_000, silo.RoleWriter)
	seed(t, e, &clk, acmeKey) // a week of history
	fullID, fullKey := e.Org(t, "nearly-full", 1_000_000, silo.RoleWriter)
	uploadRows(t, e, fullKey, 9_600) // 960 kB: 96%
	_, warnKey := e.Org(t, "research", 2_000_000, silo.RoleWriter)
	uploadRows(t, e, warnKey, 17_000) // 1.7 MB: 85%
	smallID, _ := e.Org(t, "small", 10_000_000, silo.RoleReader)
	emptyID, _ := e.Org(t, "empty-co", 0, silo.RoleReader)
	e.WaitJobs(t)

	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
			shot, _ := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			artifact(t, "dashboard-admin-failure.png", shot)
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
	row := func(name string) string { return fmt.Sprintf(`document.querySelector('#orgs tr[data-name=%q]')`, name) }

	signIn(e.AdminKey)
	poll("the header", `document.querySelector('#who-text').textContent.startsWith('default · admin key')`)
	poll("every org", `document.querySelectorAll('#orgs tbody tr[data-org]').length === 6`)
	orgs, err := e.Store.Orgs(t.Context())
	must(t, err)
	for _, o := range orgs {
		poll(o.Name+"'s usage and quota", fmt.Sprintf(`(() => { const m = %s.querySelector('.meter');
			return m.getAttribute('aria-valuenow') === '%d' && m.getAttribute('aria-valuemax') === '%d'; })()`,
			row(o.Name), o.UsedBytes, o.QuotaBytes))
	}
	poll("fullest first, near-full highlighted", `(() => {
		const rows = [...document.querySelectorAll('#orgs tbody tr[data-org]')];
		return rows.map(r => r.dataset.name).slice(0, 3).join() === 'nearly-full,research,acme'
			&& rows[0].classList.contains('full') && rows[1].classList.contains('near-full') && rows[2].className === ''; })()`)
	poll("usage and quota in words", row("nearly-full")+`.textContent.includes('960 kB') && `+row("nearly-full")+`.querySelector('.quota').textContent === '1 MB'`)
	poll("the sparklines", `document.querySelectorAll('#orgs svg.spark path.spark-line').length >= 3`)
	poll("no delete button for its own org", row("default")+`.querySelector('button.danger') === null`)

	// Change a quota.
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Set the quota of small"]`)),
		chromedp.WaitVisible(chromedp.CSS("#quota-input")),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#quota-input').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#quota-input"), "20 MB\r"),
	))
	poll("the new quota", row("small")+`.querySelector('.quota').textContent === '20 MB'`)
	if q := e.Usage(t, smallID).QuotaBytes; q != 20_000_000 {
		t.Fatalf("quota of small = %d, want 20,000,000", q)
	}

	// Create a key: its secret is shown once and works.
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Keys of small"]`)),
		chromedp.WaitVisible(chromedp.CSS("#key-create")),
		chromedp.SendKeys(chromedp.CSS("#key-name"), "ci-bot"),
		chromedp.Click(chromedp.CSS(`#key-create button[type="submit"]`)),
	))
	poll("the new secret", `document.querySelector('#new-secret') !== null`)
	secret, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#new-secret').textContent`))
	must(t, err)
	me, _, err := client.New(e.URL, secret).Me(t.Context())
	if err != nil || me.Org.ID != smallID || me.Key.Role != "writer" || me.Key.Name != "ci-bot" {
		t.Fatalf("the key the dashboard created: %+v, %v", me, err)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#copy-secret"))))
	poll("the copy", `document.querySelector('.secret-box [role=status]').textContent !== ''`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#secret-done"))))
	poll("the secret to go", `document.querySelector('#new-secret') === null && document.querySelectorAll('.keys tbody tr').length === 2`)

	// Revoke it.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Revoke key ci-bot"]`))))
	poll("the revoked key", `[...document.querySelectorAll('.keys tbody tr.revoked')].some(r => r.textContent.includes('ci-bot'))`)
	_, _, err = client.New(e.URL, secret).Usage(t.Context())
	if ce, ok := err.(*client.Error); !ok || ce.Status != 498 {
		t.Fatalf("the revoked key: %v, want 498", err)
	}
	clearToast := chromedp.Evaluate[chromedp.Void](`document.querySelector('#toast').textContent = ''`)
	must(t, chromedp.Do(ctx, clearToast))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	saveShot(t, "dashboard-admin.png", shot)

	// Delete an empty org, with confirmation.
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`button[aria-label="Delete organisation empty-co"]`)),
		chromedp.WaitVisible(chromedp.CSS("#org-confirm")),
		chromedp.Click(chromedp.CSS("#org-confirm-delete")),
	))
	poll("the org to go", row("empty-co")+` === null && document.querySelector('#toast').textContent.includes('Deleted organisation empty-co')`)
	if _, err := e.Store.Org(t.Context(), emptyID); silo.ErrorCode(err) != silo.ENOTFOUND {
		t.Fatalf("empty-co after its delete: %v", err)
	}

	// A writer sees its own org only, and no admin control at all.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin"))))
	signIn(acmeKey)
	poll("the header", `document.querySelector('#who-text').textContent.startsWith('acme · writer key')`)
	poll("the table", `document.querySelectorAll('#datasets tbody tr[data-id]').length === 5`)
	poll("no admin controls", `document.querySelector('#admin-root').childElementCount === 0 && document.querySelector('#orgs') === null
		&& ![...document.querySelectorAll('button')].some(b => /Set quota|^Keys$|Revoke|Create key|organisation/.test(b.textContent + ' ' + (b.getAttribute('aria-label') || '')))`)
	poll("the quota line", `document.querySelector('#history svg line.quota') !== null && document.querySelector('#history svg .quota-label').textContent === 'quota 1 MB'`)
	poll("usage by key", `document.querySelector('#by-key').textContent.includes('writer')`)
	shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	saveShot(t, "dashboard-writer.png", shot)

	// An upload that cannot fit is refused before a byte is sent.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin"))))
	signIn(fullKey)
	poll("the usage", `document.querySelector('#usage-text').textContent.includes('960 kB')`)
	big := filepath.Join(t.TempDir(), "big.jsonl")
	must(t, os.WriteFile(big, []byte(strings.Repeat(row100(), 1500)), 0o644)) // 150 kB
	before := e.Usage(t, fullID)
	must(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#up-file"), []string{big}),
		chromedp.SendKeys(chromedp.CSS("#up-name"), "big"),
		chromedp.SetValue(chromedp.CSS("#up-type"), "embed-input"),
		chromedp.Click(chromedp.CSS("#up-submit")),
	))
	poll("the refusal", `document.querySelector('#up-status').textContent === 'big.jsonl (150 kB) does not fit: 40 kB free of 1 MB.'`)
	if after := e.Usage(t, fullID); after.UsedBytes != before.UsedBytes || after.ReservedBytes != 0 {
		t.Fatalf("a refused upload changed usage: %+v -> %+v", before, after)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// row100 is one JSONL row of exactly 100 bytes.
func row100() string { return `{"text":"` + strings.Repeat("x", 88) + "\"}\n" }

// uploadRows creates a dataset of n 100-byte rows with key.
func uploadRows(t *testing.T, e *silotest.Env, key string, n int) {
	t.Helper()
	body := strings.Repeat(row100(), n)
	_, _, err := client.New(e.URL, key).Upload(t.Context(), client.UploadRequest{Name: "bulk", Type: "embed-input",
		Data: client.File{Name: "bulk.jsonl", Body: strings.NewReader(body), Size: int64(len(body))}})
	must(t, err)
}

// saveShot keeps a screenshot as an artifact and, with SILO_UPDATE_DOCS=1,
// in docs/.
func saveShot(t *testing.T, name string, png []byte) {
	artifact(t, name, png)
	if os.Getenv("SILO_UPDATE_DOCS") != "" {
		must(t, os.WriteFile(filepath.Join("..", "docs", name), png, 0o644))
	}
}

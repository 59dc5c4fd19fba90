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

// TestDashboardProjects drives projects in a real headless Chromium: an
// admin opens an org's projects and sees each one's usage against its own
// quota, fullest first and highlighted as the orgs are; a project key sees
// its project's usage above its organisation's, and an upload that would
// take the project over its quota is refused before it is sent, naming the
// project's quota. With SILO_UPDATE_DOCS=1 it rewrites
// docs/dashboard-projects.png and docs/dashboard-project-key.png.
func TestDashboardProjects(t *testing.T) {
	ctx, consoleErrors := browser(t)
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.Extra = web.Routes() }})
	orgID, _ := e.Org(t, "acme", 10_000_000, silo.RoleWriter)
	admin := client.New(e.URL, e.AdminKey)
	newProject := func(name string, quota *int64) *client.Project {
		p, _, err := admin.CreateProject(t.Context(), orgID, name, quota)
		must(t, err)
		return p
	}
	q := func(n int64) *int64 { return &n }
	full := newProject("team-full", q(100_000))
	half := newProject("team-half", q(1_000_000))
	free := newProject("free", nil)
	keyOf := func(p *client.Project) string {
		k, _, err := admin.CreateProjectKey(t.Context(), orgID, p.ID, "writer", p.Name)
		must(t, err)
		return k.Secret
	}
	fullKey := keyOf(full)
	uploadRows(t, e, fullKey, 960)        // 96 kB of 100 kB
	uploadRows(t, e, keyOf(half), 5_000)  // 500 kB of 1 MB
	uploadRows(t, e, keyOf(free), 20_000) // 2 MB, the org's quota only
	e.WaitJobs(t)

	poll := poller(t, ctx, consoleErrors, "dashboard-projects-failure.png")
	signInAt(t, ctx, poll, e.URL, e.AdminKey)
	poll("acme", `document.querySelector('button[aria-label="Projects of acme"]') !== null`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`button[aria-label="Projects of acme"]`))))
	poll("the projects", `document.querySelectorAll('table.projects tbody tr[data-project]').length === 3`)
	row := func(p *client.Project) string {
		return fmt.Sprintf(`document.querySelector('table.projects tr[data-project=%q]')`, p.ID)
	}
	for _, p := range []*client.Project{full, half} {
		got, _, err := admin.Project(t.Context(), p.ID)
		must(t, err)
		poll(p.Name+"'s meter", fmt.Sprintf(`(() => { const m = %s.querySelector('.meter');
			return m.getAttribute('aria-valuenow') === '%d' && m.getAttribute('aria-valuemax') === '%d'; })()`,
			row(p), got.UsageBytes, *got.QuotaBytes))
	}
	poll("fullest first, near-full highlighted", `(() => {
		const rows = [...document.querySelectorAll('table.projects tbody tr[data-project]')];
		return rows.map(r => r.dataset.name).join() === 'team-full,team-half,free'
			&& rows[0].classList.contains('full') && rows[1].className === ''; })()`)
	poll("usage and quota in words", row(full)+`.querySelector('.usage').textContent === '96 kB' && `+row(full)+`.querySelector('.quota').textContent === '100 kB'`)
	poll("a project without a quota", row(free)+`.querySelector('.quota').textContent === 'none' && `+row(free)+`.querySelector('.meter') === null
		&& `+row(free)+`.querySelector('.usage').textContent === '2 MB'`)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	saveShot(t, "dashboard-projects.png", shot)

	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin"))))
	signInAt(t, ctx, poll, e.URL, fullKey)
	poll("the project's usage", fmt.Sprintf(`!document.querySelector('#project-usage').hidden
		&& document.querySelector('#project-label').textContent === 'Project %s'
		&& document.querySelector('#project-text').textContent === '96 kB of 100 kB used (96%%)'
		&& document.querySelector('#project-meter').classList.contains('full')`, full.ID))
	poll("the organisation's below it", `document.querySelector('#usage-text').textContent === '2.6 MB of 10 MB used (26%)'`)
	poll("what is free for it", `document.querySelector('#fact-free').textContent === '4 kB' && document.querySelector('#fact-quota').textContent === '100 kB'`)
	poll("the project's quota line", `document.querySelector('#history svg .quota-label').textContent === 'quota 100 kB'`)
	poll("its datasets only", `document.querySelectorAll('#datasets tbody tr[data-id]').length === 1`)
	shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	saveShot(t, "dashboard-project-key.png", shot)

	big := filepath.Join(t.TempDir(), "big.jsonl")
	must(t, os.WriteFile(big, []byte(strings.Repeat(row100(), 50)), 0o644)) // 5 kB
	must(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#up-file"), []string{big}),
		chromedp.SendKeys(chromedp.CSS("#up-name"), "big"),
		chromedp.SetValue(chromedp.CSS("#up-type"), "embed-input"),
		chromedp.Click(chromedp.CSS("#up-submit")),
	))
	poll("the refusal", `document.querySelector('#up-status').textContent === 'big.jsonl (5 kB) does not fit: 4 kB free of 100 kB (the project’s quota).'`)

	// An org key sees no project block.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin"))))
	signInAt(t, ctx, poll, e.URL, e.Key(t, orgID, silo.RoleReader))
	poll("no project block for an org key", `document.querySelector('#project-usage').hidden && document.querySelectorAll('#datasets tbody tr[data-id]').length === 3`)
	if errs := consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

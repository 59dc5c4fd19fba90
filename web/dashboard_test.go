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
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/web"
)

// TestDashboard drives the dashboard in a real headless Chromium as a user
// would: sign in with a key, see a week of usage, upload a file with the
// form, watch it appear in the table and the gauge grow, read a validation
// error, filter, delete with confirmation. It saves screenshots as
// artifacts; with SILO_UPDATE_DOCS=1 it also rewrites docs/dashboard.png.
func TestDashboard(t *testing.T) {
	ctx, consoleErrors := browser(t)
	var clk clock
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		s.Extra = web.Routes()
		s.Service.Now = clk.now
	}})
	_, key := e.Org(t, "acme", 50_000_000, silo.RoleWriter)
	seed(t, e, &clk, key)

	file := filepath.Join(t.TempDir(), "faq.jsonl")
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, "{\"text\":\"frequently asked question %d\"}\n", i)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	usageText := func() string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#usage-text")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
			shot, _ := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			artifact(t, "dashboard-failure.png", shot)
			t.Fatalf("waiting for %s (%s): %v\npage errors: %v", what, expr, err, consoleErrors())
		}
	}

	// A wrong key is refused with a readable message.
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), "silo_not_a_key"),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
	))
	poll("the sign-in error", `document.querySelector('#signin-error').textContent.includes('not valid')`)

	must(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#key").value = ""`),
		chromedp.SendKeys(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
	))
	poll("the signed-in view", `!document.querySelector('#app').hidden`)
	poll("the table", `document.querySelectorAll('#datasets tbody tr[data-id]').length === 5`)
	poll("the plot", `document.querySelectorAll('#history svg circle').length === 7`)
	poll("the breakdown", `document.querySelector('#by-client').textContent.includes('cohere-python')`)
	poll("the validation error", `document.querySelector('.verror') !== null`)
	if href, _ := chromedp.Run(ctx, chromedp.Location()); strings.Contains(href, key) {
		t.Fatalf("the key is in the URL: %s", href)
	}
	before := usageText()

	// Upload through the form.
	must(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#up-file"), []string{file}),
		chromedp.SendKeys(chromedp.CSS("#up-name"), "faq"),
		chromedp.SetValue(chromedp.CSS("#up-type"), "embed-input"),
		chromedp.Click(chromedp.CSS("#up-submit")),
	))
	poll("the upload's row", `[...document.querySelectorAll('#datasets tbody tr[data-id]')].some(r => r.textContent.includes('faq'))`)
	poll("its validation", `[...document.querySelectorAll('#datasets tbody tr[data-id]')].some(r => r.textContent.includes('faq') && r.textContent.includes('validated') && r.textContent.includes('5,000'))`)
	after := usageText()
	if after == before {
		t.Fatalf("the gauge did not change after an upload: %q", after)
	}
	poll("the gauge's meter value", fmt.Sprintf(`document.querySelector('#gauge').getAttribute('aria-valuenow') === '%d'`, e.Usage(t, orgOf(t, e, key)).UsedBytes))

	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	artifact(t, "dashboard.png", shot)
	if os.Getenv("SILO_UPDATE_DOCS") != "" {
		must(t, os.WriteFile(filepath.Join("..", "docs", "dashboard.png"), shot, 0o644))
	}

	// Filters narrow the table.
	must(t, chromedp.Do(ctx, selectOption("#f-status", "failed")))
	poll("the status filter", `document.querySelectorAll('#datasets tbody tr[data-id]').length === 1`)
	must(t, chromedp.Do(ctx, selectOption("#f-status", ""), chromedp.SendKeys(chromedp.CSS("#f-name"), "faq")))
	poll("the name filter", `document.querySelectorAll('#datasets tbody tr[data-id]').length === 1`)

	// Delete with confirmation: cancel keeps it, confirm removes it.
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#datasets button[aria-label="Delete faq"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS(`#confirm button[value="cancel"]`)),
		chromedp.WaitNotVisible(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS(`#datasets button[aria-label="Delete faq"]`)),
		chromedp.WaitVisible(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS("#confirm-delete")),
	))
	poll("the row to go", `document.querySelectorAll('#datasets tbody tr[data-id]').length === 0 && document.querySelector('#toast').textContent.includes('Deleted faq')`)
	poll("the gauge to drop back", fmt.Sprintf(`document.querySelector('#usage-text').textContent === %q`, before))
	shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	artifact(t, "dashboard-after-delete.png", shot)

	// Signing out forgets the key.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin"))))
	poll("the key to be forgotten", `sessionStorage.length === 0`)
	if errs := consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// selectOption picks an option of a select as a user does: the value
// changes and a change event fires.
func selectOption(sel, value string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(() => { const s = document.querySelector(%q); s.value = %q; s.dispatchEvent(new Event('change')); })()`, sel, value))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func orgOf(t *testing.T, e *silotest.Env, key string) string {
	k, err := e.Service.Authenticate(t.Context(), key)
	must(t, err)
	return k.OrgID
}

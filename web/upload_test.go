package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/silo-datasets/silo"
	"github.com/silo-datasets/silo/api"
	"github.com/silo-datasets/silo/client"
	"github.com/silo-datasets/silo/internal/silotest"
	"github.com/silo-datasets/silo/internal/testenv"
	"github.com/silo-datasets/silo/web"
)

// TestDashboardResumableUpload uploads a 6 MB file through the dashboard in
// a real headless Chromium over a network that drops: a loopback TCP proxy
// closes every connection once the browser has sent 2 MB on it, so each
// PATCH is cut mid-body, and one PATCH is answered 503. The page must go on
// by itself (HEAD, then PATCH from the server's offset) until silo makes
// the dataset: listed, validated, byte-identical, usage exact and nothing
// left reserved. With SILO_UPDATE_DOCS=1 it rewrites docs/dashboard-resume.png.
func TestDashboardResumableUpload(t *testing.T) {
	ctx, consoleErrors := browser(t)
	var tus tusLog
	// Besides the drops, the first PATCH past 4 MB is answered 503, as an
	// overloaded node would.
	var refused atomic.Bool
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		s.Extra = web.Routes()
		s.Wrap = func(h http.Handler) http.Handler {
			return tus.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if off, _ := strconv.Atoi(r.Header.Get("Upload-Offset")); r.Method == "PATCH" && off > 4_000_000 && refused.CompareAndSwap(false, true) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusServiceUnavailable)
					io.WriteString(w, `{"message":"busy"}`)
					return
				}
				h.ServeHTTP(w, r)
			}))
		}
	}})
	orgID, key := e.Org(t, "acme", 50_000_000, silo.RoleWriter)
	const cutAfter = 2_000_000
	proxy := testenv.StartCutProxy(t, strings.TrimPrefix(e.URL, "http://"), cutAfter)

	data := jsonlRows(100_000) // 6.3 MB
	file := filepath.Join(t.TempDir(), "support.jsonl")
	must(t, os.WriteFile(file, data, 0o644))
	poll := poller(t, ctx, consoleErrors, "dashboard-resume-failure.png")

	signInAt(t, ctx, poll, proxy.URL, key)
	start := time.Now()
	must(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#up-file"), []string{file}),
		chromedp.SendKeys(chromedp.CSS("#up-name"), "support"),
		chromedp.SetValue(chromedp.CSS("#up-type"), "embed-input"),
		chromedp.Click(chromedp.CSS("#up-submit")),
	))
	// While it waits to resume, the page says so, and lists the upload as
	// in progress here (not as one to resume).
	poll("a drop to be reported", `/^The connection dropped after [0-9.]+ MB of 6.3 MB; resuming in 1 s…$/.test(document.querySelector('#up-status').textContent)`)
	poll("the upload listed as running", `document.querySelector('#uploads tbody tr .badge')?.textContent === 'uploading'`)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	artifact(t, "dashboard-resuming.png", shot)
	if os.Getenv("SILO_UPDATE_DOCS") != "" {
		row, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(".upload-row")))
		must(t, err)
		must(t, os.WriteFile(filepath.Join("..", "docs", "dashboard-resume.png"), row, 0o644))
	}
	poll("the 503 to be reported", `/^The server answered 503 after [0-9.]+ MB of 6.3 MB; resuming in 1 s…$/.test(document.querySelector('#up-status').textContent)`)
	poll("the upload to end", `document.querySelector('#up-status').textContent.startsWith('Created ')`)
	took := time.Since(start)
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#up-status")))
	must(t, err)
	m := regexp.MustCompile(`^Created (\S+); validation is queued\. The connection dropped (\d+) times`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("status %q: want a dataset made after several drops (proxy cuts %d, tus requests %+v)", status, proxy.Cuts.Load(), tus.reqs)
	}
	id := m[1]
	drops, _ := strconv.Atoi(m[2])
	cuts := proxy.Cuts.Load()
	// Every cut the page saw is one the proxy made (a cut can also land
	// on an idle or an answered connection, which the page never notices).
	if cuts < 3 || int64(drops) > cuts || drops < 2 {
		t.Fatalf("the proxy cut %d connections and the page saw %d drops: want ≥ 3 cuts of a 6 MB file at 2 MB each; tus requests %+v", cuts, drops, tus.reqs)
	}
	patches, heads := tus.count("PATCH"), tus.count("HEAD")
	if heads < drops {
		t.Fatalf("%d HEADs for %d drops: the page must ask where to resume", heads, drops)
	}
	// Each PATCH goes on from where the last one left off. (An offset can
	// come twice: Chromium re-sends a PATCH by itself on a new connection
	// when its keep-alive connection drops, and silo answers it 409.)
	offsets := tus.offsets()
	for i := 1; i < len(offsets); i++ {
		if offsets[i] < offsets[i-1] {
			t.Fatalf("a PATCH went back: offsets %v", offsets)
		}
	}
	if !refused.Load() {
		t.Fatal("no PATCH went past 4 MB to be answered 503")
	}
	t.Logf("%d bytes through a proxy cutting every connection after %d bytes: %d cuts, %d drops seen and resumed by the page, one 503 retried; %d PATCHes (offset→status; the server answers a cut one after it ended) %v, %d HEADs; %v from click to dataset",
		len(data), cutAfter, cuts, drops, patches, tus.patches(), heads, took.Round(10*time.Millisecond))

	d := e.WaitValidated(t, orgID, id)
	if d.Status != silo.StatusValidated {
		t.Fatalf("dataset %s: %s", id, d.Status)
	}
	poll("the dataset's row", `[...document.querySelectorAll('#datasets tbody tr[data-id]')].some(r => r.textContent.includes('support') && r.textContent.includes('validated') && r.textContent.includes('100,000'))`)
	o := e.Usage(t, orgID)
	if o.UsedBytes != int64(len(data)) || o.ReservedBytes != 0 {
		t.Fatalf("usage %d reserved %d, want %d and 0", o.UsedBytes, o.ReservedBytes, len(data))
	}
	poll("the gauge", fmt.Sprintf(`document.querySelector('#gauge').getAttribute('aria-valuenow') === '%d'`, len(data)))
	poll("no incomplete upload", `document.querySelector('#uploads-card').hidden`)
	if got := downloadOriginal(t, e.URL, key, id); !bytes.Equal(got, data) {
		t.Fatalf("the dataset's original (%d bytes) differs from the file (%d bytes)", len(got), len(data))
	}
	shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	artifact(t, "dashboard-resumed.png", shot)
	if errs := consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestDashboardIncompleteUploads: uploads that another client left half
// done are listed with how far they got; Resume refuses a file of another
// size and goes on from the server's offset with the same file, making the
// dataset; Cancel deletes an upload and gives its reserved bytes back.
func TestDashboardIncompleteUploads(t *testing.T) {
	ctx, consoleErrors := browser(t)
	var tus tusLog
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		s.Extra = web.Routes()
		s.Wrap = tus.wrap
	}})
	orgID, key := e.Org(t, "acme", 50_000_000, silo.RoleWriter)
	dir := t.TempDir()
	half := jsonlRows(40_000)
	abandoned := jsonlRows(20_000)
	halfFile, otherFile := filepath.Join(dir, "half.jsonl"), filepath.Join(dir, "other.jsonl")
	must(t, os.WriteFile(halfFile, half, 0o644))
	must(t, os.WriteFile(otherFile, abandoned, 0o644))

	// Another client (a CLI that was killed) started both.
	sent := int64(len(half) / 3)
	halfURL := tusOpen(t, e.URL, key, half, sent, "name", "half done", "type", "embed-input", "filename", "half.jsonl")
	abURL := tusOpen(t, e.URL, key, abandoned, 100_000, "name", "abandoned", "type", "embed-input", "filename", "abandoned.jsonl")
	halfID, abID := halfURL[strings.LastIndex(halfURL, "/")+1:], abURL[strings.LastIndex(abURL, "/")+1:]
	held := int64(len(half) + len(abandoned))
	if o := e.Usage(t, orgID); o.ReservedBytes != held || o.UsedBytes != 0 {
		t.Fatalf("reserved %d used %d, want %d and 0", o.ReservedBytes, o.UsedBytes, held)
	}
	tus.reset()

	poll := poller(t, ctx, consoleErrors, "dashboard-uploads-failure.png")
	signInAt(t, ctx, poll, e.URL, key)
	row := func(id string) string {
		return fmt.Sprintf(`document.querySelector('#uploads tr[data-upload=%q]')`, id)
	}
	poll("both uploads", `document.querySelectorAll('#uploads tbody tr').length === 2 && !document.querySelector('#uploads-card').hidden`)
	poll("how far the first got", fmt.Sprintf(`%s.textContent.includes('half done') && %s.textContent.includes('half.jsonl') && %s.querySelector('[role=meter]').getAttribute('aria-valuenow') === '%d'`,
		row(halfID), row(halfID), row(halfID), sent))
	poll("the reservation in the gauge", `document.querySelector('#usage-held').textContent.includes('held by uploads in progress')`)
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	must(t, err)
	artifact(t, "dashboard-uploads.png", shot)

	// Resume with a file of another size: refused before a byte is sent.
	resumeInput := fmt.Sprintf(`#uploads tr[data-upload=%q] input[type=file]`, halfID)
	must(t, chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(resumeInput), []string{otherFile})))
	poll("the refusal", `document.querySelector('#up-status').textContent.includes('Choose the same file')`)
	if n := tus.count("PATCH"); n != 0 {
		t.Fatalf("a file of another size sent %d PATCHes", n)
	}

	// The same file: on from the server's offset, to a dataset.
	must(t, chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(resumeInput), []string{halfFile})))
	poll("the resumed upload's dataset", `document.querySelector('#up-status').textContent.startsWith('Created ')`)
	if offs := tus.offsets(); len(offs) == 0 || offs[0] != sent {
		t.Fatalf("the resume's PATCHes were at offsets %v: want the first at %d", offs, sent)
	}
	poll("its row", `[...document.querySelectorAll('#datasets tbody tr[data-id]')].some(r => r.textContent.includes('half done'))`)
	poll("one upload left", fmt.Sprintf(`document.querySelectorAll('#uploads tbody tr').length === 1 && %s !== null`, row(abID)))
	if o := e.Usage(t, orgID); o.UsedBytes != int64(len(half)) || o.ReservedBytes != int64(len(abandoned)) {
		t.Fatalf("after the resume: used %d reserved %d, want %d and %d", o.UsedBytes, o.ReservedBytes, len(half), len(abandoned))
	}

	// Cancel asks first; keeping it changes nothing, confirming deletes it.
	cancel := fmt.Sprintf(`#uploads tr[data-upload=%q] button[aria-label="Cancel abandoned"]`, abID)
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(cancel)),
		chromedp.WaitVisible(chromedp.CSS("#cancel-confirm")),
		chromedp.Click(chromedp.CSS(`#cancel-confirm button[value="cancel"]`)),
		chromedp.WaitNotVisible(chromedp.CSS("#cancel-confirm")),
	))
	if o := e.Usage(t, orgID); o.ReservedBytes != int64(len(abandoned)) {
		t.Fatalf("keeping the upload changed its reservation: %d", o.ReservedBytes)
	}
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(cancel)),
		chromedp.WaitVisible(chromedp.CSS("#cancel-confirm")),
		chromedp.Click(chromedp.CSS("#cancel-confirm-delete")),
	))
	poll("the list to empty", `document.querySelector('#uploads-card').hidden && document.querySelector('#toast').textContent.includes('Cancelled the upload of abandoned')`)
	poll("nothing held", `document.querySelector('#usage-held').textContent === ''`)
	if o := e.Usage(t, orgID); o.ReservedBytes != 0 || o.UsedBytes != int64(len(half)) {
		t.Fatalf("after the cancel: reserved %d used %d, want 0 and %d", o.ReservedBytes, o.UsedBytes, len(half))
	}
	if st, _, _ := tusDo(t, "HEAD", abURL, key, nil, nil); st != http.StatusNotFound && st != http.StatusGone {
		t.Fatalf("HEAD of a cancelled upload: %d", st)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestDashboardCancelRunning: Cancel on the upload the page is sending
// stops it and deletes it; nothing stays reserved and no dataset appears.
// The server reads PATCH bodies slowly (64 KiB per 100 ms) so that the
// upload is still running when the user cancels it.
func TestDashboardCancelRunning(t *testing.T) {
	ctx, consoleErrors := browser(t)
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) {
		s.Extra = web.Routes()
		s.Wrap = func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "PATCH" {
					r.Body = slowBody{r.Body}
				}
				h.ServeHTTP(w, r)
			})
		}
	}})
	orgID, key := e.Org(t, "acme", 50_000_000, silo.RoleWriter)
	file := filepath.Join(t.TempDir(), "slow.jsonl")
	must(t, os.WriteFile(file, jsonlRows(60_000), 0o644))
	poll := poller(t, ctx, consoleErrors, "dashboard-cancel-failure.png")
	signInAt(t, ctx, poll, e.URL, key)

	must(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#up-file"), []string{file}),
		chromedp.SendKeys(chromedp.CSS("#up-name"), "slow"),
		chromedp.SetValue(chromedp.CSS("#up-type"), "embed-input"),
		chromedp.Click(chromedp.CSS("#up-submit")),
	))
	poll("bytes on the way", `(() => { const m = document.querySelector('#uploads tbody tr [role=meter]');
		return m !== null && Number(m.getAttribute('aria-valuenow')) > 0; })()`)
	if o := e.Usage(t, orgID); o.ReservedBytes != 60_000*63 {
		t.Fatalf("reserved %d while uploading, want the whole file %d", o.ReservedBytes, 60_000*63)
	}
	must(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#uploads button[aria-label="Cancel slow"]`)),
		chromedp.WaitVisible(chromedp.CSS("#cancel-confirm")),
		chromedp.Click(chromedp.CSS("#cancel-confirm-delete")),
	))
	poll("the cancel", `document.querySelector('#toast').textContent.includes('Cancelled the upload of slow')
		&& document.querySelector('#up-status').textContent === 'The upload was stopped.'
		&& document.querySelector('#uploads-card').hidden && document.querySelector('#up-progress').hidden`)
	poll("nothing held", `document.querySelector('#usage-held').textContent === ''`)
	if o := e.Usage(t, orgID); o.ReservedBytes != 0 || o.UsedBytes != 0 {
		t.Fatalf("after the cancel: reserved %d used %d, want 0 and 0", o.ReservedBytes, o.UsedBytes)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#datasets tbody tr[data-id]').length`)); n != 0 {
		t.Fatalf("%d datasets after a cancelled upload", n)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// slowBody reads at most 64 KiB per 100 ms: a slow uplink.
type slowBody struct{ io.ReadCloser }

func (b slowBody) Read(p []byte) (int, error) {
	time.Sleep(100 * time.Millisecond)
	return b.ReadCloser.Read(p[:min(len(p), 64<<10)])
}

// TestDashboardUploadWithEval: a file with an evaluation file goes as two
// uploads (the evaluation file first) joined into one dataset; when the
// pair stopped half way, resuming the main file makes the dataset of both.
func TestDashboardUploadWithEval(t *testing.T) {
	ctx, consoleErrors := browser(t)
	e := silotest.Start(t, silotest.Options{Configure: func(s *api.Server) { s.Extra = web.Routes() }})
	orgID, key := e.Org(t, "acme", 50_000_000, silo.RoleWriter)
	dir := t.TempDir()
	train, evalData := jsonlRows(30_000), jsonlRows(3_000)
	trainFile, evalFile := filepath.Join(dir, "train.jsonl"), filepath.Join(dir, "eval.jsonl")
	must(t, os.WriteFile(trainFile, train, 0o644))
	must(t, os.WriteFile(evalFile, evalData, 0o644))
	poll := poller(t, ctx, consoleErrors, "dashboard-eval-failure.png")
	signInAt(t, ctx, poll, e.URL, key)

	checkParts := func(id string) {
		t.Helper()
		d := e.WaitValidated(t, orgID, id)
		if d.Status != silo.StatusValidated || len(d.Parts) != 2 || d.Parts[0].Kind != silo.PartTrain || d.Parts[1].Kind != silo.PartEval ||
			d.Parts[0].SizeBytes != int64(len(train)) || d.Parts[1].SizeBytes != int64(len(evalData)) {
			t.Fatalf("dataset %s: %s, parts %+v", id, d.Status, d.Parts)
		}
	}
	createdID := func() string {
		t.Helper()
		status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#up-status")))
		must(t, err)
		return strings.TrimSuffix(strings.Fields(status)[1], ";")
	}

	must(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#up-file"), []string{trainFile}),
		chromedp.SetUploadFiles(chromedp.CSS("#up-eval"), []string{evalFile}),
		chromedp.SendKeys(chromedp.CSS("#up-name"), "with eval"),
		chromedp.SetValue(chromedp.CSS("#up-type"), "embed-input"),
		chromedp.Click(chromedp.CSS("#up-submit")),
	))
	poll("the dataset", `document.querySelector('#up-status').textContent.startsWith('Created ')`)
	checkParts(createdID())
	poll("no incomplete upload", `document.querySelector('#uploads-card').hidden`)
	pair := int64(len(train) + len(evalData))
	if o := e.Usage(t, orgID); o.UsedBytes != pair || o.ReservedBytes != 0 {
		t.Fatalf("used %d reserved %d, want %d and 0", o.UsedBytes, o.ReservedBytes, pair)
	}

	// A pair the page left half done (the tab was closed): the evaluation
	// file complete, the main file a quarter sent.
	evalURL := tusOpen(t, e.URL, key, evalData, int64(len(evalData)), "filename", "eval.jsonl", "eval_for_name", "pair")
	evalID := evalURL[strings.LastIndex(evalURL, "/")+1:]
	mainURL := tusOpen(t, e.URL, key, train, int64(len(train)/4), "filename", "train.jsonl",
		"dataset_name", "pair", "dataset_type", "embed-input", "eval_upload", evalID)
	mainID := mainURL[strings.LastIndex(mainURL, "/")+1:]
	must(t, chromedp.Do(ctx, chromedp.Reload()))
	poll("the pair's uploads", fmt.Sprintf(`document.querySelectorAll('#uploads tbody tr').length === 2
		&& document.querySelector('#uploads tr[data-upload=%q]').textContent.includes('train.jsonl · and its evaluation file')
		&& document.querySelector('#uploads tr[data-upload=%q]').textContent.startsWith('paireval.jsonl · evaluation file')
		&& document.querySelector('#uploads tr[data-upload=%q] input[type=file]') === null`, mainID, evalID, evalID))
	shot, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(".upload-row")))
	must(t, err)
	artifact(t, "dashboard-pair.png", shot)
	must(t, chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(fmt.Sprintf(`#uploads tr[data-upload=%q] input[type=file]`, mainID)), []string{trainFile})))
	poll("the pair's dataset", `document.querySelector('#up-status').textContent.startsWith('Created ')`)
	checkParts(createdID())
	poll("no incomplete upload", `document.querySelector('#uploads-card').hidden`)
	if o := e.Usage(t, orgID); o.UsedBytes != 2*pair || o.ReservedBytes != 0 {
		t.Fatalf("used %d reserved %d, want %d and 0", o.UsedBytes, o.ReservedBytes, 2*pair)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Fatalf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// poller returns a function that waits for a condition in the page and,
// if it never holds, fails the test with a screenshot.
func poller(t *testing.T, ctx context.Context, consoleErrors func() []string, shotName string) func(what, expr string) {
	return func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr)); err != nil {
			shot, _ := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			artifact(t, shotName, shot)
			status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#up-status').textContent`))
			t.Fatalf("waiting for %s (%s): %v\nupload status: %q\npage errors: %v", what, expr, err, status, consoleErrors())
		}
	}
}

func signInAt(t *testing.T, ctx context.Context, poll func(what, expr string), url, key string) {
	t.Helper()
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), key),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
	))
	poll("the signed-in view", `!document.querySelector('#app').hidden`)
}

// jsonlRows is an embed-input file of n rows of 63 bytes.
func jsonlRows(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "{\"text\":\"row %06d of a file sent over a network that drops\"}\n", i)
	}
	return b.Bytes()
}

// tusDo sends one tus request with the key.
func tusDo(t *testing.T, method, url, key string, hdr map[string]string, body []byte) (int, http.Header, string) {
	t.Helper()
	req := silotest.NewRequest(t, method, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// tusOpen opens an upload of data with metadata (key, value...) and sends
// its first n bytes, as a client that stopped there.
func tusOpen(t *testing.T, base, key string, data []byte, n int64, kv ...string) string {
	t.Helper()
	var meta []string
	for i := 0; i < len(kv); i += 2 {
		meta = append(meta, kv[i]+" "+base64.StdEncoding.EncodeToString([]byte(kv[i+1])))
	}
	st, h, body := tusDo(t, "POST", base+"/v1/uploads", key, map[string]string{
		"Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": strings.Join(meta, ","),
	}, nil)
	if st != http.StatusCreated {
		t.Fatalf("POST /v1/uploads: %d %s", st, body)
	}
	url := h.Get("Location")
	st, _, body = tusDo(t, "PATCH", url, key, map[string]string{
		"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0",
	}, data[:n])
	if st != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", st, body)
	}
	return url
}

// downloadOriginal fetches a dataset's uploaded file through its signed URL.
func downloadOriginal(t *testing.T, base, key, id string) []byte {
	t.Helper()
	cl := client.New(base, key)
	d, _, err := cl.Get(t.Context(), id)
	must(t, err)
	if len(d.DatasetParts) == 0 || d.DatasetParts[0].OriginalURL == "" {
		t.Fatalf("dataset %s has no original file: %+v", id, d.DatasetParts)
	}
	body, _, err := cl.Download(t.Context(), d.DatasetParts[0].OriginalURL)
	must(t, err)
	defer body.Close()
	b, err := io.ReadAll(body)
	must(t, err)
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != d.DatasetParts[0].SHA256 {
		t.Fatalf("the original's sha256 is not the part's recorded one")
	}
	return b
}

// tusLog records the tus requests the server got for one upload URL
// (HEAD, PATCH with its Upload-Offset), seen through api.Server.Wrap.
type tusLog struct {
	mu   sync.Mutex
	reqs []tusReq
}

type tusReq struct {
	method string
	offset int64
	status int // 0: no answer written (the connection was cut)
}

func (l *tusLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1/uploads/") {
			next.ServeHTTP(w, r)
			return
		}
		off, _ := strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		l.mu.Lock()
		l.reqs = append(l.reqs, tusReq{r.Method, off, sw.status})
		l.mu.Unlock()
	})
}

// statusWriter notes the status of an answer; Unwrap keeps the server's
// http.ResponseController calls (read deadlines) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// patches are the PATCHes as "offset→status", in order.
func (l *tusLog) patches() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.reqs {
		if r.method == "PATCH" {
			out = append(out, fmt.Sprintf("%d→%d", r.offset, r.status))
		}
	}
	return out
}

func (l *tusLog) reset() { l.mu.Lock(); l.reqs = nil; l.mu.Unlock() }

func (l *tusLog) count(method string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if r.method == method {
			n++
		}
	}
	return n
}

// offsets are the Upload-Offsets of the PATCHes, in order.
func (l *tusLog) offsets() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int64
	for _, r := range l.reqs {
		if r.method == "PATCH" {
			out = append(out, r.offset)
		}
	}
	return out
}

package nethttp_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/capsule-go/capsule/integrations/nethttp"
)

// chromium returns the path of a Chromium (or Chrome) binary, or skips the
// test saying how to get one. CAPSULE_CHROMIUM names one explicitly.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAPSULE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found: install it (Debian: apt-get install -y chromium chromium-driver; .ci/run does) or set CAPSULE_CHROMIUM to run the explorer's browser tests")
	return ""
}

// artifactDir is where the browser tests save their screenshots:
// $CAPSULE_ARTIFACTS/explorer when set (CI keeps it), else a temporary
// directory removed after the test.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("CAPSULE_ARTIFACTS"); base != "" {
		dir = filepath.Join(base, "explorer")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser starts a headless Chromium for the test and returns its
// context; everything stops when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // root in containers and CI
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// actionTimeout bounds each step of a browser test; the machine may be
// slow, so it is generous.
const actionTimeout = time.Minute

// run runs steps in the browser, failing the test with what on error.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns a value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot saves the whole page as dir/name.
func screenshot(dir, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		png, err := chromedp.FullScreenshot(100)(ctx, t)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, name), png, 0o644)
	})
}

// seesText fails the test unless the visible text of the page holds every
// one of want, and returns the text.
func seesText(t *testing.T, ctx context.Context, page string, want ...string) string {
	t.Helper()
	text := value(t, ctx, page+": read the page text", chromedp.Text(chromedp.CSS("body")))
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s: the page does not show %q; it shows:\n%s", page, w, text)
		}
	}
	return text
}

// TestExplorerInBrowser drives the explorer the way a person does: open
// the mount point, click from the chain list to a chain, filter it, open a
// capsule and come back, verify the chain, then verify it again after
// tampering and find the broken link marked.
func TestExplorerInBrowser(t *testing.T) {
	ctx := browser(t)
	dir := artifactDir(t)
	f := newFixture(t, backends()[0]) // SQLite
	srv := serve(t, nethttp.Handler(f.store, nethttp.WithResolver(f.caps.Resolver())))

	// The mount point, opened by a browser, leads to the chains.
	run(t, ctx, "open the mount point",
		chromedp.Navigate(srv.URL+prefix+"/"),
		chromedp.WaitVisible(chromedp.CSS("table.list")),
		screenshot(dir, "1-chains.png"),
	)
	if url := value(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(url, prefix+"/explore/") {
		t.Errorf("the mount point led to %s, want the explorer", url)
	}
	// The stylesheet loaded under the page's Content-Security-Policy.
	bg := value(t, ctx, "header style", chromedp.Evaluate[string](`getComputedStyle(document.querySelector("header.top")).backgroundColor`))
	if bg != "rgb(29, 35, 48)" {
		t.Errorf("header background %q: the stylesheet did not apply", bg)
	}
	seesText(t, ctx, "chains page", "Chains 1–3 of 3", "(null tenant)", tenantA, tenantB, "Verify")

	// Click a chain: its capsules, newest first.
	run(t, ctx, "click chain "+tenantA,
		chromedp.Click(chromedp.CSS(`a.tenant[href="chain?tenant_id=`+tenantA+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("form.filter")),
		screenshot(dir, "2-chain.png"),
	)
	text := seesText(t, ctx, "chain page", "Chain "+tenantA, "Newest first: capsules 1–7 of 7", "success")
	if i6, i0 := strings.Index(text, "\n6\t"), strings.Index(text, "\n0\t"); i6 < 0 || i0 < 0 || i6 > i0 {
		t.Errorf("chain page: sequence 6 is not listed before sequence 0:\n%s", text)
	}

	// Filter by type: the tool capsules of the chain are 1 and 4.
	run(t, ctx, "filter by type",
		chromedp.SetValue(chromedp.CSS("#type"), "tool"),
		chromedp.Click(chromedp.CSS("form.filter button")),
		chromedp.WaitVisible(`//p[contains(., "of type")]`),
		screenshot(dir, "3-chain-type-tool.png"),
	)
	seesText(t, ctx, "filtered chain page", "capsules 1–2 of 2 of type tool")
	if rows := value(t, ctx, "count rows", chromedp.Evaluate[int](`document.querySelectorAll("table.list tbody tr").length`)); rows != 2 {
		t.Errorf("filtered chain page shows %d rows, want 2", rows)
	}

	// Open a capsule: its six sections and its seal, readable.
	victim := f.chains[tenantA][4]
	run(t, ctx, "open capsule "+victim.ID,
		chromedp.Click(chromedp.CSS(`a[href^="capsule/`+victim.ID+`"]`)),
		chromedp.WaitVisible(chromedp.CSS("section.seal")),
		screenshot(dir, "4-capsule.png"),
	)
	seesText(t, ctx, "capsule page", "Capsule "+victim.ID, "request 4 of", "<b>&</b>",
		"Trigger", "Context", "Reasoning", "Authority", "Execution", "Outcome", "Seal", victim.Hash, "a<b && c>d",
		`"html": "<script>"`)

	// And back to the chain.
	run(t, ctx, "back to the chain",
		chromedp.Click(`//a[contains(., "Back to chain")]`),
		chromedp.WaitVisible(chromedp.CSS("form.filter")),
	)
	if url := value(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(url, "/explore/chain?tenant_id="+tenantA) {
		t.Errorf("the back link led to %s", url)
	}

	// Verify the chain: valid.
	run(t, ctx, "verify",
		chromedp.Click(`//a[contains(., "Verify this chain")]`),
		chromedp.WaitVisible(chromedp.CSS(".verdict")),
		screenshot(dir, "5-verify-valid.png"),
	)
	seesText(t, ctx, "verify page", "✓ Chain valid", "7 of 7 capsules verified at level signatures")

	// Tamper with capsule 4's content behind the store's back: the page
	// now marks it as the broken link.
	f.tamper(t, tenantA, victim.ID, "data", strings.Replace(string(victim.Data), "request 4", "request 9", 1))
	run(t, ctx, "verify the tampered chain",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(".verdict.broken")),
		screenshot(dir, "6-verify-broken.png"),
	)
	seesText(t, ctx, "verify page after tampering", "✗ Chain broken at sequence 4", "hash", "Around the broken link")
	marked := value(t, ctx, "broken rows", chromedp.Evaluate[int](`document.querySelectorAll("tr.broken").length`))
	row := value(t, ctx, "broken row", chromedp.Text(chromedp.CSS("tr.broken")))
	if marked != 1 || !strings.Contains(row, "broken link") || !strings.Contains(row, victim.ID[:8]) {
		t.Errorf("broken link marking: %d rows, text %q", marked, row)
	}

	// The broken capsule opens from the verdict.
	run(t, ctx, "open the broken capsule",
		chromedp.Click(`//a[contains(., "Open the broken capsule")]`),
		chromedp.WaitVisible(chromedp.CSS("section.seal")),
	)
	seesText(t, ctx, "broken capsule page", "request 9 of")
}

// TestExplorerInBrowserBound checks that a tenant-bound explorer shows a
// person their own chain only, and another tenant's capsule as missing.
func TestExplorerInBrowserBound(t *testing.T) {
	ctx := browser(t)
	dir := artifactDir(t)
	f := newFixture(t, backends()[0])
	srv := serve(t, nethttp.Handler(f.store, nethttp.WithTenantFunc(func(*http.Request) (string, bool) { return tenantB, true })))
	run(t, ctx, "open the bound explorer",
		chromedp.Navigate(srv.URL+prefix+"/explore/"),
		chromedp.WaitVisible(chromedp.CSS("table.list")),
		screenshot(dir, "7-bound-chains.png"),
	)
	text := seesText(t, ctx, "bound chains page", "The chain of your tenant.", tenantB)
	if strings.Contains(text, tenantA) || strings.Contains(text, "(null tenant)") {
		t.Errorf("bound chains page shows another tenant:\n%s", text)
	}
	run(t, ctx, "open another tenant's capsule",
		chromedp.Navigate(srv.URL+prefix+"/explore/capsule/"+f.chains[tenantA][0].ID),
		chromedp.WaitVisible(chromedp.CSS(".verdict")),
		screenshot(dir, "8-bound-foreign-capsule.png"),
	)
	seesText(t, ctx, "another tenant's capsule", "404 · capsule not found")
}

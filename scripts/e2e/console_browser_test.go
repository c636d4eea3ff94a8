package e2e

import (
	"context"
	"flag"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pbxhooks/pbxhooks/scripts/internal/stack"
	"github.com/pbxhooks/pbxhooks/scripts/internal/teststack"
	"github.com/pbxhooks/pbxhooks/testkit/testenv"
)

// -screenshots writes the console test's screenshots into docs/console/
// (committed, shown by docs/CONSOLE.md); without it they go to a temporary
// directory. `make console-screenshots` sets it.
var screenshots = flag.Bool("screenshots", false, "write the console screenshots into docs/console/")

// chromiumFlags are the launch flags that work on a CI machine as root:
// no sandbox, no GPU, no network chatter of its own, a fresh profile.
func chromiumOptions(t *testing.T) []chromedp.ExecAllocatorOption {
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("Debian's chromium is needed for the console browser test (apt-get install chromium; .ci/run installs it): %v", err)
	}
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	}
}

// tab is one browser tab driven by the test.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string
}

func newTab(t *testing.T, base, dir string) *tab {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumOptions(t)...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	// The first run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &tab{t: t, ctx: ctx, base: base, dir: dir}
}

// another opens a second tab of the same browser (sharing its session).
func (b *tab) another() *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	// The first run opens the tab; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.t.Fatalf("open a tab: %v", err)
	}
	return &tab{t: b.t, ctx: ctx, base: b.base, dir: b.dir}
}

// do runs steps, failing the test on the first error; each batch is bounded
// so a missing element fails instead of hanging.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func run[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (b *tab) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

func (b *tab) text(sel string) string { b.t.Helper(); return run(b, chromedp.Text(chromedp.CSS(sel))) }

// expectText waits for sel to show want; while a page is loading the
// query may fail, which counts as not yet.
func (b *tab) expectText(sel, want string) {
	b.t.Helper()
	testenv.Eventually(b.t, 30*time.Second, want+" in "+sel+" (at "+b.location()+")", func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		return err == nil && strings.Contains(text, want)
	})
}

// shot saves a full-page PNG of what the browser shows.
func (b *tab) shot(name string) {
	b.t.Helper()
	png := run(b, chromedp.FullScreenshot(100))
	if len(png) < 8 || string(png[1:4]) != "PNG" {
		b.t.Fatalf("screenshot %s is not a PNG", name)
	}
	if err := os.WriteFile(filepath.Join(b.dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// TestConsoleInBrowser uses the console as a person would, in Debian's
// Chromium against the four services: sign in, add a missed-call webhook
// pointing at a receiver, fire it, watch the delivery arrive, and be
// refused another account's pages and a form without its CSRF token.
func TestConsoleInBrowser(t *testing.T) {
	st := teststack.Start(t, teststack.Options{})
	recv := &teststack.Receiver{}
	target := httptest.NewServer(recv)
	defer target.Close()

	dir := t.TempDir()
	if *screenshots {
		wd, _ := os.Getwd()
		root, err := stack.RepoRoot(wd)
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "docs", "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b := newTab(t, st.URL("api"), dir)

	// Sign in as the admin and open an account.
	b.open("/console/")
	b.do(chromedp.WaitVisible(chromedp.CSS("#token")))
	b.shot("01-sign-in")
	b.do(chromedp.SendKeys(chromedp.CSS("#token"), st.Cfg.AdminToken), chromedp.Submit(chromedp.CSS("#token")),
		chromedp.WaitVisible(chromedp.CSS("#account_id")))
	b.do(chromedp.SendKeys(chromedp.CSS("#account_id"), "acme"), chromedp.Submit(chromedp.CSS("#account_id")))
	b.expectText("main h1", "Webhooks")
	b.expectText("main", "no webhooks yet")

	// Add an incoming + missed call webhook pointing at the receiver.
	b.do(chromedp.Click(chromedp.CSS(`a[href$="/new-webhook/call"]`)), chromedp.WaitVisible(chromedp.CSS("#name")))
	b.do(chromedp.SendKeys(chromedp.CSS("#name"), "Missed calls"),
		chromedp.SendKeys(chromedp.CSS("#uri"), target.URL+"/missed"),
		chromedp.Click(chromedp.CSS(`input[name="call_types"][value="incoming_call"]`)),
		chromedp.Click(chromedp.CSS(`input[name="call_statuses"][value="missed"]`)))
	b.shot("03-add-call-webhook")
	b.do(chromedp.Submit(chromedp.CSS("#name")))
	b.expectText("main", "Webhook created.")
	if secret := b.text("#secret-value"); !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("the new hook's secret is not shown: %q", secret)
	}
	b.shot("04-hook-created")

	// A second tab follows the live tail while the first runs the simulator.
	liveTab := b.another()
	liveTab.open("/console/a/acme/live")
	liveTab.expectText("#live-state", "Live:")

	// The simulator's missed call reaches the receiver and the delivery log.
	b.do(chromedp.Click(chromedp.CSS(`nav a[href$="/simulate"]`)), chromedp.WaitVisible(chromedp.CSS("#scenario")))
	b.do(chromedp.SetValue(chromedp.CSS("#scenario"), "missed-call"), chromedp.Submit(chromedp.CSS("#scenario")))
	b.expectText("#simulated", "missed-call")
	callID := b.text("#simulated dd code")
	b.shot("13-simulator")
	testenv.Eventually(t, 30*time.Second, "the missed call's callback", func() bool {
		return len(recv.Calls()) >= 1
	})
	if body := string(recv.Calls()[0].Body); callID == "" || !strings.Contains(body, callID) {
		t.Fatalf("callback body %s lacks the simulated call id %q", body, callID)
	}
	testenv.Eventually(t, 30*time.Second, "the delivery in the log", func() bool {
		b.open("/console/a/acme/deliveries")
		return strings.Contains(b.text("main"), "attempt 1")
	})
	b.do(chromedp.Click(chromedp.CSS("details.attempt summary")))
	b.expectText("details.attempt", "HTTP 200")

	// The live tail showed the call's events and the delivery as they happened.
	liveTab.expectText("#live-deliveries", "success")
	liveTab.expectText("#live-deliveries", "Missed calls")
	liveTab.expectText("#live-events", "missed")
	liveTab.shot("14-live-tail")

	// Resend it: the same delivery gets a second attempt.
	b.do(chromedp.Click(chromedp.CSS(`details.attempt form[action$="/resend"] button`)))
	b.expectText("main .notice", "queued")
	testenv.Eventually(t, 30*time.Second, "the resent delivery's second attempt", func() bool {
		b.open("/console/a/acme/deliveries")
		return strings.Contains(b.text("main"), "attempt 2")
	})
	if n := len(recv.Calls()); n != 2 {
		t.Fatalf("receiver got %d callbacks after the resend, want 2", n)
	}
	if first, second := recv.Calls()[0].Header.Get("Webhook-Id"), recv.Calls()[1].Header.Get("Webhook-Id"); first == "" || first != second {
		t.Fatalf("resend webhook-id %q, first %q: want the same", second, first)
	}
	b.do(chromedp.Click(chromedp.CSS("details.attempt summary")))
	b.shot("06-deliveries")

	// The call timeline opens from the simulator's answer and shows its
	// events (indexed in batches, so reloaded until they are) and delivery.
	testenv.Eventually(t, 30*time.Second, "the simulated call's timeline", func() bool {
		b.open("/console/a/acme/timeline?call=" + url.QueryEscape(callID))
		return strings.Contains(b.text("main"), "Events as ingested")
	})
	b.expectText("main table", "missed")
	b.expectText("main table", "ringing")
	b.expectText("main .delivery", "Missed calls")
	b.expectText("main .delivery", "2 attempt(s)")
	b.shot("15-call-timeline")

	// Test fire from the hook page shows its attempt.
	b.open("/console/a/acme/webhooks")
	b.expectText("main table", "Missed calls")
	b.expectText("main table", "success")
	b.shot("02-webhooks")
	b.do(chromedp.Click(chromedp.CSS("main table th a")))
	b.expectText("main h1", "Missed calls")
	b.do(chromedp.Click(chromedp.CSS(`form[action$="/test"] button`)))
	b.expectText("main", "Test fire")
	b.shot("05-hook-detail")
	testenv.Eventually(t, 30*time.Second, "the test callback", func() bool {
		return len(recv.Calls()) >= 3
	})

	// The filter preview on the add form finds the simulated missed call.
	b.open("/console/a/acme/new-webhook/call")
	b.do(chromedp.WaitVisible(chromedp.CSS("#name")),
		chromedp.SendKeys(chromedp.CSS("#name"), "Preview"),
		chromedp.SendKeys(chromedp.CSS("#uri"), target.URL+"/preview"),
		chromedp.Click(chromedp.CSS(`input[name="call_statuses"][value="missed"]`)),
		chromedp.Click(chromedp.CSS(`button[name="action"][value="preview"]`)))
	b.expectText("#preview", "would have matched 1")
	b.shot("16-filter-preview")

	// A form posted without its CSRF token is refused.
	b.open("/console/a/acme/settings")
	b.shot("08-delivery-settings")
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('main form input[name="csrf_token"]').remove()`),
		chromedp.SendKeys(chromedp.CSS("#attempt_failure_count"), "5"),
		chromedp.Submit(chromedp.CSS("#attempt_failure_count")))
	b.expectText("main", "did not carry this session's CSRF token")
	b.shot("10-csrf-refused")

	b.open("/console/a/acme/dead-letters")
	b.expectText("main h1", "Dead letters")
	b.shot("07-dead-letters")

	// An account token for acme, shown once.
	b.open("/console/a/acme/tokens")
	b.do(chromedp.SendKeys(chromedp.CSS("#token-name"), "crm-integration"), chromedp.Submit(chromedp.CSS("#token-name")))
	b.expectText("main", "shown only now")
	token := b.text("#token-value")
	b.shot("09-api-tokens")

	// Signed in with it, the account's pages open and another's are refused.
	b.do(chromedp.Click(chromedp.CSS(`form[action="/console/sign-out"] button`)), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.do(chromedp.SendKeys(chromedp.CSS("#token"), token), chromedp.Submit(chromedp.CSS("#token")))
	b.expectText("main h1", "Webhooks")
	b.expectText("main table", "Missed calls")
	b.open("/console/a/other/webhooks")
	b.expectText("main h1", "403")
	b.shot("11-foreign-account-refused")

	// The list at a phone's width.
	b.open("/console/a/acme/webhooks")
	b.do(chromedp.EmulateViewport(360, 740, chromedp.EmulateMobile))
	b.expectText("main h1", "Webhooks")
	b.shot("12-webhooks-360px")
	width := run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if width > 360 {
		t.Errorf("the webhooks page is %d px wide at a 360 px viewport", width)
	}
}

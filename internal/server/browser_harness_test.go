package server_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds the system Chromium: SWITCHBOARD_TEST_CHROMIUM, else
// `chromium` on PATH. Without one the test skips, or fails in strict mode
// (CI), so CI can never pass by skipping.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SWITCHBOARD_TEST_CHROMIUM"); p != "" {
		return p
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("SWITCHBOARD_TEST_STRICT") == "1" {
		t.Fatal("chromium not installed (SWITCHBOARD_TEST_STRICT=1)")
	}
	t.Skip("chromium not installed")
	return ""
}

// startChromium starts a headless Chromium with a fresh profile and returns
// the context of its first tab; it is stopped when the test ends. The flags
// keep it off the network (this machine has none) and stop background
// throttling from slowing timers in hidden tabs.
func startChromium(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser without a timeout
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Package browsertest drives presenced's console in a real browser: headless
// Chromium, through the DevTools protocol (github.com/chromedp/chromedp). It
// is a module of its own so that the library's go.mod does not carry the
// browser driver; .ci/run runs it, after installing Debian's chromium when
// it is missing.
package browsertest

package engine_test

import (
	"context"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

// TestLobbyTimeout is the test the package documentation shows under
// "Testing with virtual time"; TestPackageDocShowsTestLobbyTimeout keeps the
// two the same.
func TestLobbyTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := engine.New(engine.Config{}) // created in the bubble: on its clock
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close() // before the bubble ends, with the goroutines it started
		sub, err := e.Subscribe(events.Filter{SubKey: "app", Channels: []string{"lobby"}}, events.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()

		start := time.Now()
		hb := engine.HeartbeatRequest{SubKey: "app", UUID: "alice", Channels: []string{"lobby"}, Timeout: time.Minute}
		if _, err := e.Heartbeat(context.Background(), hb); err != nil {
			t.Fatal(err)
		}
		if ev := <-sub.Events(); ev.Action != events.Join {
			t.Fatalf("got %s, want alice's join", ev.Action)
		}

		time.Sleep(59 * time.Second) // returns at once: the bubble's clock jumps
		if n, _ := e.Occupancy("app", "lobby"); n != 1 {
			t.Fatalf("occupancy %d a second before the deadline, want 1", n)
		}

		ev := <-sub.Events() // the clock runs on to the expiry
		if ev.Action != events.Timeout || ev.UUID != "alice" || ev.Occupancy != 0 {
			t.Fatalf("got %s of %q, occupancy %d; want alice's timeout, occupancy 0", ev.Action, ev.UUID, ev.Occupancy)
		}
		// At the deadline, a minute after the heartbeat, or at most one Tick
		// (1 s by default, plus 1 ms of timer resolution) after it.
		if d := time.Since(start); d < time.Minute || d > time.Minute+engine.DefaultTick+time.Millisecond {
			t.Fatalf("timed out %v after the heartbeat, want 1m0s to 1m1.001s", d)
		}
	})
}

// TestPackageDocShowsTestLobbyTimeout: the code under "Testing with virtual
// time" in the package documentation is TestLobbyTimeout, as gofmt prints
// both, so what the documentation shows is a test that passes.
func TestPackageDocShowsTestLobbyTimeout(t *testing.T) {
	fset := token.NewFileSet()
	doc, err := parser.ParseFile(fset, "engine.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	text := doc.Doc.Text()
	_, section, ok := strings.Cut(text, "\n# Testing with virtual time\n")
	if !ok {
		t.Fatal(`the package documentation has no section "Testing with virtual time"`)
	}
	code := firstCodeBlock(section)
	shown, err := format.Source([]byte(code))
	if err != nil {
		t.Fatalf("the documented test does not parse: %v\n%s", err, code)
	}

	src, err := os.ReadFile("virtualtime_test.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(fset, "virtualtime_test.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var real []byte
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "TestLobbyTimeout" {
			real = src[fset.Position(fn.Pos()).Offset:fset.Position(fn.End()).Offset]
		}
	}
	if real == nil {
		t.Fatal("no TestLobbyTimeout in virtualtime_test.go")
	}
	if real, err = format.Source(real); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(shown)) != strings.TrimSpace(string(real)) {
		t.Errorf("the package documentation shows\n%s\nbut TestLobbyTimeout is\n%s", shown, real)
	}
}

// firstCodeBlock returns the first code block of doc text, as
// go/ast.CommentGroup.Text gives it: its indented lines, unindented, and the
// blank lines within it, up to the first line of text after it.
func firstCodeBlock(text string) string {
	var code []string
	for line := range strings.Lines(text) {
		switch {
		case strings.HasPrefix(line, "\t"):
			code = append(code, strings.TrimPrefix(line, "\t"))
		case strings.TrimSpace(line) == "":
			if len(code) > 0 {
				code = append(code, "\n")
			}
		case len(code) > 0:
			return strings.Join(code, "")
		}
	}
	return strings.Join(code, "")
}

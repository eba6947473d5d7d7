package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/internal/natstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var bg = context.Background()

const sk = "sub-c-test"

// waitFor bounds every wait of these tests for something JetStream does
// (replication, a TTL running out): generous, as the machine may be slow.
const waitFor = 30 * time.Second

// testConfig is the base Config of the tests: short timeouts, a quick tick,
// quiet logs.
func testConfig(cfg Config) Config {
	if cfg.MinTimeout == 0 {
		cfg.MinTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Tick == 0 {
		cfg.Tick = 50 * time.Millisecond
	}
	return cfg
}

// newNode starts a node on its own connection to urls, closed when the test
// ends.
func newNode(t testing.TB, urls string, cfg Config) *Node {
	t.Helper()
	nc := natstest.Connect(t, urls)
	return newNodeOn(t, nc, cfg)
}

func newNodeOn(t testing.TB, nc *nats.Conn, cfg Config) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, waitFor)
	defer cancel()
	n, err := New(ctx, nc, testConfig(cfg))
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func beat(t testing.TB, n *Node, uuid string, channels ...string) engine.HeartbeatResult {
	t.Helper()
	res, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: channels, Timeout: time.Minute})
	require.NoError(t, err)
	return res
}

func hereNow(t testing.TB, n *Node, channel string) []string {
	t.Helper()
	res, err := n.HereNow(engine.HereNowRequest{SubKey: sk, Channels: []string{channel}, UUIDs: true})
	require.NoError(t, err)
	var out []string
	for _, cp := range res.Channels {
		for _, m := range cp.Members {
			out = append(out, m.UUID)
		}
	}
	slices.Sort(out)
	return out
}

// eventually waits until cond holds, checking it every few milliseconds, or
// fails after waitFor.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", waitFor, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder collects a subscription's events.
type recorder struct {
	sub *events.Subscription
	mu  sync.Mutex
	evs []events.Event
	wg  sync.WaitGroup
}

func record(t testing.TB, n *Node, f events.Filter) *recorder {
	t.Helper()
	sub, err := n.Subscribe(f, events.Options{Buffer: 1 << 16, Policy: events.Block})
	require.NoError(t, err)
	r := &recorder{sub: sub}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for ev := range sub.Events() {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		sub.Close()
		r.wg.Wait()
	})
	return r
}

func (r *recorder) events() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// waitN waits until r holds at least n events and returns them.
func (r *recorder) waitN(t testing.TB, n int) []events.Event {
	t.Helper()
	eventually(t, fmt.Sprintf("%d events", n), func() bool { return len(r.events()) >= n })
	return r.events()
}

// brief names events for comparisons: "join ch u occ=1".
func brief(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = fmt.Sprintf("%s %s %s occ=%d", ev.Action, ev.Channel, ev.UUID, ev.Occupancy)
		if len(ev.State) > 0 {
			out[i] += " " + string(ev.State)
		}
	}
	return out
}

func state(s string) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		panic(err)
	}
	return m
}

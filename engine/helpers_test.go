package engine

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/presenced/presence/events"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var ctx = context.Background()

const sk = "sub-c-test"

// newEngine returns an engine closed when the test ends.
func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// recorder collects the events of one subscription. Inside a synctest bubble,
// synctest.Wait() before take() makes sure every published event is in.
type recorder struct {
	mu  sync.Mutex
	evs []events.Event
}

func record(t *testing.T, e *Engine, f events.Filter) *recorder {
	t.Helper()
	sub, err := e.Subscribe(f, events.Options{Buffer: 1 << 20, Policy: events.Block})
	require.NoError(t, err)
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range sub.Events() {
			r.mu.Lock()
			r.evs = append(r.evs, ev)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { sub.Close(); <-done })
	return r
}

// take returns the events received since the last take.
func (r *recorder) take() []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.evs
	r.evs = nil
	return evs
}

// brief is an event reduced to what most tests compare.
type brief struct {
	Action    events.Action
	Channel   string
	UUID      string
	Occupancy int
	State     string
}

func briefs(evs []events.Event) []brief {
	out := make([]brief, len(evs))
	for i, ev := range evs {
		out[i] = brief{ev.Action, ev.Channel, ev.UUID, ev.Occupancy, string(ev.State)}
	}
	return out
}

// inBubble runs f in a synctest bubble with a fresh engine.
func inBubble(t *testing.T, cfg Config, f func(t *testing.T, e *Engine)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, cfg)
		f(t, e)
	})
}

func hb(uuid string, channels ...string) HeartbeatRequest {
	return HeartbeatRequest{SubKey: sk, UUID: uuid, Channels: channels}
}

func mustBeat(t *testing.T, e *Engine, r HeartbeatRequest) HeartbeatResult {
	t.Helper()
	res, err := e.Heartbeat(ctx, r)
	require.NoError(t, err)
	return res
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func hereNow(t *testing.T, e *Engine, channels ...string) map[string][]string {
	t.Helper()
	res, err := e.HereNow(HereNowRequest{SubKey: sk, Channels: channels, UUIDs: true})
	require.NoError(t, err)
	out := map[string][]string{}
	for _, cp := range res.Channels {
		for _, m := range cp.Members {
			out[cp.Channel] = append(out[cp.Channel], m.UUID)
		}
	}
	return out
}

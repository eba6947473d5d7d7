package impl

import (
	"context"
	"math"
	"time"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

// SubKey is the one sub key the engine adapter uses.
const SubKey = "bench"

// EngineAdapter runs the presence engine as a Presence. It configures the
// engine as the benchmarks need it: a minimum timeout of 1s, and every join,
// leave and timeout announced as an event of its own (AnnounceMax -1), as the
// baselines do.
type EngineAdapter struct {
	E *engine.Engine
}

// NewEngine returns an engine adapter with a new engine.
func NewEngine(o Options) (*EngineAdapter, error) {
	e, err := engine.New(EngineConfig(o))
	if err != nil {
		return nil, err
	}
	return &EngineAdapter{E: e}, nil
}

// EngineConfig is the engine configuration the adapter uses.
func EngineConfig(o Options) engine.Config {
	return engine.Config{
		MinTimeout:  time.Second,
		Tick:        o.Tick,
		AnnounceMax: -1,
	}
}

// Heartbeat implements Presence.
func (a *EngineAdapter) Heartbeat(uuid string, channels []string, timeout time.Duration) (int, error) {
	res, err := a.E.Heartbeat(context.Background(), engine.HeartbeatRequest{
		SubKey:   SubKey,
		UUID:     uuid,
		Channels: channels,
		Timeout:  timeout,
	})
	return len(res.Joined), err
}

// Leave implements Presence.
func (a *EngineAdapter) Leave(uuid string, channels []string) (int, error) {
	res, err := a.E.Leave(context.Background(), engine.LeaveRequest{SubKey: SubKey, UUID: uuid, Channels: channels})
	return len(res.Left), err
}

// Occupancy implements Presence.
func (a *EngineAdapter) Occupancy(channel string) (int, error) {
	return a.E.Occupancy(SubKey, channel)
}

// HereNow implements Presence.
func (a *EngineAdapter) HereNow(channel string, offset, limit int) (int, int, error) {
	res, err := a.E.HereNow(engine.HereNowRequest{
		SubKey:   SubKey,
		Channels: []string{channel},
		UUIDs:    true,
		Offset:   offset,
		Limit:    limit,
	})
	if err != nil || len(res.Channels) == 0 {
		return 0, 0, err
	}
	return res.Channels[0].Occupancy, len(res.Channels[0].Members), nil
}

// Members implements Presence.
func (a *EngineAdapter) Members(channel string) ([]string, error) {
	res, err := a.E.HereNow(engine.HereNowRequest{
		SubKey:   SubKey,
		Channels: []string{channel},
		UUIDs:    true,
		Limit:    math.MaxInt,
	})
	out := []string{}
	if err != nil || len(res.Channels) == 0 {
		return out, err
	}
	for _, m := range res.Channels[0].Members {
		out = append(out, m.UUID)
	}
	return out, nil
}

// Subscribe implements Presence with the Block policy: like the baselines,
// the engine then drops nothing and applies back-pressure instead.
func (a *EngineAdapter) Subscribe(channels []string, buffer int) (Subscription, error) {
	return a.E.Subscribe(
		events.Filter{SubKey: SubKey, Channels: channels},
		events.Options{Buffer: buffer, Policy: events.Block},
	)
}

// Close implements Presence.
func (a *EngineAdapter) Close() error { return a.E.Close() }

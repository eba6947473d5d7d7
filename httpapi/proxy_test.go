package httpapi

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

// proxy is a Presence that is not an *engine.Engine: it forwards each call
// to one, counting the calls and failing those a test asks it to fail. The
// handler's suite runs through it (newEnv), which shows that the Handler
// needs nothing of the engine beyond the Presence interface. Counting
// allocates nothing, so the allocation pins hold through it.
type proxy struct {
	eng   *engine.Engine
	calls [numCalls]atomic.Int64

	mu   sync.Mutex
	errs map[call]error // injected failures; guarded by mu
	any  atomic.Bool    // errs is not empty
}

// call names a method of Presence.
type call int

const (
	callHeartbeat call = iota
	callLeave
	callSetState
	callGetState
	callHereNow
	callWhereNow
	callOccupancy
	callGroups
	callGroupChannels
	callAddChannels
	callRemoveChannels
	callDeleteGroup
	callSubscribe
	numCalls
)

var _ Presence = (*proxy)(nil)

func newProxy(eng *engine.Engine) *proxy { return &proxy{eng: eng} }

// failWith makes every later call c return err (nil stops it).
func (p *proxy) failWith(c call, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.errs == nil {
		p.errs = make(map[call]error)
	}
	if err == nil {
		delete(p.errs, c)
	} else {
		p.errs[c] = err
	}
	p.any.Store(len(p.errs) > 0)
}

// count returns how many times c was called.
func (p *proxy) count(c call) int64 { return p.calls[c].Load() }

// enter counts a call of c and returns the failure injected for it, if any.
func (p *proxy) enter(c call) error {
	p.calls[c].Add(1)
	if !p.any.Load() {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errs[c]
}

func (p *proxy) Heartbeat(ctx context.Context, r engine.HeartbeatRequest) (engine.HeartbeatResult, error) {
	if err := p.enter(callHeartbeat); err != nil {
		return engine.HeartbeatResult{}, err
	}
	return p.eng.Heartbeat(ctx, r)
}

func (p *proxy) Leave(ctx context.Context, r engine.LeaveRequest) (engine.LeaveResult, error) {
	if err := p.enter(callLeave); err != nil {
		return engine.LeaveResult{}, err
	}
	return p.eng.Leave(ctx, r)
}

func (p *proxy) SetState(ctx context.Context, r engine.SetStateRequest) (json.RawMessage, error) {
	if err := p.enter(callSetState); err != nil {
		return nil, err
	}
	return p.eng.SetState(ctx, r)
}

func (p *proxy) GetState(r engine.GetStateRequest) (map[string]json.RawMessage, error) {
	if err := p.enter(callGetState); err != nil {
		return nil, err
	}
	return p.eng.GetState(r)
}

func (p *proxy) HereNow(r engine.HereNowRequest) (engine.HereNowResult, error) {
	if err := p.enter(callHereNow); err != nil {
		return engine.HereNowResult{}, err
	}
	return p.eng.HereNow(r)
}

func (p *proxy) WhereNow(subKey, uuid string) ([]string, error) {
	if err := p.enter(callWhereNow); err != nil {
		return nil, err
	}
	return p.eng.WhereNow(subKey, uuid)
}

func (p *proxy) Occupancy(subKey, channel string) (int, error) {
	if err := p.enter(callOccupancy); err != nil {
		return 0, err
	}
	return p.eng.Occupancy(subKey, channel)
}

func (p *proxy) Groups(subKey string) ([]string, error) {
	if err := p.enter(callGroups); err != nil {
		return nil, err
	}
	return p.eng.Groups(subKey)
}

func (p *proxy) GroupChannels(subKey, group string) ([]string, error) {
	if err := p.enter(callGroupChannels); err != nil {
		return nil, err
	}
	return p.eng.GroupChannels(subKey, group)
}

func (p *proxy) AddChannelsToGroup(subKey, group string, channels ...string) error {
	if err := p.enter(callAddChannels); err != nil {
		return err
	}
	return p.eng.AddChannelsToGroup(subKey, group, channels...)
}

func (p *proxy) RemoveChannelsFromGroup(subKey, group string, channels ...string) error {
	if err := p.enter(callRemoveChannels); err != nil {
		return err
	}
	return p.eng.RemoveChannelsFromGroup(subKey, group, channels...)
}

func (p *proxy) DeleteGroup(subKey, group string) error {
	if err := p.enter(callDeleteGroup); err != nil {
		return err
	}
	return p.eng.DeleteGroup(subKey, group)
}

func (p *proxy) Subscribe(f events.Filter, o events.Options) (*events.Subscription, error) {
	if err := p.enter(callSubscribe); err != nil {
		return nil, err
	}
	return p.eng.Subscribe(f, o)
}

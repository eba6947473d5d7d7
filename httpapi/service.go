package httpapi

import (
	"context"
	"encoding/json"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

// Presence is the presence service a Handler serves: the calls it makes, and
// nothing else. *engine.Engine, the in-memory engine, implements it; so may
// any other implementation, one whose members live in a store shared by
// several servers for instance. It speaks the engine package's vocabulary
// (request and result types, sentinel errors, name rules), which holds no
// state of its own: see "Design notes" in the package documentation.
//
// An implementation must be safe for concurrent use. Besides the engine
// package's sentinel errors, which the Handler maps to HTTP statuses (see
// Errors in the package documentation), it may return engine.ErrUnavailable
// when it cannot reach what it needs: the Handler answers 503 with a
// Retry-After, and the call must have applied nothing that a retry would
// not repeat harmlessly. Any other error is a 500.
type Presence interface {
	// Heartbeat joins the uuid where it is absent and moves its deadline
	// where it is present (see engine.Engine.Heartbeat).
	Heartbeat(ctx context.Context, r engine.HeartbeatRequest) (engine.HeartbeatResult, error)
	// Leave removes the uuid from the named channels.
	Leave(ctx context.Context, r engine.LeaveRequest) (engine.LeaveResult, error)
	// SetState replaces the uuid's state on channels where it is present and
	// returns the state stored, compacted (nil for {}).
	SetState(ctx context.Context, r engine.SetStateRequest) (json.RawMessage, error)
	// GetState returns the uuid's state on the named channels where it is
	// present, keyed by channel, {} for none.
	GetState(r engine.GetStateRequest) (map[string]json.RawMessage, error)
	// HereNow tells who is present on the requested channels, or on every
	// channel of the sub key.
	HereNow(r engine.HereNowRequest) (engine.HereNowResult, error)
	// WhereNow returns the channels the uuid is present on, sorted.
	WhereNow(subKey, uuid string) ([]string, error)
	// Occupancy returns the number of uuids present on a channel.
	Occupancy(subKey, channel string) (int, error)

	// Groups returns the channel groups of a sub key, sorted.
	Groups(subKey string) ([]string, error)
	// GroupChannels returns the channels of a group, sorted; empty when the
	// group does not exist.
	GroupChannels(subKey, group string) ([]string, error)
	// AddChannelsToGroup adds channels to a group, creating it.
	AddChannelsToGroup(subKey, group string, channels ...string) error
	// RemoveChannelsFromGroup removes channels from a group.
	RemoveChannelsFromGroup(subKey, group string, channels ...string) error
	// DeleteGroup deletes a group.
	DeleteGroup(subKey, group string) error

	// Subscribe opens a subscription to the presence events that match f.
	// The Handler opens one, to every sub key with events.DropOldest, to
	// feed the subscribe long-poll. Its events must carry their timetokens,
	// strictly increasing per sub key: the long-poll hands them to clients
	// as cursors.
	Subscribe(f events.Filter, o events.Options) (*events.Subscription, error)
}

var _ Presence = (*engine.Engine)(nil)

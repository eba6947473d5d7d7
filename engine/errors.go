package engine

import "errors"

// Sentinel errors. Every error the engine returns for bad input wraps one of
// these with the offending value, so callers match with errors.Is and show the
// message as it is. A call that returns one of them has applied nothing.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("presence: engine closed")
	// ErrInvalidConfig is returned by New for a Config field out of range.
	ErrInvalidConfig = errors.New("presence: invalid config")
	// ErrInvalidSubKey: the sub key is empty, too long or has forbidden characters.
	ErrInvalidSubKey = errors.New("presence: invalid sub key")
	// ErrInvalidUUID: the uuid is empty, blank, over 92 characters, not UTF-8 or
	// has control characters.
	ErrInvalidUUID = errors.New("presence: invalid uuid")
	// ErrInvalidChannel: a channel name breaks the naming rules or is reserved.
	ErrInvalidChannel = errors.New("presence: invalid channel")
	// ErrInvalidGroup: a channel group name breaks the naming rules or is reserved.
	ErrInvalidGroup = errors.New("presence: invalid channel group")
	// ErrNoChannels: a call that needs channels or groups named none.
	ErrNoChannels = errors.New("presence: no channels or channel groups given")
	// ErrTooManyChannels: a call named more channels or groups than
	// Config.MaxChannelsPerCall.
	ErrTooManyChannels = errors.New("presence: too many channels")
	// ErrInvalidTimeout: a negative heartbeat timeout.
	ErrInvalidTimeout = errors.New("presence: invalid timeout")
	// ErrInvalidState: state that is not a JSON object, or is keyed by a name the
	// call does not mention.
	ErrInvalidState = errors.New("presence: invalid state")
	// ErrStateTooLarge: a state object over Config.MaxStateBytes after compaction.
	ErrStateTooLarge = errors.New("presence: state too large")
	// ErrNotPresent: SetState for a uuid absent from some of the named channels.
	ErrNotPresent = errors.New("presence: uuid not present")
	// ErrGroupFull: adding channels would take a group past Config.MaxGroupChannels.
	ErrGroupFull = errors.New("presence: channel group full")
	// ErrInvalidPaging: a negative HereNow limit or offset.
	ErrInvalidPaging = errors.New("presence: invalid limit or offset")
	// ErrCapacity: a join would take the engine past Config.MaxMembers.
	ErrCapacity = errors.New("presence: member capacity reached")
	// ErrUnavailable: the presence calls cannot reach the store that holds
	// the members, for an implementation that keeps them elsewhere (several
	// servers sharing one store). The call applied nothing, unless the store
	// took a write whose answer was lost, which a retry repeats harmlessly;
	// retry it later. The in-memory Engine never returns it.
	ErrUnavailable = errors.New("presence: store unavailable")
)

package httpapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/presenced/presence/engine"
)

// TestClassify pins the mapping of every engine sentinel, wrapped as the
// engine wraps them, to a status and message.
func TestClassify(t *testing.T) {
	wrap := func(sentinel error, detail string) error { return fmt.Errorf("%w%s", sentinel, detail) }
	cases := []struct {
		err      error
		status   int
		message  string
		internal bool
	}{
		{wrap(engine.ErrInvalidUUID, ` "": is empty`), 400, `Invalid uuid "": is empty`, false},
		{wrap(engine.ErrInvalidChannel, ` "a b": contains a space`), 400, `Invalid channel "a b": contains a space`, false},
		{wrap(engine.ErrInvalidGroup, ` "g:": contains ':'`), 400, `Invalid channel group "g:": contains ':'`, false},
		{engine.ErrNoChannels, 400, "No channels or channel groups given", false},
		{wrap(engine.ErrTooManyChannels, ": 3 channels, at most 2"), 400, "Too many channels: 3 channels, at most 2", false},
		{wrap(engine.ErrInvalidTimeout, ": -1s is negative"), 400, "Invalid timeout: -1s is negative", false},
		{wrap(engine.ErrInvalidState, `: "[" is not a JSON object`), 400, `Invalid state: "[" is not a JSON object`, false},
		{fmt.Errorf("state for %q: %w", "a", wrap(engine.ErrStateTooLarge, ": 9 bytes, at most 8")), 400, `State for "a": state too large: 9 bytes, at most 8`, false},
		{wrap(engine.ErrInvalidPaging, ": limit -1 is negative"), 400, "Invalid limit or offset: limit -1 is negative", false},
		{wrap(engine.ErrNotPresent, `: "u" is not on a, b`), 400, `You must be present in a channel to set state for it: "u" is not on a, b`, false},
		{wrap(engine.ErrGroupFull, `: "g" would hold 3 channels, at most 2`), 400, "Maximum channel group count exceeded.", false},
		{wrap(engine.ErrInvalidSubKey, ": is empty"), 400, "Invalid Subscribe Key", false},
		{engine.ErrCapacity, 503, "Service Unavailable", true},
		{engine.ErrClosed, 503, "Service Unavailable", true},
		{context.Canceled, 503, "Service Unavailable", true},
		{fmt.Errorf("wait: %w", context.DeadlineExceeded), 503, "Service Unavailable", true},
		{errors.New("boom"), 500, "Internal Server Error", true},
		{internalError{engine.ErrInvalidUUID}, 500, "Internal Server Error", true},
		{badRequest("Invalid x"), 400, "Invalid x", false},
	}
	for _, tc := range cases {
		t.Run(tc.err.Error(), func(t *testing.T) {
			e, internal := classify(tc.err)
			assert.Equal(t, tc.status, e.status)
			assert.Equal(t, tc.message, e.message)
			assert.Equal(t, tc.internal, internal)
		})
	}
	e, _ := classify(engine.ErrCapacity)
	assert.Equal(t, []string{"5"}, e.retry, "capacity answers carry Retry-After")
	e, internal := classify(fmt.Errorf("node: %w", engine.ErrUnavailable))
	assert.Equal(t, 503, e.status)
	assert.True(t, internal)
	assert.Equal(t, []string{"1"}, e.retry, "an unreachable store answers with Retry-After")
}

package httpapi

import (
	"github.com/presenced/presence/engine"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Requests unmodified PubNub SDKs send that a strict reading of the wire
// format would refuse.
func TestSDKCompatibility(t *testing.T) {
	t.Run("heartbeat carries state of other channels", func(t *testing.T) {
		// The JavaScript SDK sends all the state it holds with every heartbeat.
		e := newEnv(t, Config{}, engine.Config{})
		e.beat("u1", map[string]string{"ch9": `{"keep":true}`}, "ch9")
		rec := e.get(pre + "/channel/ch1/heartbeat?uuid=u1&state=%7B%22ch1%22%3A%7B%22a%22%3A1%7D%2C%22ch9%22%3A%7B%22b%22%3A2%7D%7D")
		assert.Equal(t, 200, rec.Code, rec.Body.String())
		assertState(t, e, "u1", "ch1", `{"a":1}`)
		assertState(t, e, "u1", "ch9", `{"keep":true}`)
	})
	t.Run("heartbeat with unkeyed state", func(t *testing.T) {
		// The JavaScript SDK 12's setState({channels, state, withHeartbeat: true}).
		e := newEnv(t, Config{}, engine.Config{})
		rec := e.get(pre + "/channel/ch1,ch2/heartbeat?uuid=u1&heartbeat=20&state=%7B%22role%22%3A%22b%22%7D")
		assert.Equal(t, 200, rec.Code, rec.Body.String())
		assertState(t, e, "u1", "ch1", `{"role":"b"}`)
		assertState(t, e, "u1", "ch2", `{"role":"b"}`)
	})
	t.Run("heartbeat with an empty state object", func(t *testing.T) {
		// The JavaScript SDK's event engine when it holds no state.
		e := newEnv(t, Config{}, engine.Config{})
		e.beat("u1", map[string]string{"ch1": `{"keep":true}`}, "ch1")
		rec := e.get(pre + "/channel/ch1/heartbeat?uuid=u1&heartbeat=20&state=%7B%7D")
		assert.Equal(t, 200, rec.Code, rec.Body.String())
		assertState(t, e, "u1", "ch1", `{"keep":true}`)
	})
	t.Run("heartbeat=0", func(t *testing.T) {
		// The Go SDK's Heartbeat() with its default configuration (presence
		// timeout 0): the engine's default timeout.
		e := newEnv(t, Config{}, engine.Config{})
		rec := e.get(pre + "/channel/ch1/heartbeat?uuid=u1&heartbeat=0")
		assert.Equal(t, 200, rec.Code, rec.Body.String())
		assert.Equal(t, []string{"ch1"}, e.whereNow("u1"))
	})
	t.Run("heartbeat with state null", func(t *testing.T) {
		// The Go SDK's Presence().Connected(true) without State.
		e := newEnv(t, Config{}, engine.Config{})
		rec := e.get(pre + "/channel/ch1/heartbeat?uuid=u1&state=null")
		assert.Equal(t, 200, rec.Code, rec.Body.String())
		assert.Equal(t, []string{"ch1"}, e.whereNow("u1"))
		assertState(t, e, "u1", "ch1", `{}`)
	})
	t.Run("get state with an empty channel segment", func(t *testing.T) {
		// The Go SDK's GetState() naming only channel groups.
		e := newEnv(t, Config{}, engine.Config{})
		e.group("g", "ch1")
		e.beat("u1", map[string]string{"ch1": `{"a":1}`}, "ch1")
		rec := e.get(pre + "/channel//uuid/u1?channel-group=g")
		assert.Equal(t, 200, rec.Code, rec.Body.String())
		assert.JSONEq(t, `{"status":200,"message":"OK","payload":{"channels":{"ch1":{"a":1}}},"uuid":"u1","service":"Presence"}`, rec.Body.String())
	})
	t.Run("empty channel segment without groups", func(t *testing.T) {
		e := newEnv(t, Config{}, engine.Config{})
		rec := e.get(pre + "/channel//heartbeat?uuid=u1")
		assert.Equal(t, 400, rec.Code)
		assert.Contains(t, rec.Body.String(), "No channels")
	})
}

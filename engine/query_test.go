package engine

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHereNow(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		r := hb("alice", "a", "b")
		r.State = map[string]json.RawMessage{"a": raw(`{"k":"v"}`)}
		mustBeat(t, e, r)
		mustBeat(t, e, hb("bob", "a"))
		mustBeat(t, e, HeartbeatRequest{SubKey: "other", UUID: "x", Channels: []string{"a"}})
		require.NoError(t, e.AddChannelsToGroup(sk, "g", "b", "empty"))

		// Counts only.
		res, err := e.HereNow(HereNowRequest{SubKey: sk})
		require.NoError(t, err)
		assert.Equal(t, HereNowResult{
			Channels:       []ChannelPresence{{Channel: "a", Occupancy: 2}, {Channel: "b", Occupancy: 1}},
			TotalChannels:  2,
			TotalOccupancy: 3,
		}, res)

		// With state, one channel and a group; empty channels are left out.
		res, err = e.HereNow(HereNowRequest{SubKey: sk, Channels: []string{"a"}, Groups: []string{"g"}, State: true})
		require.NoError(t, err)
		require.Len(t, res.Channels, 2)
		members := map[string]string{}
		for _, m := range res.Channels[0].Members {
			members[m.UUID] = string(m.State)
		}
		assert.Equal(t, map[string]string{"alice": `{"k":"v"}`, "bob": ""}, members)
		assert.Equal(t, []Member{{UUID: "alice"}}, res.Channels[1].Members)
		assert.Equal(t, 3, res.TotalOccupancy)

		// Unknown sub key, unknown channel.
		res, err = e.HereNow(HereNowRequest{SubKey: "nobody", Channels: []string{"a"}, UUIDs: true})
		require.NoError(t, err)
		assert.Empty(t, res.Channels)
	})
}

func TestHereNowPaging(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		for i := range 25 {
			mustBeat(t, e, hb(uuidN(i), "big"))
		}
		seen := map[string]int{}
		for offset := 0; offset < 30; offset += 10 {
			res, err := e.HereNow(HereNowRequest{SubKey: sk, Channels: []string{"big"}, UUIDs: true, Limit: 10, Offset: offset})
			require.NoError(t, err)
			require.Len(t, res.Channels, 1)
			assert.Equal(t, 25, res.Channels[0].Occupancy)
			assert.Len(t, res.Channels[0].Members, min(10, 25-offset))
			for _, m := range res.Channels[0].Members {
				seen[m.UUID]++
			}
		}
		assert.Len(t, seen, 25, "pages cover every member once")
		for u, n := range seen {
			assert.Equal(t, 1, n, u)
		}
		res, err := e.HereNow(HereNowRequest{SubKey: sk, Channels: []string{"big"}, UUIDs: true, Offset: 100})
		require.NoError(t, err)
		assert.Equal(t, []Member{}, res.Channels[0].Members, "past the end: an empty page")

		_, err = e.HereNow(HereNowRequest{SubKey: sk, Limit: -1})
		assert.ErrorIs(t, err, ErrInvalidPaging)
		_, err = e.HereNow(HereNowRequest{SubKey: sk, Offset: -1})
		assert.ErrorIs(t, err, ErrInvalidPaging)
		_, err = e.HereNow(HereNowRequest{SubKey: sk, Channels: []string{"a b"}})
		assert.ErrorIs(t, err, ErrInvalidChannel)
	})
}

func TestWhereNow(t *testing.T) {
	inBubble(t, Config{}, func(t *testing.T, e *Engine) {
		where, err := e.WhereNow(sk, "alice")
		require.NoError(t, err)
		assert.Equal(t, []string{}, where)
		mustBeat(t, e, hb("alice", "c", "a", "b"))
		where, err = e.WhereNow(sk, "alice")
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "c"}, where)
		_, err = e.WhereNow(sk, "")
		assert.ErrorIs(t, err, ErrInvalidUUID)
	})
}

func TestGroups(t *testing.T) {
	inBubble(t, Config{MaxGroupChannels: 3}, func(t *testing.T, e *Engine) {
		require.NoError(t, e.AddChannelsToGroup(sk, "g1", "b", "a"))
		require.NoError(t, e.AddChannelsToGroup(sk, "g1", "a"), "adding twice is fine")
		require.NoError(t, e.AddChannelsToGroup(sk, "g2", "x"))

		chans, err := e.GroupChannels(sk, "g1")
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, chans)
		groups, err := e.Groups(sk)
		require.NoError(t, err)
		assert.Equal(t, []string{"g1", "g2"}, groups)

		err = e.AddChannelsToGroup(sk, "g1", "c", "d")
		require.ErrorIs(t, err, ErrGroupFull)
		assert.Contains(t, err.Error(), "4 channels, at most 3")
		chans, _ = e.GroupChannels(sk, "g1")
		assert.Equal(t, []string{"a", "b"}, chans, "nothing added")

		require.NoError(t, e.RemoveChannelsFromGroup(sk, "g1", "a", "zzz"))
		chans, _ = e.GroupChannels(sk, "g1")
		assert.Equal(t, []string{"b"}, chans)

		require.NoError(t, e.DeleteGroup(sk, "g2"))
		require.NoError(t, e.DeleteGroup(sk, "g2"))
		require.NoError(t, e.RemoveChannelsFromGroup(sk, "g1", "b"))
		groups, _ = e.Groups(sk)
		assert.Equal(t, []string{}, groups, "an emptied group is gone")
		chans, _ = e.GroupChannels(sk, "g1")
		assert.Equal(t, []string{}, chans)

		assert.ErrorIs(t, e.AddChannelsToGroup(sk, "bad group", "a"), ErrInvalidGroup)
		assert.ErrorIs(t, e.AddChannelsToGroup(sk, "g", "bad,channel"), ErrInvalidChannel)
		assert.ErrorIs(t, e.AddChannelsToGroup(sk, "g-pnpres", "a"), ErrInvalidGroup)
	})
}

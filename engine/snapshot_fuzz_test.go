package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fuzzConfig keeps expiry out of the way: restored members, overdue or not,
// stay put while the target checks them.
var fuzzConfig = Config{MinTimeout: time.Hour, MaxTimeout: 2 * time.Hour, Tick: time.Hour, MaxGroupChannels: 50, AnnounceMax: 3, IntervalDeltas: true}

// FuzzRestore feeds Restore arbitrary input, twice: as it is, and framed as
// the payload of a snapshot with valid checksums, so that mutations reach the
// records and not only the checksums. Restore must never panic; an input it
// refuses leaves the engine empty, with an error of the format or of a
// limit; one it takes writes a snapshot that restores to the same.
func FuzzRestore(f *testing.F) {
	f.Add([]byte(nil))
	f.Add([]byte(snapshotMagic))
	f.Add(payload(func(sw *snapWriter) {
		header(sw)
		sw.byte(tagChannel)
		sw.string("lobby")
		namedMember(sw, "alice")
		sw.uvarint(refNumbers)
		sw.uvarint(refEnd)
		sw.byte(modeAnnounce)
		end(sw, 1, 1, 1, 0)
	}))
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
		f.Add(seed[:len(seed)/2])
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		checkRestore(t, data)
		var framed bytes.Buffer
		sw := newSnapWriter(&framed)
		sw.buf = append(sw.buf, data...)
		require.NoError(t, sw.flush())
		checkRestore(t, framed.Bytes())
	})
}

// fuzzSeeds returns the snapshots of a few small engines.
func fuzzSeeds(f *testing.F) [][]byte {
	e, err := New(fuzzConfig)
	require.NoError(f, err)
	defer e.Close()
	var seeds [][]byte
	var buf bytes.Buffer
	_, err = e.Snapshot(&buf)
	require.NoError(f, err)
	seeds = append(seeds, bytes.Clone(buf.Bytes()))
	for _, r := range []HeartbeatRequest{
		{SubKey: "a", UUID: "alice", Channels: []string{"lobby", "hall"}, State: map[string]json.RawMessage{"lobby": raw(`{"x":1}`)}},
		{SubKey: "a", UUID: "bob", Channels: []string{"lobby"}},
		{SubKey: "a", UUID: "carol", Channels: []string{"lobby"}},
		{SubKey: "a", UUID: "dave", Channels: []string{"lobby"}}, // past AnnounceMax: interval mode
		{SubKey: "b", UUID: "erin", Channels: []string{"x.y"}},
	} {
		_, err := e.Heartbeat(ctx, r)
		require.NoError(f, err)
	}
	require.NoError(f, e.AddChannelsToGroup("a", "g", "lobby", "hall"))
	buf.Reset()
	_, err = e.Snapshot(&buf)
	require.NoError(f, err)
	return append(seeds, bytes.Clone(buf.Bytes()))
}

// checkRestore restores data into a new engine and checks the outcome.
func checkRestore(t *testing.T, data []byte) {
	e, err := New(fuzzConfig)
	require.NoError(t, err)
	defer e.Close()
	info, err := e.Restore(bytes.NewReader(data))
	if err != nil {
		known := []error{ErrSnapshotCorrupt, ErrSnapshotTruncated, ErrSnapshotVersion, ErrCapacity, ErrStateTooLarge, ErrGroupFull}
		ok := false
		for _, k := range known {
			ok = ok || errors.Is(err, k)
		}
		require.True(t, ok, "unexpected error %v", err)
		require.Zero(t, e.Stats(), "a refused input restores nothing")
		require.NoError(t, e.checkEmpty())
		return
	}
	st := e.Stats()
	require.Equal(t, int64(info.Members), st.Members)
	require.Equal(t, int64(info.UUIDs), st.UUIDs)
	require.Equal(t, int64(info.Channels), st.Channels)

	var again bytes.Buffer
	_, err = e.Snapshot(&again)
	require.NoError(t, err)
	e2, err := New(fuzzConfig)
	require.NoError(t, err)
	defer e2.Close()
	info2, err := e2.Restore(&again)
	require.NoError(t, err, "a restored engine's snapshot restores")
	require.Equal(t, info.Members, info2.Members)
	require.Equal(t, info.UUIDs, info2.UUIDs)
	require.Equal(t, info.Channels, info2.Channels)
	require.Equal(t, info.Groups, info2.Groups)
	require.Equal(t, deltasOf(e), deltasOf(e2))
}

package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleSnapshot returns the snapshot of a small engine with a bit of
// everything: uuids on one and on several channels, state, groups, two sub
// keys, and blocks enough that damage can hit any part.
func sampleSnapshot(t *testing.T) []byte {
	t.Helper()
	var snap []byte
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{})
		for i := range 100 {
			r := hb("u"+strconv.Itoa(i)+strings.Repeat("x", i%60), "lobby", "hall")
			if i%2 == 0 {
				r.State = map[string]json.RawMessage{"lobby": raw(`{"i":"` + strings.Repeat("y", 3000) + `"}`)}
			}
			mustBeat(t, e, r)
		}
		_, err := e.Heartbeat(ctx, HeartbeatRequest{SubKey: "other", UUID: "z", Channels: []string{"c"}})
		require.NoError(t, err)
		require.NoError(t, e.AddChannelsToGroup(sk, "g", "lobby", "hall"))
		snap, _ = snapshot(t, e)
	})
	return snap
}

// requireNothingRestored fails unless e holds nothing and still takes the
// good snapshot.
func requireNothingRestored(t *testing.T, e *Engine, good []byte) {
	t.Helper()
	assert.Zero(t, e.Stats())
	res, err := e.HereNow(HereNowRequest{SubKey: sk})
	require.NoError(t, err)
	assert.Empty(t, res.Channels)
	groups, err := e.Groups(sk)
	require.NoError(t, err)
	assert.Empty(t, groups)
	_, err = e.Restore(bytes.NewReader(good))
	require.NoError(t, err, "a failed restore leaves the engine as new")
}

// payload returns a snapshot whose payload write writes, framed and
// checksummed as Snapshot frames it: for inputs that pass every checksum
// and are wrong inside.
func payload(write func(sw *snapWriter)) []byte {
	var buf bytes.Buffer
	sw := newSnapWriter(&buf)
	write(sw)
	if err := sw.flush(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// header starts a crafted payload: the header record and one sub key.
func header(sw *snapWriter) {
	sw.byte(tagHeader)
	sw.varint(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	sw.byte(tagSubKey)
	sw.string(sk)
}

// end ends a crafted payload with the counts given.
func end(sw *snapWriter, subKeys, channels, members, groups uint64) {
	sw.byte(tagEnd)
	for _, n := range []uint64{subKeys, channels, members, groups} {
		sw.uvarint(n)
	}
	sw.varint(0)
	sw.varint(0)
}

// namedMember writes a member named in place with no state.
func namedMember(sw *snapWriter, uuid string) {
	sw.uvarint(refNamed)
	sw.string(uuid)
	sw.varint(int64(time.Minute))
	sw.uvarint(0)
}

func TestRestoreRejects(t *testing.T) {
	good := sampleSnapshot(t)
	version2 := bytes.Clone(good)
	binary.LittleEndian.PutUint32(version2[len(snapshotMagic):], 2)

	tests := []struct {
		name  string
		input []byte
		cfg   Config
		want  error
		says  string // the message names the problem
	}{
		{"empty", nil, Config{}, ErrSnapshotTruncated, "the input is empty"},
		{"not a snapshot", []byte(`{"members": []}`), Config{}, ErrSnapshotCorrupt, "not a presence snapshot"},
		{"a short foreign file", []byte("GIF"), Config{}, ErrSnapshotCorrupt, "not a presence snapshot"},
		{"a prefix of the magic", []byte("PRES"), Config{}, ErrSnapshotTruncated, "inside the 12-byte header"},
		{"unknown version", version2, Config{}, ErrSnapshotVersion, "version 2, this build reads version 1"},
		{"header only", good[:snapHeaderLen], Config{}, ErrSnapshotTruncated, "after 0 blocks, before the end record"},
		{"cut in a block", good[:len(good)-3], Config{}, ErrSnapshotTruncated, "inside block"},
		{"trailing data", append(bytes.Clone(good), 0), Config{}, ErrSnapshotCorrupt, "data follows the end record"},
		{"a byte changed", flip(good, len(good)/2), Config{}, ErrSnapshotCorrupt, "fails its checksum"},
		{"a huge block", append(bytes.Clone(good[:snapHeaderLen]), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), Config{}, ErrSnapshotCorrupt, "claims 4294967295 bytes"},
		{"more members than MaxMembers", good, Config{MaxMembers: 10}, ErrCapacity, "more than 10 members"},
		{"a state above MaxStateBytes", good, Config{MaxStateBytes: 100}, ErrStateTooLarge, `channel "lobby"`},
		{"a group above MaxGroupChannels", good, Config{MaxGroupChannels: 1}, ErrGroupFull, `group "g" holds 2 channels`},

		{"no header record", payload(func(sw *snapWriter) {
			sw.byte(tagSubKey)
			sw.string(sk)
		}), Config{}, ErrSnapshotCorrupt, "before the header record"},
		{"a channel before any sub key", payload(func(sw *snapWriter) {
			sw.byte(tagHeader)
			sw.varint(0)
			sw.byte(tagChannel)
			sw.string("lobby")
		}), Config{}, ErrSnapshotCorrupt, "before the first sub key"},
		{"an unknown record", payload(func(sw *snapWriter) {
			header(sw)
			sw.byte('Z')
		}), Config{}, ErrSnapshotCorrupt, "unknown record 'Z'"},
		{"an invalid channel name", payload(func(sw *snapWriter) {
			header(sw)
			sw.byte(tagChannel)
			sw.string("a b")
		}), Config{}, ErrInvalidChannel, "contains a space"},
		{"an invalid sub key", payload(func(sw *snapWriter) {
			sw.byte(tagHeader)
			sw.varint(0)
			sw.byte(tagSubKey)
			sw.string("a/b")
		}), Config{}, ErrInvalidSubKey, "contains '/'"},
		{"an invalid uuid", payload(func(sw *snapWriter) {
			header(sw)
			sw.byte(tagChannel)
			sw.string("lobby")
			namedMember(sw, "\x01")
		}), Config{}, ErrInvalidUUID, "control"},
		{"a uuid twice on a channel", payload(func(sw *snapWriter) {
			header(sw)
			sw.byte(tagChannel)
			sw.string("lobby")
			namedMember(sw, "alice")
			namedMember(sw, "alice")
		}), Config{}, ErrSnapshotCorrupt, `uuid "alice" appears twice on channel "lobby"`},
		{"a uuid number never named", payload(func(sw *snapWriter) {
			header(sw)
			sw.byte(tagChannel)
			sw.string("lobby")
			sw.uvarint(refNumbers + 3)
		}), Config{}, ErrSnapshotCorrupt, "uuid number 3, but 0 are named so far"},
		{"a channel twice", payload(func(sw *snapWriter) {
			header(sw)
			for range 2 {
				sw.byte(tagChannel)
				sw.string("lobby")
				namedMember(sw, "alice")
				sw.uvarint(refEnd)
				sw.byte(modeAnnounce)
			}
		}), Config{}, ErrSnapshotCorrupt, `channel "lobby" appears twice`},
		{"state that is not an object", payload(func(sw *snapWriter) {
			header(sw)
			sw.byte(tagChannel)
			sw.string("lobby")
			sw.uvarint(refNamed)
			sw.string("alice")
			sw.varint(0)
			sw.string(`[1,2]`)
		}), Config{}, ErrInvalidState, "not a JSON object"},
		{"an unknown channel mode", payload(func(sw *snapWriter) {
			header(sw)
			sw.byte(tagChannel)
			sw.string("lobby")
			namedMember(sw, "alice")
			sw.uvarint(refEnd)
			sw.byte(7)
		}), Config{}, ErrSnapshotCorrupt, "unknown mode 7"},
		{"counts that do not add up", payload(func(sw *snapWriter) {
			header(sw)
			sw.byte(tagChannel)
			sw.string("lobby")
			namedMember(sw, "alice")
			sw.uvarint(refEnd)
			sw.byte(modeAnnounce)
			end(sw, 1, 1, 2, 0)
		}), Config{}, ErrSnapshotCorrupt, "the end record counts 1 sub keys, 1 channels, 2 members and 0 groups; the snapshot holds 1, 1, 1 and 0"},
		{"a malformed varint", payload(func(sw *snapWriter) {
			header(sw)
			sw.byte(tagChannel)
			sw.string("lobby")
			for range 11 {
				sw.byte(0xff)
			}
		}), Config{}, ErrSnapshotCorrupt, "malformed varint"},
		{"bytes after the end record", payload(func(sw *snapWriter) {
			header(sw)
			end(sw, 1, 0, 0, 0)
			sw.byte(0)
		}), Config{}, ErrSnapshotCorrupt, "1 bytes follow the end record"},
		{"no end record", payload(header), Config{}, ErrSnapshotTruncated, "before the end record"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEngine(t, tt.cfg)
				_, err := e.Restore(bytes.NewReader(tt.input))
				require.ErrorIs(t, err, tt.want)
				assert.Contains(t, err.Error(), tt.says)
				if tt.cfg.MaxMembers == 0 && tt.cfg.MaxStateBytes == 0 && tt.cfg.MaxGroupChannels == 0 {
					requireNothingRestored(t, e, good)
				} else {
					assert.Zero(t, e.Stats()) // the good snapshot does not fit either
				}
			})
		})
	}
}

// flip returns a copy of b with one bit of byte i flipped.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1 << (i % 8)
	return c
}

// TestRestoreRejectsEveryPrefixAndEveryFlip cuts a snapshot at every length
// and flips a bit of every byte: each is refused with an error of the
// format, and restores nothing.
func TestRestoreRejectsEveryPrefixAndEveryFlip(t *testing.T) {
	good := sampleSnapshot(t)
	require.Greater(t, len(good), 2*snapBlockSize, "blocks enough to damage several")
	// Every length would take long: every length near a boundary of the
	// header and of the blocks, and a stride through the rest.
	cuts := map[int]bool{}
	for i := 0; i < len(good); i += 97 {
		cuts[i] = true
	}
	for _, at := range []int{0, snapHeaderLen, snapHeaderLen + 8 + snapBlockSize, snapHeaderLen + 2*(8+snapBlockSize), len(good)} {
		for d := -10; d <= 10; d++ {
			if n := at + d; n >= 0 && n < len(good) {
				cuts[n] = true
			}
		}
	}
	flips := map[int]bool{}
	for i := 0; i < len(good); i += 89 {
		flips[i] = true
	}
	for i := range snapHeaderLen + 8 {
		flips[i] = true
		flips[len(good)-1-i] = true
	}

	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{})
		for n := range cuts {
			_, err := e.Restore(bytes.NewReader(good[:n]))
			require.ErrorIs(t, err, ErrSnapshotTruncated, "cut at %d of %d", n, len(good))
		}
		for i := range flips {
			_, err := e.Restore(bytes.NewReader(flip(good, i)))
			require.Error(t, err, "bit flipped in byte %d", i)
			ok := errors.Is(err, ErrSnapshotCorrupt) || errors.Is(err, ErrSnapshotTruncated) || errors.Is(err, ErrSnapshotVersion)
			require.True(t, ok, "byte %d: %v", i, err)
		}
		requireNothingRestored(t, e, good)
	})
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestRestoreReadError(t *testing.T) {
	good := sampleSnapshot(t)
	boom := errors.New("disk on fire")
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{})
		_, err := e.Restore(&failingReader{data: good[:len(good)/2], err: boom})
		require.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), "reading block")
		requireNothingRestored(t, e, good)
	})
}

func TestRestoreNotEmpty(t *testing.T) {
	good := sampleSnapshot(t)
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{})
		mustBeat(t, e, hb("alice", "lobby"))
		_, err := e.Restore(bytes.NewReader(good))
		require.ErrorIs(t, err, ErrNotEmpty)
		assert.Contains(t, err.Error(), `sub key "sub-c-test"`)
		assert.Equal(t, int64(1), e.Stats().Members, "nothing restored")

		// An engine whose sub keys are all empty again counts as empty.
		_, err = e.Leave(ctx, LeaveRequest{SubKey: sk, UUID: "alice", Channels: []string{"lobby"}})
		require.NoError(t, err)
		_, err = e.Restore(bytes.NewReader(good))
		require.NoError(t, err)
		assert.Equal(t, int64(201), e.Stats().Members)
	})
}

// TestSnapshotWriteError: the first error of the writer is returned.
func TestSnapshotWriteError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEngine(t, Config{})
		for i := range 10_000 {
			mustBeat(t, e, hb("u"+strings.Repeat("x", i%50)+string(rune('a'+i%26))+strings.Repeat("y", i/1300), "lobby"))
		}
		boom := errors.New("disk full")
		w := &limitedWriter{left: 70_000, err: boom}
		_, err := e.Snapshot(w)
		require.ErrorIs(t, err, boom)
	})
}

// limitedWriter takes left bytes, then fails with err.
type limitedWriter struct {
	left int
	err  error
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		n := w.left
		w.left = 0
		return n, w.err
	}
	w.left -= len(p)
	return len(p), nil
}

var _ io.Writer = (*limitedWriter)(nil)

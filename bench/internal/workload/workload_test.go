package workload

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUUID(t *testing.T) {
	seen := make(map[string]int)
	for i := range 100_000 {
		u := UUID(i)
		require.Len(t, u, UUIDLen)
		require.Equal(t, "-", u[8:9])
		require.Equal(t, "-4", u[13:15])
		require.Equal(t, "-8", u[18:20])
		require.Equal(t, "-", u[23:24])
		prev, dup := seen[u]
		require.False(t, dup, "uuid %d repeats uuid %d: %s", i, prev, u)
		seen[u] = i
	}
	assert.Equal(t, UUID(42), string(AppendUUID(nil, 42)))
	var s Scratch
	assert.Equal(t, UUID(7), s.UUID(7))
	assert.Zero(t, testing.AllocsPerRun(10, func() { _ = s.UUID(9) }))
}

func TestChannel(t *testing.T) {
	assert.Equal(t, "room-00000000000", Channel(0))
	assert.Equal(t, "room-00001000000", Channel(1_000_000))
	assert.Len(t, Channel(123), ChannelLen)
}

func TestLabel(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "1"}, {100, "100"}, {1_000, "1k"}, {1_500, "1500"}, {100_000, "100k"},
		{1_000_000, "1M"}, {10_000_000, "10M"}, {2_500_000, "2500k"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			assert.Equal(t, tc.want, Label(tc.n))
			n, err := ParseCount(tc.want)
			require.NoError(t, err)
			assert.Equal(t, tc.n, n)
		})
	}
	for _, bad := range []string{"", "M", "k", "x", "-1", "0", "1G"} {
		_, err := ParseCount(bad)
		assert.Error(t, err, bad)
	}
}

func TestLayout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		l     Layout
		shape string
	}{
		{"one channel", OneChannel(1000), "1x1k"},
		{"tens", Layout{Members: 1000, Channels: 100, PerUUID: 1}, "100x10"},
		{"singles", Layout{Members: 1000, Channels: 1000, PerUUID: 1}, "1kx1"},
		{"tens, five per uuid", Layout{Members: 1000, Channels: 100, PerUUID: 5}, "100x10"},
		{"singles, five per uuid", Layout{Members: 1000, Channels: 1000, PerUUID: 5}, "1kx1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, tc.l.Validate())
			assert.Equal(t, tc.shape, tc.l.Shape())
			names := tc.l.Names()
			count := make(map[string]int)
			for u := range tc.l.UUIDs() {
				chans := tc.l.ChannelsOf(nil, names, u)
				require.Len(t, chans, tc.l.PerUUID)
				mine := make(map[string]bool)
				for _, c := range chans {
					require.False(t, mine[c], "uuid %d twice on %s", u, c)
					mine[c] = true
					count[c]++
				}
			}
			require.Len(t, count, tc.l.Channels)
			for c, n := range count {
				require.Equal(t, tc.l.PerChannel(), n, c)
			}
		})
	}
	assert.Error(t, Layout{Members: 10, Channels: 3, PerUUID: 1}.Validate())
	assert.Error(t, Layout{Members: 10, Channels: 2, PerUUID: 5}.Validate())
	assert.Error(t, Layout{}.Validate())
}

func TestRand(t *testing.T) {
	r := NewRand(0)
	hits := make([]int, 10)
	for range 100_000 {
		hits[r.Intn(10)]++
	}
	for i, h := range hits {
		assert.InDelta(t, 10_000, h, 1_000, "bucket %d", i)
	}
}

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvFull, "")
	t.Setenv(EnvMembers, "")
	s, err := FromEnv()
	require.NoError(t, err)
	assert.False(t, s.Full)
	assert.Equal(t, []int{1_000}, s.Members)
	assert.Empty(t, s.Extra)

	t.Setenv(EnvFull, "1")
	t.Setenv(EnvMembers, "10M")
	s, err = FromEnv()
	require.NoError(t, err)
	assert.True(t, s.Full)
	assert.Equal(t, []int{100_000, 1_000_000}, s.Members)
	assert.Equal(t, []int{10_000_000}, s.Extra)
	assert.Equal(t, 1_000_000, s.MassTimeout)

	t.Setenv(EnvRotate, "2")
	s, err = FromEnv()
	require.NoError(t, err)
	assert.Equal(t, 2, s.Rotate)

	t.Setenv(EnvRotate, "-1")
	_, err = FromEnv()
	require.Error(t, err)
	t.Setenv(EnvRotate, "")

	t.Setenv(EnvMembers, "lots")
	_, err = FromEnv()
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), EnvMembers))
}

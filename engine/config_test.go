package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigBoundsAtTheirEdges: the bounds Config documents are inclusive;
// each value just past one is refused (TestConfigValidation), each value on
// it is accepted, and zero fields take their defaults.
func TestConfigBoundsAtTheirEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"MinTimeout 1s", Config{MinTimeout: time.Second, Tick: time.Second}},
		{"MaxTimeout equal to MinTimeout", Config{MinTimeout: time.Minute, MaxTimeout: time.Minute}},
		{"Tick 1ms", Config{Tick: time.Millisecond}},
		{"Tick equal to MinTimeout", Config{MinTimeout: 5 * time.Second, Tick: 5 * time.Second}},
		{"Interval 1ms", Config{Interval: time.Millisecond}},
		{"MaxStateBytes 2", Config{MaxStateBytes: 2}},
		{"DefaultTimeout below MinTimeout", Config{DefaultTimeout: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tc.cfg)
			require.NoError(t, err)
			require.NoError(t, e.Close())
		})
	}

	t.Run("zero fields take their defaults", func(t *testing.T) {
		c, err := Config{}.withDefaults()
		require.NoError(t, err)
		assert.Equal(t, DefaultTimeout, c.DefaultTimeout)
		assert.Equal(t, DefaultMinTimeout, c.MinTimeout)
		assert.Equal(t, DefaultMaxTimeout, c.MaxTimeout)
		assert.Equal(t, DefaultTick, c.Tick)
		assert.Equal(t, DefaultInterval, c.Interval)
		assert.Equal(t, DefaultMaxStateBytes, c.MaxStateBytes)
	})

	t.Run("a Tick above the default MinTimeout is refused", func(t *testing.T) {
		_, err := New(Config{Tick: DefaultMinTimeout + time.Millisecond})
		assert.ErrorIs(t, err, ErrInvalidConfig)
		assert.ErrorContains(t, err, "Tick")
	})
}

// TestDefaultTimeoutIsClamped: DefaultTimeout, like a heartbeat's own
// timeout, is clamped to [MinTimeout, MaxTimeout].
func TestDefaultTimeoutIsClamped(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want time.Duration
	}{
		{Config{DefaultTimeout: time.Second, MinTimeout: 20 * time.Second}, 20 * time.Second},
		{Config{DefaultTimeout: 2 * time.Hour, MaxTimeout: time.Hour}, time.Hour},
		{Config{DefaultTimeout: time.Minute}, time.Minute},
	} {
		c, err := tc.cfg.withDefaults()
		require.NoError(t, err)
		assert.Equal(t, tc.want, c.clampTimeout(0), "%+v", tc.cfg)
	}
}

package centrifuge

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/presenced/presence/bench/internal/impl"
)

func TestMain(m *testing.M) {
	sizesFromEnv()
	goleak.VerifyTestMain(m)
}

// The peer and the engine agree on what both do: joins, refreshes, leaves,
// occupancy and the members listed.
func TestPeerAgreesWithTheEngine(t *testing.T) {
	eng, err := impl.NewEngine(impl.Options{})
	require.NoError(t, err)
	defer eng.Close()
	peer, err := NewPeer()
	require.NoError(t, err)
	defer peer.Close()
	subjects := []subject{engineSubject{eng}, peer}

	steps := []struct {
		op       string
		uuid     string
		channels []string
	}{
		{"beat", "a", []string{"x", "y"}},
		{"beat", "b", []string{"x"}},
		{"beat", "a", []string{"x"}}, // a refresh
		{"beat", "c", []string{"y"}},
		{"leave", "a", []string{"x"}},
		{"leave", "nobody", []string{"x"}},
		{"beat", "d", []string{"x"}},
	}
	for i, st := range steps {
		for _, s := range subjects {
			if st.op == "beat" {
				require.NoError(t, s.Heartbeat(st.uuid, st.channels, time.Minute), "step %d", i)
			} else {
				require.NoError(t, s.Leave(st.uuid, st.channels), "step %d", i)
			}
		}
	}
	want := map[string][]string{"x": {"b", "d"}, "y": {"a", "c"}}
	for ch, uuids := range want {
		for _, s := range subjects {
			n, err := s.Occupancy(ch)
			require.NoError(t, err)
			assert.Equal(t, len(uuids), n, "%T occupancy of %s", s, ch)
			occ, page, err := s.HereNow(ch, 0, 10)
			require.NoError(t, err)
			assert.Equal(t, len(uuids), occ)
			slices.Sort(page)
			assert.Equal(t, uuids, page, "%T members of %s", s, ch)
			_, page, err = s.HereNow(ch, 1, 10)
			require.NoError(t, err)
			assert.Len(t, page, len(uuids)-1, "%T page from offset 1 of %s", s, ch)
		}
	}
	n, err := peer.Occupancy("nowhere")
	require.NoError(t, err)
	assert.Zero(t, n)
}

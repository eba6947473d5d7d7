package impl

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// transcript runs a scripted workload on p inside the current synctest
// bubble and returns what it observed: every call's result, the members of
// each channel at checkpoints, and each channel's events in order. Deadlines
// and checkpoints are a whole tick apart, so every implementation, however it
// rounds expiry (the engine: up to one 1s tick late; the wheel baseline: up
// to 1ms early), must observe the same.
func transcript(t *testing.T, p Presence) []string {
	var (
		mu     sync.Mutex
		out    []string
		events = make(map[string][]string)
	)
	sub, err := p.Subscribe(nil, 16)
	require.NoError(t, err)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for ev := range sub.Events() {
			mu.Lock()
			events[ev.Channel] = append(events[ev.Channel], fmt.Sprintf("%s %s occupancy=%d", ev.Action, ev.UUID, ev.Occupancy))
			mu.Unlock()
		}
	}()
	log := func(format string, args ...any) {
		mu.Lock()
		out = append(out, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	hb := func(uuid string, timeout time.Duration, chans ...string) {
		n, err := p.Heartbeat(uuid, chans, timeout)
		require.NoError(t, err)
		log("heartbeat %s %v: joined %d", uuid, chans, n)
	}
	leave := func(uuid string, chans ...string) {
		n, err := p.Leave(uuid, chans)
		require.NoError(t, err)
		log("leave %s %v: left %d", uuid, chans, n)
	}
	check := func(at string) {
		synctest.Wait()
		for _, ch := range []string{"a", "b", "c"} {
			m, err := p.Members(ch)
			require.NoError(t, err)
			sort.Strings(m)
			occ, err := p.Occupancy(ch)
			require.NoError(t, err)
			log("%s: %s occupancy=%d members=%v", at, ch, occ, m)
		}
	}

	hb("u1", 5*time.Second, "a", "b")
	hb("u2", 5*time.Second, "a")
	hb("u3", 10*time.Second, "b")
	hb("u1", 5*time.Second, "a")
	check("t=0")

	time.Sleep(2 * time.Second)
	hb("u2", 5*time.Second, "a") // due at 7s
	leave("u3", "b")
	leave("u3", "b")
	hb("u5", 3*time.Second, "c", "a") // due at 5s
	leave("u5", "a")
	check("t=2")

	time.Sleep(4 * time.Second) // u1 (a, b) and u5 (c) timed out at 5s
	check("t=6")
	hb("u4", 30*time.Second, "a", "c")

	time.Sleep(2 * time.Second) // u2 timed out at 7s
	check("t=8")
	leave("u4", "a", "c", "b")
	check("t=8 after leave")

	time.Sleep(20 * time.Second) // u3 left before its deadline: no timeout
	check("t=28")

	sub.Close()
	<-drained
	chans := make([]string, 0, len(events))
	for ch := range events {
		chans = append(chans, ch)
	}
	slices.Sort(chans)
	for _, ch := range chans {
		for _, e := range events[ch] {
			out = append(out, "event on "+ch+": "+e)
		}
	}
	return out
}

// TestAgree runs the scripted workload on every implementation and requires
// them all to observe what the engine observes.
func TestAgree(t *testing.T) {
	got := make(map[Name][]string)
	for _, name := range All {
		synctest.Test(t, func(t *testing.T) {
			p, err := New(name, Options{})
			require.NoError(t, err)
			got[name] = transcript(t, p)
			require.NoError(t, p.Close())
			require.NoError(t, p.Close())
		})
	}
	want := got[Engine]
	require.Contains(t, want, "event on a: timeout u2 occupancy=1")
	require.Contains(t, want, "event on b: timeout u1 occupancy=0")
	require.Contains(t, want, "event on c: timeout u5 occupancy=0")
	require.NotContains(t, want, "event on b: timeout u3 occupancy=0")
	for _, name := range All[1:] {
		assert.Equal(t, want, got[name], "%s disagrees with the engine", name)
	}
}

func TestUnknown(t *testing.T) {
	_, err := New("nope", Options{})
	var unknown *UnknownError
	require.ErrorAs(t, err, &unknown)
	assert.Equal(t, Name("nope"), unknown.Name)
}

// TestRefreshAllocs pins the allocations of a refresh through each adapter:
// none for the engine and the naive baseline; the wheel baseline allocates a
// new wheel timer each time.
func TestRefreshAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	for _, tc := range []struct {
		name Name
		max  float64
	}{
		{Engine, 0},
		{Naive, 0},
		{WheelPerMember, 8},
	} {
		t.Run(string(tc.name), func(t *testing.T) {
			p, err := New(tc.name, Options{})
			require.NoError(t, err)
			defer p.Close()
			chans := []string{"a"}
			_, err = p.Heartbeat("u1", chans, time.Minute)
			require.NoError(t, err)
			allocs := testing.AllocsPerRun(1000, func() {
				if _, err := p.Heartbeat("u1", chans, time.Minute); err != nil {
					panic(err)
				}
			})
			assert.LessOrEqual(t, allocs, tc.max)
			if tc.name == WheelPerMember {
				assert.Positive(t, allocs, "the wheel baseline allocates per refresh")
			}
		})
	}
}

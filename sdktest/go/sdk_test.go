// Package sdktest drives the PubNub Go SDK (github.com/pubnub/go v4.10.0)
// against the engine behind httpapi, served in-process by httptest, and its
// subscribe tests also against two cluster nodes of one presence on a NATS
// JetStream server started in the test (nodes_test.go). It lives in a module
// of its own so that the SDK never enters the library's go.mod.
//
// Which SDK call issues which request (read from the SDK's source):
//
//	Heartbeat().Channels().ChannelGroups().State()  GET /v2/presence/sub-key/{sk}/channel/{chs}/heartbeat?heartbeat=&state=<raw JSON>
//	Presence().Connected(true)                      the same heartbeat, repeated every HeartbeatInterval
//	Leave()                                         GET .../channel/{chs}/leave
//	HereNow()                                       GET /v2/presence/sub_key/{sk}[/channel/{chs}]?disable-uuids=&state=
//	WhereNow()                                      GET /v2/presence/sub-key/{sk}/uuid/{uuid}
//	SetState()                                      GET .../channel/{chs}/uuid/{uuid}/data?state=
//	GetState()                                      GET .../channel/{chs}/uuid/{uuid}
//	AddChannelToChannelGroup(), RemoveChannelFromChannelGroup(), ListChannelsInChannelGroup(),
//	DeleteChannelGroup()                            GET /v1/channel-registration/sub-key/{sk}/channel-group/{g}[/remove]
//
// The SDK has no call listing all channel groups.
package sdktest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pubnub "github.com/pubnub/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/cluster"
	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/httpapi"
)

const (
	subKey       = "sub-c-gosdk"
	pubKey       = "pub-c-gosdk"
	signedSubKey = "sub-c-gosdk-signed"
	signedPubKey = "pub-c-gosdk-signed"
	secretKey    = "sec-c-gosdk-signed"
)

// engineConfig keeps presence short, so that a timeout takes seconds, and
// announces at most 2 members, so that a third brings interval events (each
// second, with deltas). sdktest/run.sh starts presenced with the same
// settings for the JavaScript suite.
var engineConfig = engine.Config{
	MinTimeout:     2 * time.Second,
	DefaultTimeout: 6 * time.Second,
	Tick:           100 * time.Millisecond,
	AnnounceMax:    2,
	IntervalDeltas: true,
	Interval:       time.Second,
}

// clusterConfig is engineConfig for the nodes of newCluster, as presenced
// -nats passes its flags on (expiry is JetStream's: no Tick).
var clusterConfig = cluster.Config{
	MinTimeout:     engineConfig.MinTimeout,
	DefaultTimeout: engineConfig.DefaultTimeout,
	AnnounceMax:    engineConfig.AnnounceMax,
	IntervalDeltas: engineConfig.IntervalDeltas,
	Interval:       engineConfig.Interval,
}

// keys are the keysets every server of the suite serves.
var keys = []httpapi.Key{
	{SubKey: subKey, PubKey: pubKey},
	{SubKey: signedSubKey, PubKey: signedPubKey, SecretKey: secretKey},
}

// newServer starts the engine behind httpapi on a loopback port, serving an
// unsigned and a signed keyset, and returns its host:port. Both are stopped
// at the end of the test, the API first, which answers the waiting
// subscribe long-polls so that the server's Close does not wait for them.
func newServer(t *testing.T) string {
	t.Helper()
	host, _ := newRecordingServer(t)
	return host
}

// requestLog records the requests a server receives; safe for concurrent use.
type requestLog struct {
	mu   sync.Mutex
	urls []*url.URL
}

// matching returns the requests so far whose path ends with suffix.
func (l *requestLog) matching(suffix string) []*url.URL {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*url.URL
	for _, u := range l.urls {
		if strings.HasSuffix(u.Path, suffix) {
			out = append(out, u)
		}
	}
	return out
}

// newRecordingServer is newServer, and also returns the log of the requests
// the server receives.
func newRecordingServer(t *testing.T) (string, *requestLog) {
	t.Helper()
	eng, err := engine.New(engineConfig)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, eng.Close()) })
	return serve(t, eng, httpapi.Config{})
}

// serve serves p behind httpapi, configured by cfg with the suite's keys, on
// a loopback port, and returns its host:port and the log of the requests it
// receives. Both are stopped at the end of the test, before p (which the
// caller closes in a cleanup registered earlier), the API first.
func serve(t *testing.T, p httpapi.Presence, cfg httpapi.Config) (string, *requestLog) {
	t.Helper()
	cfg.Keys = keys
	h, err := httpapi.New(p, cfg)
	require.NoError(t, err)
	log := &requestLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.mu.Lock()
		log.urls = append(log.urls, r.URL)
		log.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		require.NoError(t, h.Close())
		srv.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://"), log
}

// newClient returns an SDK client of the unsigned keyset with user id uuid,
// pointed at host, after applying configure (which may be nil). The client is
// destroyed at the end of the test.
func newClient(t *testing.T, host, uuid string, configure func(*pubnub.Config)) *pubnub.PubNub {
	t.Helper()
	c := pubnub.NewConfig()
	c.Origin = host
	c.Secure = false
	c.SubscribeKey = subKey
	c.PublishKey = pubKey
	c.UUID = uuid
	c.NonSubscribeRequestTimeout = 10
	c.ConnectTimeout = 10
	// Presence settings are the SDK's defaults unless configure sets them: a
	// presence timeout of 0, which Heartbeat() sends as heartbeat=0 (the
	// server's default timeout), and no heartbeat loop.
	if configure != nil {
		configure(c)
	}
	pn := pubnub.NewPubNub(c)
	d := sync.OnceFunc(pn.Destroy)
	destroyers.Store(pn, d)
	t.Cleanup(func() {
		d()
		destroyers.Delete(pn)
	})
	return pn
}

// presenceTimeout20 sets a presence timeout of 20 s (heartbeats every 9 s),
// as an application that calls SetPresenceTimeout does.
func presenceTimeout20(c *pubnub.Config) { c.SetPresenceTimeout(20) }

// both returns a configure function applying f, then g; either may be nil.
func both(f, g func(*pubnub.Config)) func(*pubnub.Config) {
	return func(c *pubnub.Config) {
		for _, h := range []func(*pubnub.Config){f, g} {
			if h != nil {
				h(c)
			}
		}
	}
}

// presenceConfigs are the client configurations the REST tests run under:
// the SDK's defaults, whose heartbeats carry heartbeat=0, and a presence
// timeout of 20 s, whose heartbeats carry heartbeat=20.
var presenceConfigs = []struct {
	name      string
	configure func(*pubnub.Config)
}{
	{"sdk defaults", nil},
	{"presence timeout 20", presenceTimeout20},
}

// forEachServerAndConfig runs test once per deployment (nodes_test.go) and
// presence configuration, as a subtest, with a server of that deployment
// started for it, the host its clients talk to (node 1 of two nodes), and
// that configuration's configure function (nil for the SDK's defaults).
func forEachServerAndConfig(t *testing.T, test func(t *testing.T, host string, presence func(*pubnub.Config))) {
	for _, dep := range deployments {
		t.Run(dep.name, func(t *testing.T) {
			for _, pc := range presenceConfigs {
				t.Run(pc.name, func(t *testing.T) { test(t, dep.start(t).client, pc.configure) })
			}
		})
	}
}

// destroyers holds the Destroy, once, of each client newClient made: the SDK
// panics on a second call.
var destroyers sync.Map // *pubnub.PubNub -> func()

// destroy destroys a client made by newClient before the end of its test.
func destroy(pn *pubnub.PubNub) {
	if d, ok := destroyers.Load(pn); ok {
		d.(func())()
	}
}

// signed configures a client for the signed keyset: every request carries a
// timestamp and a v2 signature (UsePAMV3, the default, selects v2).
func signed(c *pubnub.Config) {
	c.SubscribeKey = signedSubKey
	c.PublishKey = signedPubKey
	c.SecretKey = secretKey
	c.UsePAMV3 = true
}

var seq atomic.Int64

// uniq returns a name no other test uses. The Go SDK leaves channel names
// unescaped in the here now path, so names keep to letters, digits and "-".
func uniq(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, seq.Add(1))
}

// occupant is one member of a here now answer.
type occupant struct {
	UUID  string
	State map[string]any
}

// occupantsOf returns the members of channel ch in a here now answer, sorted
// by uuid, with empty states as nil.
func occupantsOf(t *testing.T, resp *pubnub.HereNowResponse, ch string) []occupant {
	t.Helper()
	for _, c := range resp.Channels {
		if c.ChannelName != ch {
			continue
		}
		out := []occupant{}
		for _, o := range c.Occupants {
			st := o.State
			if len(st) == 0 {
				st = nil
			}
			out = append(out, occupant{o.UUID, st})
		}
		slices.SortFunc(out, func(a, b occupant) int { return strings.Compare(a.UUID, b.UUID) })
		return out
	}
	t.Fatalf("channel %q not in here now answer %+v", ch, resp)
	return nil
}

// channelOf returns the channel ch of a here now answer.
func channelOf(t *testing.T, resp *pubnub.HereNowResponse, ch string) pubnub.HereNowChannelData {
	t.Helper()
	for _, c := range resp.Channels {
		if c.ChannelName == ch {
			return c
		}
	}
	t.Fatalf("channel %q not in here now answer %+v", ch, resp)
	return pubnub.HereNowChannelData{}
}

// heartbeat sends one heartbeat; state, if not nil, is keyed by channel or group.
func heartbeat(t *testing.T, pn *pubnub.PubNub, channels, groups []string, state map[string]any) {
	t.Helper()
	b := pn.Heartbeat().Channels(channels).ChannelGroups(groups)
	if state != nil {
		b = b.State(state)
	}
	_, status, err := b.Execute()
	require.NoError(t, err)
	require.Equal(t, 200, status.StatusCode)
}

func whereNow(t *testing.T, pn *pubnub.PubNub, uuid string) []string {
	t.Helper()
	resp, _, err := pn.WhereNow().UUID(uuid).Execute()
	require.NoError(t, err)
	got := slices.Clone(resp.Channels)
	slices.Sort(got)
	return got
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func TestHeartbeatWithState(t *testing.T) {
	forEachServerAndConfig(t, func(t *testing.T, host string, presence func(*pubnub.Config)) {
		ch := uniq("hb")
		alice := newClient(t, host, uniq("alice"), presence)

		heartbeat(t, alice, []string{ch}, nil, map[string]any{ch: map[string]any{"mood": "happy", "n": 1}})
		resp, _, err := alice.HereNow().Channels([]string{ch}).IncludeUUIDs(true).IncludeState(true).Execute()
		require.NoError(t, err)
		assert.Equal(t, 1, resp.TotalOccupancy)
		assert.Equal(t, []occupant{{alice.Config.UUID, map[string]any{"mood": "happy", "n": float64(1)}}}, occupantsOf(t, resp, ch))

		// A refresh without state keeps the member and its state.
		heartbeat(t, alice, []string{ch}, nil, nil)
		resp, _, err = alice.HereNow().Channels([]string{ch}).IncludeState(true).Execute()
		require.NoError(t, err)
		assert.Equal(t, []occupant{{alice.Config.UUID, map[string]any{"mood": "happy", "n": float64(1)}}}, occupantsOf(t, resp, ch))
	})
}

// TestHeartbeatParameter: with its defaults the SDK sends heartbeat=0,
// which the server takes as its default timeout; with SetPresenceTimeout(20)
// it sends heartbeat=20. Both are answered 200 and join.
func TestHeartbeatParameter(t *testing.T) {
	for _, tc := range []struct {
		configure func(*pubnub.Config)
		want      string
	}{
		{nil, "0"},
		{presenceTimeout20, "20"},
	} {
		t.Run("heartbeat="+tc.want, func(t *testing.T) {
			host, log := newRecordingServer(t)
			ch := uniq("hbparam")
			ivan := newClient(t, host, uniq("ivan"), tc.configure)
			_, status, err := ivan.Heartbeat().Channels([]string{ch}).Execute()
			require.NoError(t, err)
			assert.Equal(t, 200, status.StatusCode)
			sent := log.matching("/heartbeat")
			require.Len(t, sent, 1)
			assert.Equal(t, tc.want, sent[0].Query().Get("heartbeat"))
			assert.Equal(t, []string{ch}, whereNow(t, ivan, ivan.Config.UUID))
		})
	}
}

func TestPresenceLoopAndLeave(t *testing.T) {
	forEachDeployment(t, func(t *testing.T, d deployment) {
		host := d.client
		ch1, ch2 := uniq("loop"), uniq("loop")
		// With the SDK's defaults (presence timeout 0) Presence().Connected(true)
		// starts no loop at all: an application that uses it sets a timeout.
		bob := newClient(t, host, uniq("bob"), presenceTimeout20)
		observer := newClient(t, host, uniq("observer"), nil)

		// Presence().Connected(true) starts the SDK's heartbeat loop, whose first
		// heartbeat goes out at once; wait for it through Where Now. Without
		// State the SDK sends state=null, which the server takes as no state.
		bob.Presence().Channels([]string{ch1, ch2}).Connected(true).Execute()
		require.Eventually(t, func() bool {
			resp, _, err := observer.WhereNow().UUID(bob.Config.UUID).Execute()
			return err == nil && len(resp.Channels) == 2
		}, waitTimeout, pollInterval, "the heartbeat loop's first heartbeat")
		bob.Presence().Connected(false).Execute() // stops the loop; sends nothing

		status, err := bob.Leave().Channels([]string{ch1}).Execute()
		require.NoError(t, err)
		assert.Equal(t, 200, status.StatusCode)
		assert.Equal(t, []string{ch2}, whereNow(t, observer, bob.Config.UUID))

		resp, _, err := observer.HereNow().Channels([]string{ch1, ch2}).IncludeUUIDs(true).Execute()
		require.NoError(t, err)
		assert.Equal(t, 1, resp.TotalOccupancy)
		assert.Equal(t, []occupant{{bob.Config.UUID, nil}}, occupantsOf(t, resp, ch2))

		// Leaving a channel one is not on succeeds and changes nothing.
		status, err = bob.Leave().Channels([]string{ch1}).Execute()
		require.NoError(t, err)
		assert.Equal(t, 200, status.StatusCode)
		assert.Equal(t, []string{ch2}, whereNow(t, observer, bob.Config.UUID))
	})
}

func TestHereNow(t *testing.T) {
	forEachServerAndConfig(t, func(t *testing.T, host string, presence func(*pubnub.Config)) {
		ch, other := uniq("hn"), uniq("hn")
		alice := newClient(t, host, uniq("alice"), presence)
		bob := newClient(t, host, uniq("bob"), presence)
		heartbeat(t, alice, []string{ch}, nil, map[string]any{ch: map[string]any{"role": "host"}})
		heartbeat(t, bob, []string{ch, other}, nil, nil)
		want := []occupant{{alice.Config.UUID, map[string]any{"role": "host"}}, {bob.Config.UUID, nil}}
		slices.SortFunc(want, func(a, b occupant) int { return strings.Compare(a.UUID, b.UUID) })

		t.Run("uuids and state", func(t *testing.T) {
			resp, _, err := alice.HereNow().Channels([]string{ch}).IncludeUUIDs(true).IncludeState(true).Execute()
			require.NoError(t, err)
			assert.Equal(t, 1, resp.TotalChannels)
			assert.Equal(t, 2, resp.TotalOccupancy)
			assert.Equal(t, 2, channelOf(t, resp, ch).Occupancy)
			assert.Equal(t, want, occupantsOf(t, resp, ch))
		})
		t.Run("uuids without state", func(t *testing.T) {
			resp, _, err := alice.HereNow().Channels([]string{ch}).IncludeUUIDs(true).IncludeState(false).Execute()
			require.NoError(t, err)
			assert.Equal(t, []occupant{{want[0].UUID, nil}, {want[1].UUID, nil}}, occupantsOf(t, resp, ch))
		})
		t.Run("no uuids, one channel", func(t *testing.T) {
			resp, _, err := alice.HereNow().Channels([]string{ch}).IncludeUUIDs(false).Execute()
			require.NoError(t, err)
			// The server answers {"occupancy":2,...} without uuids. The SDK reads
			// that occupancy only as a Go int, which JSON numbers never decode
			// to, so it reports 0 whatever the server says: check what it can.
			assert.Empty(t, channelOf(t, resp, ch).Occupants)
		})
		t.Run("no uuids, several channels", func(t *testing.T) {
			resp, _, err := alice.HereNow().Channels([]string{ch, other}).IncludeUUIDs(false).Execute()
			require.NoError(t, err)
			assert.Equal(t, 2, resp.TotalChannels)
			assert.Equal(t, 3, resp.TotalOccupancy)
			assert.Equal(t, 2, channelOf(t, resp, ch).Occupancy)
			assert.Empty(t, channelOf(t, resp, ch).Occupants)
			assert.Equal(t, 1, channelOf(t, resp, other).Occupancy)
		})
		t.Run("several channels with state", func(t *testing.T) {
			resp, _, err := alice.HereNow().Channels([]string{ch, other}).IncludeUUIDs(true).IncludeState(true).Execute()
			require.NoError(t, err)
			assert.Equal(t, 3, resp.TotalOccupancy)
			assert.Equal(t, want, occupantsOf(t, resp, ch))
			assert.Equal(t, []occupant{{bob.Config.UUID, nil}}, occupantsOf(t, resp, other))
		})
		t.Run("global", func(t *testing.T) {
			resp, _, err := alice.HereNow().IncludeUUIDs(true).Execute()
			require.NoError(t, err)
			assert.Equal(t, 2, resp.TotalChannels)
			assert.Equal(t, 3, resp.TotalOccupancy)
			assert.Equal(t, []occupant{{want[0].UUID, nil}, {want[1].UUID, nil}}, occupantsOf(t, resp, ch))
		})
	})
}

func TestWhereNow(t *testing.T) {
	forEachServerAndConfig(t, func(t *testing.T, host string, presence func(*pubnub.Config)) {
		ch1, ch2 := uniq("wn"), uniq("wn")
		dave := newClient(t, host, uniq("dave"), presence)
		heartbeat(t, dave, []string{ch1, ch2}, nil, nil)

		resp, _, err := dave.WhereNow().Execute() // the client's own uuid
		require.NoError(t, err)
		assert.ElementsMatch(t, []string{ch1, ch2}, resp.Channels)
		assert.Empty(t, whereNow(t, dave, uniq("nobody")))
	})
}

func TestSetAndGetState(t *testing.T) {
	forEachServerAndConfig(t, func(t *testing.T, host string, presence func(*pubnub.Config)) {
		ch1, ch2, absent := uniq("st"), uniq("st"), uniq("st")
		erin := newClient(t, host, uniq("erin"), presence)
		heartbeat(t, erin, []string{ch1, ch2}, nil, nil)

		got, _, err := erin.GetState().Channels([]string{ch1}).Execute()
		require.NoError(t, err)
		assert.Equal(t, map[string]any{ch1: map[string]any{}}, got.State, "no state yet")

		set, status, err := erin.SetState().Channels([]string{ch1}).State(map[string]any{"mood": "busy", "tags": []string{"a", "b"}}).Execute()
		require.NoError(t, err)
		assert.Equal(t, 200, status.StatusCode)
		assert.Equal(t, map[string]any{"mood": "busy", "tags": []any{"a", "b"}}, set.State)

		got, _, err = erin.GetState().Channels([]string{ch1}).Execute()
		require.NoError(t, err)
		assert.Equal(t, erin.Config.UUID, got.UUID)
		assert.Equal(t, map[string]any{ch1: map[string]any{"mood": "busy", "tags": []any{"a", "b"}}}, got.State)

		_, _, err = erin.SetState().Channels([]string{ch1, ch2}).State(map[string]any{"mood": "away"}).Execute()
		require.NoError(t, err)
		observer := newClient(t, host, uniq("observer"), presence)
		got, _, err = observer.GetState().UUID(erin.Config.UUID).Channels([]string{ch1, ch2}).Execute()
		require.NoError(t, err)
		assert.Equal(t, map[string]any{ch1: map[string]any{"mood": "away"}, ch2: map[string]any{"mood": "away"}}, got.State)

		resp, _, err := observer.HereNow().Channels([]string{ch2}).IncludeUUIDs(true).IncludeState(true).Execute()
		require.NoError(t, err)
		assert.Equal(t, []occupant{{erin.Config.UUID, map[string]any{"mood": "away"}}}, occupantsOf(t, resp, ch2))

		// An empty object clears the state.
		_, _, err = erin.SetState().Channels([]string{ch2}).State(map[string]any{}).Execute()
		require.NoError(t, err)
		got, _, err = erin.GetState().Channels([]string{ch2}).Execute()
		require.NoError(t, err)
		assert.Equal(t, map[string]any{ch2: map[string]any{}}, got.State)

		_, status, err = erin.SetState().Channels([]string{ch1, absent}).State(map[string]any{"mood": "x"}).Execute()
		require.Error(t, err)
		assert.Equal(t, 400, status.StatusCode)
		assert.Contains(t, err.Error(), "You must be present in a channel to set state for it")
		got, _, err = erin.GetState().Channels([]string{ch1}).Execute()
		require.NoError(t, err)
		assert.Equal(t, map[string]any{ch1: map[string]any{"mood": "away"}}, got.State, "the failed call applied nothing")

		// State dies with membership.
		_, err = erin.Leave().Channels([]string{ch1}).Execute()
		require.NoError(t, err)
		_, _, err = erin.SetState().Channels([]string{ch1}).State(map[string]any{"mood": "back"}).Execute()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "You must be present")
	})
}

func TestChannelGroups(t *testing.T) {
	forEachServerAndConfig(t, func(t *testing.T, host string, presence func(*pubnub.Config)) {
		g := uniq("group")
		a, b, c := uniq("cg"), uniq("cg"), uniq("cg")
		pn := newClient(t, host, uniq("admin"), presence)

		list := func() []string {
			t.Helper()
			resp, _, err := pn.ListChannelsInChannelGroup().ChannelGroup(g).Execute()
			require.NoError(t, err)
			return sorted(resp.Channels...)
		}

		_, status, err := pn.AddChannelToChannelGroup().ChannelGroup(g).Channels([]string{a, b}).Execute()
		require.NoError(t, err)
		assert.Equal(t, 200, status.StatusCode)
		assert.Equal(t, sorted(a, b), list())

		resp, _, err := pn.ListChannelsInChannelGroup().ChannelGroup(g).Execute()
		require.NoError(t, err)
		assert.Equal(t, g, resp.ChannelGroup)

		_, _, err = pn.AddChannelToChannelGroup().ChannelGroup(g).Channels([]string{c}).Execute()
		require.NoError(t, err)
		assert.Equal(t, sorted(a, b, c), list())

		_, status, err = pn.RemoveChannelFromChannelGroup().ChannelGroup(g).Channels([]string{a}).Execute()
		require.NoError(t, err)
		assert.Equal(t, 200, status.StatusCode)
		assert.Equal(t, sorted(b, c), list())

		// Presence through the group: a heartbeat naming only the group joins
		// each of its channels, with the group's state on each.
		henry := newClient(t, host, uniq("henry"), presence)
		heartbeat(t, henry, nil, []string{g}, map[string]any{g: map[string]any{"team": "red"}})
		assert.Equal(t, sorted(b, c), whereNow(t, pn, henry.Config.UUID))
		hn, _, err := pn.HereNow().ChannelGroups([]string{g}).IncludeUUIDs(true).IncludeState(true).Execute()
		require.NoError(t, err)
		assert.Equal(t, 2, hn.TotalChannels)
		assert.Equal(t, 2, hn.TotalOccupancy)
		for _, ch := range []string{b, c} {
			assert.Equal(t, []occupant{{henry.Config.UUID, map[string]any{"team": "red"}}}, occupantsOf(t, hn, ch))
		}

		_, _, err = henry.SetState().ChannelGroups([]string{g}).State(map[string]any{"team": "blue"}).Execute()
		require.NoError(t, err)
		// GetState naming only groups is sent with an empty channel segment
		// (.../channel//uuid/...), which the server takes as no channels.
		st, _, err := henry.GetState().ChannelGroups([]string{g}).Execute()
		require.NoError(t, err)
		assert.Equal(t, map[string]any{b: map[string]any{"team": "blue"}, c: map[string]any{"team": "blue"}}, st.State)

		status, err = henry.Leave().ChannelGroups([]string{g}).Execute()
		require.NoError(t, err)
		assert.Equal(t, 200, status.StatusCode)
		assert.Empty(t, whereNow(t, pn, henry.Config.UUID))

		_, status, err = pn.DeleteChannelGroup().ChannelGroup(g).Execute()
		require.NoError(t, err)
		assert.Equal(t, 200, status.StatusCode)
		assert.Empty(t, list())

		_, status, err = pn.AddChannelToChannelGroup().ChannelGroup(g).Channels([]string{"bad:name"}).Execute()
		require.Error(t, err)
		assert.Equal(t, 400, status.StatusCode)
	})
}

func TestSignedKeyset(t *testing.T) {
	forEachServerAndConfig(t, func(t *testing.T, host string, presence func(*pubnub.Config)) {
		ch := uniq("signed")
		g := uniq("signed-group")
		judy := newClient(t, host, uniq("judy"), both(signed, presence))

		heartbeat(t, judy, []string{ch}, nil, map[string]any{ch: map[string]any{"signed": true, "text": "a-b_c.d"}})
		resp, _, err := judy.HereNow().Channels([]string{ch}).IncludeUUIDs(true).IncludeState(true).Execute()
		require.NoError(t, err)
		assert.Equal(t, []occupant{{judy.Config.UUID, map[string]any{"signed": true, "text": "a-b_c.d"}}}, occupantsOf(t, resp, ch))
		resp, _, err = judy.HereNow().IncludeUUIDs(false).Execute()
		require.NoError(t, err)
		assert.Equal(t, 1, resp.TotalOccupancy)
		assert.Equal(t, []string{ch}, whereNow(t, judy, judy.Config.UUID))

		set, _, err := judy.SetState().Channels([]string{ch}).State(map[string]any{"n": 2, "text": "x y&z"}).Execute()
		require.NoError(t, err)
		assert.Equal(t, map[string]any{"n": float64(2), "text": "x y&z"}, set.State)
		got, _, err := judy.GetState().Channels([]string{ch}).Execute()
		require.NoError(t, err)
		assert.Equal(t, map[string]any{ch: map[string]any{"n": float64(2), "text": "x y&z"}}, got.State)

		_, _, err = judy.AddChannelToChannelGroup().ChannelGroup(g).Channels([]string{ch}).Execute()
		require.NoError(t, err)
		cg, _, err := judy.ListChannelsInChannelGroup().ChannelGroup(g).Execute()
		require.NoError(t, err)
		assert.Equal(t, []string{ch}, cg.Channels)
		_, _, err = judy.RemoveChannelFromChannelGroup().ChannelGroup(g).Channels([]string{ch}).Execute()
		require.NoError(t, err)
		_, _, err = judy.DeleteChannelGroup().ChannelGroup(g).Execute()
		require.NoError(t, err)

		_, err = judy.Leave().Channels([]string{ch}).Execute()
		require.NoError(t, err)
		assert.Empty(t, whereNow(t, judy, judy.Config.UUID))

		for name, configure := range map[string]func(*pubnub.Config){
			"unsigned": func(c *pubnub.Config) { c.SubscribeKey = signedSubKey; c.PublishKey = signedPubKey },
			"wrong secret": func(c *pubnub.Config) {
				signed(c)
				c.SecretKey = "sec-c-wrong"
			},
			"wrong pub key": func(c *pubnub.Config) {
				signed(c)
				c.PublishKey = "pub-c-wrong"
			},
		} {
			t.Run(name, func(t *testing.T) {
				mallory := newClient(t, host, uniq("mallory"), both(configure, presence))
				_, status, err := mallory.Heartbeat().Channels([]string{ch}).Execute()
				require.Error(t, err)
				assert.Equal(t, 403, status.StatusCode)
				assert.Contains(t, err.Error(), "Signature does not match")
				_, status, err = mallory.HereNow().Channels([]string{ch}).Execute()
				require.Error(t, err)
				assert.Equal(t, 403, status.StatusCode)
				_, status, err = mallory.ListChannelsInChannelGroup().ChannelGroup(g).Execute()
				require.Error(t, err)
				assert.Equal(t, 403, status.StatusCode)
				assert.Empty(t, whereNow(t, judy, mallory.Config.UUID), "nothing of the refused calls was applied")
			})
		}
	})
}

func TestUnknownSubKey(t *testing.T) {
	host := newServer(t)
	pn := newClient(t, host, uniq("grace"), func(c *pubnub.Config) { c.SubscribeKey = "sub-c-not-served" })
	_, status, err := pn.HereNow().Channels([]string{uniq("x")}).Execute()
	require.Error(t, err)
	assert.Equal(t, 400, status.StatusCode)
	assert.Contains(t, err.Error(), "Invalid Subscribe Key")
}

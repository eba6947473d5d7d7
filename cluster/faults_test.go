package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
	"github.com/presenced/presence/httpapi"
	"github.com/presenced/presence/internal/natstest"
)

// TestKillOneOfThreeServers kills a JetStream server of an R3 cluster while
// three nodes, one on each server, take heartbeats: every heartbeat that was
// answered is kept, each member joins once, and every node delivers the
// same events.
func TestKillOneOfThreeServers(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster and a failover")
	}
	ss := natstest.StartCluster(t, 3)
	// Long timeouts, and markers that outlive a consumer's failover.
	cfg := Config{Replicas: 3, MinTimeout: 45 * time.Second, AnnounceMax: -1}
	var nodes []*Node
	var recs []*recorder
	for i := range 3 {
		// Each node prefers its own server and knows the others.
		urls := natstest.URLs(ss[i], ss[(i+1)%3], ss[(i+2)%3])
		n := newNode(t, urls, cfg)
		nodes = append(nodes, n)
		recs = append(recs, record(t, n, events.Filter{SubKey: sk}))
	}

	var accepted sync.Map // uuid -> true once a heartbeat of it was answered
	var failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := fmt.Sprintf("w%d-%d", w, i%40)
				n := nodes[(w+i)%3]
				_, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: u, Channels: []string{"room"}, Timeout: 5 * time.Minute})
				switch {
				case err == nil:
					accepted.Store(u, true)
				case errors.Is(err, engine.ErrUnavailable), errors.Is(err, engine.ErrClosed):
					failed.Add(1) // during the failover: not accepted
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	eventually(t, "load running", func() bool { return nodes[0].Stats().Heartbeats > 100 })
	ss[1].Kill()
	natstest.WaitLeader(t, []*natstest.Server{ss[0], ss[2]})
	before := nodes[0].Stats().Heartbeats
	eventually(t, "load goes on after the kill", func() bool { return nodes[0].Stats().Heartbeats > before+300 })
	close(stop)
	wg.Wait()
	t.Logf("heartbeats refused during the failover: %d", failed.Load())

	var want []string
	accepted.Range(func(k, _ any) bool { want = append(want, k.(string)); return true })
	slices.Sort(want)
	for i, n := range nodes {
		eventually(t, fmt.Sprintf("node %d holds every accepted member", i), func() bool {
			return len(hereNow(t, n, "room")) == len(want)
		})
		assert.Equal(t, want, hereNow(t, n, "room"), "node %d", i)
	}
	eventually(t, "every node delivered every join", func() bool {
		for _, r := range recs {
			if len(r.events()) < len(want) {
				return false
			}
		}
		return true
	})
	evs := sameEvents(t, recs)
	present, joins := replay(t, evs)
	assert.Equal(t, len(want), joins, "one join per member")
	assert.Equal(t, want, present["room"])
}

// TestSubscriberMovesToAnotherNode: a subscribe long-poll client whose node
// goes away resumes on another with its cursor, and gets every event after
// it once.
func TestSubscriberMovesToAnotherNode(t *testing.T) {
	srv := natstest.Start(t)
	a, b := newNode(t, srv.URL(), Config{AnnounceMax: -1}), newNode(t, srv.URL(), Config{AnnounceMax: -1})
	serve := func(n *Node) *httptest.Server {
		h, err := httpapi.New(n, httpapi.Config{SubscribeHold: 200 * time.Millisecond, SubscribeShared: true})
		require.NoError(t, err)
		s := httptest.NewServer(h)
		t.Cleanup(func() {
			s.Close()
			h.Close()
		})
		return s
	}
	sa, sb := serve(a), serve(b)

	type answer struct {
		T struct{ T string }
		M []struct {
			D struct{ Action, UUID string }
			P struct{ T string }
		}
	}
	poll := func(base, tt string) answer {
		t.Helper()
		resp, err := http.Get(base + "/v2/subscribe/" + sk + "/room-pnpres/0?uuid=watcher&tt=" + tt)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		var ans answer
		require.NoError(t, json.Unmarshal(body, &ans), string(body))
		return ans
	}

	cursor := poll(sa.URL, "0").T.T
	var got []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // members join and leave through both nodes meanwhile
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u := fmt.Sprint("u", i)
			// Half through each node while a serves; then through b.
			for _, n := range []*Node{[]*Node{a, b}[i%2], b} {
				if _, err := n.Heartbeat(bg, engine.HeartbeatRequest{SubKey: sk, UUID: u, Channels: []string{"room"}, Timeout: time.Minute}); err == nil {
					break
				}
			}
			for _, n := range []*Node{[]*Node{a, b}[i%2], b} {
				if _, err := n.Leave(bg, engine.LeaveRequest{SubKey: sk, UUID: u, Channels: []string{"room"}}); err == nil {
					break
				}
			}
			if i == 60 {
				return
			}
		}
	}()
	base := sa.URL
	for range 200 {
		ans := poll(base, cursor)
		for _, m := range ans.M {
			got = append(got, m.D.Action+" "+m.D.UUID+" "+m.P.T)
		}
		cursor = ans.T.T
		if len(got) >= 40 && base == sa.URL {
			// a goes away: its clients move to b with their cursors.
			sa.CloseClientConnections()
			require.NoError(t, a.Close())
			base = sb.URL
		}
		if len(got) >= 122 {
			break
		}
	}
	close(stop)
	<-done

	seen := map[string]bool{}
	var last string
	for _, g := range got {
		require.False(t, seen[g], "delivered twice: %s", g)
		seen[g] = true
		tt := g[len(g)-17:]
		require.Greater(t, tt, last, "in timetoken order: %s", g)
		last = tt
	}
	require.Len(t, got, 122, "61 joins and 61 leaves, none missing")
	for i := range 61 {
		assert.Contains(t, seen, fmt.Sprintf("join u%d %s", i, tokenOf(got, "join", i)))
	}
}

// tokenOf finds the timetoken of the action of u<i> in got.
func tokenOf(got []string, action string, i int) string {
	prefix := fmt.Sprintf("%s u%d ", action, i)
	for _, g := range got {
		if len(g) > len(prefix) && g[:len(prefix)] == prefix {
			return g[len(prefix):]
		}
	}
	return "missing"
}

// Package natstest runs real NATS servers with JetStream inside a test
// process: one, or a cluster of several, each on loopback ports of its own
// and a store in the test's temporary directory. Nothing needs installing.
package natstest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Server is one NATS server of a test. Kill and Restart stop it and start it
// again on the same ports and store, as a crash and a restart would.
type Server struct {
	t    testing.TB
	opts server.Options
	srv  *server.Server
}

// Start starts one JetStream server, shut down when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, opts: server.Options{
		ServerName: "n0",
		Host:       "127.0.0.1",
		Port:       freePort(t),
		JetStream:  true,
		StoreDir:   t.TempDir(),
		NoLog:      true,
		NoSigs:     true,
	}}
	s.start()
	t.Cleanup(s.Kill)
	return s
}

// StartCluster starts n JetStream servers routed to each other, shut down
// when the test ends, and returns once the cluster has a JetStream leader.
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	routes := make([]string, n)
	ports := make([]int, n)
	for i := range n {
		ports[i] = freePort(t)
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", ports[i])
	}
	ss := make([]*Server, n)
	for i := range n {
		ss[i] = &Server{t: t, opts: server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       freePort(t),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "presence-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}}
	}
	for _, s := range ss {
		s.start()
		t.Cleanup(s.Kill)
	}
	WaitLeader(t, ss)
	return ss
}

// WaitLeader waits until one of ss leads JetStream's meta group and sees
// every running server of ss as a peer that can hold streams.
func WaitLeader(t testing.TB, ss []*Server) {
	t.Helper()
	running := 0
	for _, s := range ss {
		if s.srv != nil {
			running++
		}
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		for _, s := range ss {
			if s.srv != nil && s.srv.JetStreamIsLeader() && len(s.srv.JetStreamClusterPeers()) >= running {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("natstest: no JetStream leader seeing every server within a minute")
}

func (s *Server) start() {
	s.t.Helper()
	opts := s.opts // NewServer keeps and changes its options
	srv, err := server.NewServer(&opts)
	if err != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		s.t.Fatalf("natstest: server %s not ready", s.opts.ServerName)
	}
	s.srv = srv
}

// URL is the server's client URL.
func (s *Server) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port) }

// Running reports whether the server runs.
func (s *Server) Running() bool { return s.srv != nil }

// Kill stops the server and waits until it has stopped. It may be called
// twice.
func (s *Server) Kill() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart starts a killed server again, on its ports and its store.
func (s *Server) Restart() {
	s.t.Helper()
	if s.srv == nil {
		s.start()
	}
}

// URLs joins the client URLs of ss, for nats.Connect.
func URLs(ss ...*Server) string {
	urls := make([]string, len(ss))
	for i, s := range ss {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// Connect connects to urls (comma-separated) with reconnection that never
// gives up, closed when the test ends.
func Connect(t testing.TB, urls string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(urls,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectJitter(0, 0),
		nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", urls, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("natstest: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

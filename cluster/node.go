package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

// Node is one server's share of a presence kept in NATS JetStream. It serves
// the same calls as engine.Engine (it implements httpapi.Presence) from a
// view of the buckets it keeps by reading their streams, and writes every
// change to JetStream, which decides it once for the whole cluster.
//
// Create one with New and release it with Close. A Node is safe for
// concurrent use; several may live in one process, on one connection or
// several.
type Node struct {
	cfg  Config
	nc   *nats.Conn
	js   jetstream.JetStream
	log  loggerFunc
	name string // for ticks and logs: the connection's server-assigned id

	shards []*shard
	groups *groupShard
	bus    *events.Bus
	merge  *merger // nil with one bucket

	// reserved counts the joins in flight, against Config.MaxMembers.
	reserved atomic.Int64
	count    counters

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	done      sync.WaitGroup
}

// maxPending bounds the writes a node has in flight to JetStream; past it,
// a call waits (up to Config.Timeout) for room.
const maxPending = 8192

// counters are the node's Stats counters.
type counters struct {
	heartbeats, joins, leaves, timeouts, events atomic.Uint64
	repairs                                     atomic.Uint64
}

type loggerFunc func(msg string, args ...any)

// New starts a node on nc, a connection the caller owns (and closes after
// Close). It creates the buckets Config names if they do not exist, checks
// the cluster-wide settings against those recorded there, reads every
// bucket up to where it stood when New began, and then returns: the node's
// view holds every member present at that moment. ctx bounds that start.
//
// It returns an error wrapping ErrInvalidConfig for a bad Config or one
// whose cluster-wide settings differ from the recorded ones, and one
// wrapping engine.ErrUnavailable if JetStream cannot be reached.
func New(ctx context.Context, nc *nats.Conn, cfg Config) (*Node, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil connection", ErrInvalidConfig)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxPending))
	if err != nil {
		return nil, unavailable("jetstream", err)
	}
	n := &Node{
		cfg:  cfg,
		nc:   nc,
		js:   js,
		log:  cfg.Logger.Warn,
		bus:  events.NewBus(events.BusConfig{}),
		stop: make(chan struct{}),
	}
	if id, err := nc.GetClientID(); err == nil {
		n.name = fmt.Sprintf("%s/%d", nc.ConnectedServerId(), id)
	}
	if err := n.start(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// start creates or checks the buckets, starts their consumers and waits
// until each has read up to its last message as of now.
func (n *Node) start(ctx context.Context) error {
	cfg := &n.cfg
	gs, err := newGroupShard(ctx, n)
	if err != nil {
		return err
	}
	n.groups = gs
	if err := n.checkShared(ctx); err != nil {
		return err
	}
	for i := range cfg.Buckets {
		s, err := newShard(ctx, n, i)
		if err != nil {
			return err
		}
		n.shards = append(n.shards, s)
	}
	if cfg.Buckets > 1 {
		n.merge = newMerger(n, cfg.Buckets)
	}
	followers := []*follower{&gs.follower}
	if err := gs.consume(ctx, n, gs.apply); err != nil {
		return err
	}
	for _, s := range n.shards {
		if err := s.consume(ctx, n, s.apply); err != nil {
			return err
		}
		followers = append(followers, &s.follower)
	}
	for _, f := range followers {
		select {
		case <-f.ready:
		case <-ctx.Done():
			return unavailable("reading bucket "+f.bucket, ctx.Err())
		}
	}
	n.done.Add(2)
	go n.tickLoop()
	go n.sweepLoop()
	return nil
}

// sweepLoop has each bucket look for members whose removal this node never
// read, every MarkerTTL, until Close.
func (n *Node) sweepLoop() {
	defer n.done.Done()
	t := time.NewTicker(n.cfg.MarkerTTL)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		for _, s := range n.shards {
			ctx, cancel := n.callContext(context.Background())
			s.sweep(ctx)
			cancel()
		}
	}
}

// Repairs counts the corrections this node made to its view because the
// buckets had dropped messages before it read them: it fell behind a bucket
// by more than the bucket keeps (see the package documentation). Its events
// for those members may differ from other nodes'. Zero while every node
// keeps up.
func (n *Node) Repairs() uint64 { return n.count.repairs.Load() }

// ensureStream creates a bucket's stream, or updates it to cfg's replicas
// and marker TTL: a key-value bucket as JetStream's own tools see one, with
// per-message TTLs, markers for expired keys and atomic batches.
func (n *Node) ensureStream(ctx context.Context, bucket string, keep int64) (jetstream.Stream, error) {
	sc := jetstream.StreamConfig{
		Name:                   streamOf(bucket),
		Subjects:               []string{subjectPrefix(bucket) + ">"},
		MaxMsgsPerSubject:      keep,
		MaxBytes:               -1,
		MaxMsgSize:             -1,
		MaxMsgs:                -1,
		MaxConsumers:           -1,
		Storage:                n.cfg.Storage,
		Replicas:               n.cfg.Replicas,
		AllowRollup:            true,
		DenyDelete:             true,
		AllowDirect:            true,
		Discard:                jetstream.DiscardNew,
		Duplicates:             2 * time.Minute,
		AllowMsgTTL:            true,
		SubjectDeleteMarkerTTL: n.cfg.MarkerTTL,
		AllowAtomicPublish:     true,
	}
	s, err := n.js.CreateOrUpdateStream(ctx, sc)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code < 500 && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: bucket %s: %v", ErrInvalidConfig, bucket, err)
		}
		return nil, unavailable("bucket "+bucket, err)
	}
	return s, nil
}

// checkShared records the cluster-wide settings, or checks them against
// those recorded by the first node.
func (n *Node) checkShared(ctx context.Context) error {
	want := n.cfg.shared()
	val, _ := json.Marshal(want)
	kv := n.groups.kv
	if _, err := kv.Create(ctx, settingsKey, val); err == nil {
		return nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return unavailable("recording the cluster settings", err)
	}
	e, err := kv.Get(ctx, settingsKey)
	if err != nil {
		return unavailable("reading the cluster settings", err)
	}
	var got shared
	if err := json.Unmarshal(e.Value(), &got); err != nil {
		return fmt.Errorf("%w: the cluster settings in bucket %s are not readable: %v", ErrInvalidConfig, groupBucket(n.cfg.Bucket), err)
	}
	return want.diff(got)
}

// tickLoop marks every bucket with the time, every Config.Tick, until Close.
func (n *Node) tickLoop() {
	defer n.done.Done()
	t := time.NewTicker(n.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.nc.Status() != nats.CONNECTED {
			continue
		}
		for _, s := range n.shards {
			// Stored without an acknowledgement: a lost tick is replaced by
			// the next one.
			_ = n.nc.Publish(s.prefix+tickKey, []byte(n.name))
		}
	}
}

// Close stops the node: its consumers and every subscription. Afterwards
// every method returns engine.ErrClosed. It does not close the connection,
// and what the node wrote stays in JetStream: members keep their deadlines
// and are seen by the other nodes. Close is idempotent, safe while other
// methods run, and returns nil.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		close(n.stop)
		if n.groups != nil {
			n.groups.stop()
		}
		for _, s := range n.shards {
			s.stop()
		}
		n.done.Wait()
		n.bus.Close()
	})
	return nil
}

// Subscribe returns a subscription to the events that match f, as
// engine.Engine.Subscribe does (o.Buffer zero means Config.EventBuffer).
// Every node delivers the same events, with the same timetokens, in the
// same order per channel.
func (n *Node) Subscribe(f events.Filter, o events.Options) (*events.Subscription, error) {
	if n.closed.Load() {
		return nil, engine.ErrClosed
	}
	if o.Buffer == 0 {
		o.Buffer = n.cfg.EventBuffer
	}
	sub, err := n.bus.Subscribe(f, o)
	if errors.Is(err, events.ErrClosed) {
		return nil, engine.ErrClosed
	}
	return sub, err
}

// Stats returns the node's counters: the members, channels and uuids of its
// view (with several buckets, a uuid present on channels of several buckets
// counts once in each), the heartbeats it answered, and the joins, leaves,
// timeouts and events it derived from the buckets since it started, the same
// on every node.
func (n *Node) Stats() engine.Stats {
	var st engine.Stats
	for _, s := range n.shards {
		m, c, u := s.sizes()
		st.Members += m
		st.Channels += c
		st.UUIDs += u
	}
	st.Heartbeats = n.count.heartbeats.Load()
	st.Joins = n.count.joins.Load()
	st.Leaves = n.count.leaves.Load()
	st.Timeouts = n.count.timeouts.Load()
	st.EventsPublished = n.count.events.Load()
	st.EventsDropped = n.bus.Stats().Dropped
	return st
}

// Config returns the node's configuration, with defaults filled in.
func (n *Node) Config() Config { return n.cfg }

// usable returns an error when the node cannot take a call: closed, or not
// connected to NATS (then at once, rather than after Config.Timeout).
func (n *Node) usable() error {
	if n.closed.Load() {
		return engine.ErrClosed
	}
	if st := n.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("%w: not connected to NATS (%s)", engine.ErrUnavailable, st)
	}
	return nil
}

// unavailable wraps err, met while doing what, as engine.ErrUnavailable.
func unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", engine.ErrUnavailable, what, err)
}

// callContext bounds ctx by Config.Timeout.
func (n *Node) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, n.cfg.Timeout)
}

// deliver hands a bucket's events, in order, to the subscribers: at once
// with one bucket, through the merge with several.
func (n *Node) deliver(b int, evs []events.Event, watermark int64) {
	if n.merge != nil {
		n.merge.push(b, evs, watermark)
		return
	}
	for i := range evs {
		n.emit(&evs[i])
	}
}

// emit delivers one event.
func (n *Node) emit(ev *events.Event) {
	n.count.events.Add(1)
	if err := n.bus.Deliver(ev); err != nil && !errors.Is(err, events.ErrClosed) {
		n.log("cluster: event not delivered", "err", err)
	}
}

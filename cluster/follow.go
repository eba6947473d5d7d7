package cluster

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go/jetstream"
)

// follower is what a bucket's reader shares: how far it has read, the
// callers waiting for it to read their writes, and when it first caught up.
type follower struct {
	bucket   string
	prefix   string // subject prefix of the bucket's keys
	stream   jetstream.Stream
	startSeq uint64 // the stream's last sequence when the node started

	applied atomic.Uint64 // the last stream sequence applied
	waitMu  sync.Mutex
	waiters waitHeap
	closed  bool // under waitMu

	ready     chan struct{} // closed once the reader reached startSeq
	readyOnce sync.Once
	cc        jetstream.ConsumeContext
}

func (f *follower) init(ctx context.Context, n *Node, bucket string, keep int64) error {
	st, err := n.ensureStream(ctx, bucket, keep)
	if err != nil {
		return err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return unavailable("bucket "+bucket, err)
	}
	f.bucket, f.prefix, f.stream = bucket, subjectPrefix(bucket), st
	f.startSeq = info.State.LastSeq
	f.ready = make(chan struct{})
	if f.startSeq == 0 {
		f.markReady()
	}
	return nil
}

func (f *follower) markReady() { f.readyOnce.Do(func() { close(f.ready) }) }

// consume starts the bucket's ordered consumer from its first message, with
// apply as its callback.
func (f *follower) consume(ctx context.Context, n *Node, apply jetstream.MessageHandler) error {
	c, err := f.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
	if err != nil {
		return unavailable("consumer of bucket "+f.bucket, err)
	}
	cc, err := c.Consume(apply, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		n.log("cluster: reading bucket "+f.bucket, "err", err)
	}))
	if err != nil {
		return unavailable("consumer of bucket "+f.bucket, err)
	}
	f.cc = cc
	return nil
}

// done records that the message of sequence seq was applied.
func (f *follower) done(seq uint64) {
	f.applied.Store(seq)
	f.waitMu.Lock()
	for len(f.waiters) > 0 && f.waiters[0].seq <= seq {
		close(heap.Pop(&f.waiters).(waiter).done)
	}
	f.waitMu.Unlock()
	if seq >= f.startSeq {
		f.markReady()
	}
}

// waitApplied waits until the message of stream sequence seq is applied,
// ctx is done (its error) or the reader stops (nil).
func (f *follower) waitApplied(ctx context.Context, seq uint64) error {
	if f.applied.Load() >= seq {
		return nil
	}
	done := make(chan struct{})
	f.waitMu.Lock()
	if f.closed || f.applied.Load() >= seq {
		f.waitMu.Unlock()
		return nil
	}
	heap.Push(&f.waiters, waiter{seq: seq, done: done})
	f.waitMu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop stops the consumer, waits for its callback to return and releases
// every waiter.
func (f *follower) stop() {
	if f.cc != nil {
		f.cc.Stop()
		<-f.cc.Closed()
	}
	f.waitMu.Lock()
	f.closed = true
	for _, w := range f.waiters {
		close(w.done)
	}
	f.waiters = nil
	f.waitMu.Unlock()
}

type waiter struct {
	seq  uint64
	done chan struct{}
}

// waitHeap is a min-heap of waiters by sequence.
type waitHeap []waiter

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h waitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waitHeap) Push(x any)        { *h = append(*h, x.(waiter)) }
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

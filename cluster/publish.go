package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// A put is one key's new message: its value and TTL, written only if the
// key's last message is still rev (0: none).
type put struct {
	subject string
	rev     uint64
	remove  bool // a leave: a purge marker instead of a value
	value   []byte
	// ttl is the message's TTL: a value's, or a marker's (zero: MarkerTTL).
	ttl time.Duration
	// rollup drops the key's older messages as this one is stored (see
	// "Keys keep history" in the package documentation).
	rollup bool
	seq    uint64 // set once written
}

// errConflict is a compare-and-swap that lost: some key's last message was
// not the one expected.
var errConflict = errors.New("cluster: key changed meanwhile")

// isConflict reports whether err is JetStream's "wrong last sequence".
func isConflict(err error) bool {
	if errors.Is(err, errConflict) || errors.Is(err, jetstream.ErrKeyExists) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// message builds the message of p.
func (n *Node) message(p *put) *nats.Msg {
	m := nats.NewMsg(p.subject)
	m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(p.rev, 10))
	if p.rollup {
		m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	}
	if p.remove {
		m.Header.Set(kvOperation, kvPurge)
		m.Header.Set(jetstream.MsgTTLHeader, ttlString(max(p.ttl, n.cfg.MarkerTTL)))
		return m
	}
	m.Header.Set(jetstream.MsgTTLHeader, ttlString(p.ttl))
	m.Data = p.value
	return m
}

// ttlString writes a TTL as JetStream reads it: whole seconds.
func ttlString(d time.Duration) string {
	return strconv.FormatInt(int64(ttlOf(d)/time.Second), 10) + "s"
}

// write stores puts, all of one bucket, all or none: one message, or an
// atomic batch. It returns errConflict (wrapped) if some key's last message
// was not the one expected, and then wrote nothing; other errors are
// JetStream's. On success each put's seq is set.
func (n *Node) write(ctx context.Context, ps []*put) error {
	if len(ps) == 1 {
		seq, err := n.publish(ctx, n.message(ps[0]))
		if err != nil {
			if isConflict(err) {
				return fmt.Errorf("%w: %w", errConflict, err)
			}
			return err
		}
		ps[0].seq = seq
		return nil
	}
	// An atomic batch: every message but the last is sent without waiting,
	// the last commits the batch and carries the acknowledgement of all.
	id := nuid.Next()
	for i, p := range ps {
		m := n.message(p)
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		if i < len(ps)-1 {
			if err := n.nc.PublishMsg(m); err != nil {
				return err
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		resp, err := n.nc.RequestMsgWithContext(ctx, m)
		if err != nil {
			return err
		}
		var ack struct {
			Seq   uint64              `json:"seq"`
			Count int                 `json:"count"`
			Error *jetstream.APIError `json:"error"`
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil {
			return fmt.Errorf("unreadable acknowledgement %q: %w", resp.Data, err)
		}
		if ack.Error != nil {
			if isConflict(ack.Error) {
				return fmt.Errorf("%w: %w", errConflict, ack.Error)
			}
			return ack.Error
		}
		if ack.Count != len(ps) {
			return fmt.Errorf("batch of %d acknowledged as %d", len(ps), ack.Count)
		}
		// The batch's messages are consecutive in the stream.
		for j, p := range ps {
			p.seq = ack.Seq - uint64(len(ps)-1-j)
		}
	}
	return nil
}

// publish stores one message and returns its sequence. It publishes
// asynchronously and waits for the acknowledgement: the connection's
// pipeline of acknowledgements then carries the writes of every concurrent
// call, which more than doubles what a cluster takes compared with a
// request per call.
func (n *Node) publish(ctx context.Context, m *nats.Msg) (uint64, error) {
	wait := n.cfg.Timeout
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	if wait <= 0 {
		return 0, context.DeadlineExceeded
	}
	f, err := n.js.PublishMsgAsync(m, jetstream.WithStallWait(wait))
	if err != nil {
		return 0, err
	}
	select {
	case ack := <-f.Ok():
		return ack.Sequence, nil
	case err := <-f.Err():
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// removeKey writes a purge marker on subject, if its last message is rev
// (0: without condition), and returns its sequence.
func (n *Node) removeKey(ctx context.Context, subject string, rev uint64) (uint64, error) {
	m := nats.NewMsg(subject)
	m.Header.Set(kvOperation, kvPurge)
	m.Header.Set(jetstream.MsgTTLHeader, ttlString(n.cfg.MarkerTTL))
	if rev != 0 {
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(rev, 10))
	}
	return n.publish(ctx, m)
}

// last is a key's last message, read from the bucket itself.
type last struct {
	rev     uint64 // 0: the key has no message
	present bool   // the last message is a value, not a marker
	state   json.RawMessage
	expires int64 // when the last message expires, Unix nanoseconds; 0: never, or no message
}

// fetch reads the last message of subject from s's stream.
func (s *shard) fetch(ctx context.Context, subject string) (last, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return last{}, nil
	}
	if err != nil {
		return last{}, err
	}
	l := last{rev: m.Sequence}
	if ttl := ttlOfHeader(m.Header); ttl > 0 {
		l.expires = m.Time.UnixNano() + int64(ttl)
	}
	if opOf(m.Header) == opPut {
		l.present = true
		if len(m.Data) > 0 {
			l.state = json.RawMessage(m.Data)
		}
	}
	return l, nil
}

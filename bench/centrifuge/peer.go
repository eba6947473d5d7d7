package centrifuge

import (
	"context"
	"errors"
	"time"

	"github.com/centrifugal/centrifuge"
)

// Peer is Centrifuge's in-memory presence manager on a node of its own,
// driven as a presence store: a heartbeat is AddPresence on each channel,
// a leave RemovePresence. It is safe for concurrent use.
type Peer struct {
	node *centrifuge.Node
	pm   *centrifuge.MemoryPresenceManager
}

// NewPeer returns a Peer on a new Centrifuge node with its default
// configuration. The node is not run: the presence manager needs no
// transport, broker or goroutine of its own.
func NewPeer() (*Peer, error) {
	node, err := centrifuge.New(centrifuge.Config{})
	if err != nil {
		return nil, err
	}
	pm, err := centrifuge.NewMemoryPresenceManager(node, centrifuge.MemoryPresenceManagerConfig{})
	if err != nil {
		return nil, err
	}
	return &Peer{node: node, pm: pm}, nil
}

// Heartbeat adds or refreshes uuid on channels. The manager keeps no
// deadline, so timeout is not used, and it does not tell a join from a
// refresh. The ClientInfo is built for the call, as Centrifuge's client
// builds one for every presence update; uuid serves as client and user id,
// and is kept.
func (p *Peer) Heartbeat(uuid string, channels []string, _ time.Duration) error {
	for _, ch := range channels {
		if err := p.pm.AddPresence(ch, uuid, &centrifuge.ClientInfo{ClientID: uuid, UserID: uuid}); err != nil {
			return err
		}
	}
	return nil
}

// Leave removes uuid from channels.
func (p *Peer) Leave(uuid string, channels []string) error {
	for _, ch := range channels {
		if err := p.pm.RemovePresence(ch, uuid, uuid); err != nil {
			return err
		}
	}
	return nil
}

// Occupancy returns the number of clients on channel (PresenceStats, which
// counts the channel's clients and distinct users by visiting every one).
func (p *Peer) Occupancy(channel string) (int, error) {
	st, err := p.pm.PresenceStats(channel)
	return st.NumClients, err
}

// HereNow returns the occupancy of channel and up to limit of its uuids from
// the offset-th on. The manager has no paging: Presence copies the whole
// channel, and the page is cut from the copy.
func (p *Peer) HereNow(channel string, offset, limit int) (occupancy int, uuids []string, err error) {
	all, err := p.pm.Presence(channel)
	if err != nil {
		return 0, nil, err
	}
	i := 0
	for id := range all {
		if len(uuids) == limit {
			break
		}
		if i >= offset {
			uuids = append(uuids, id)
		}
		i++
	}
	return len(all), uuids, nil
}

// ErrNoEvents is what a caller asking for events gets: the manager sends
// none.
var ErrNoEvents = errors.New("centrifuge: the in-memory presence manager sends no events")

// Close closes the presence manager. The node, never run, holds nothing
// to release.
func (p *Peer) Close() error { return p.pm.Close(context.Background()) }

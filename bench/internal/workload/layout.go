package workload

import "fmt"

// Layout spreads memberships over channels: Members (uuid, channel) pairs on
// Channels channels, each uuid on PerUUID of them. The uuid of index u is on
// channels (u*PerUUID + j) mod Channels for j below PerUUID, so every channel
// holds Members/Channels members and a uuid is never twice on one channel.
type Layout struct {
	Members  int
	Channels int
	PerUUID  int
}

// OneChannel is the layout of n members on one channel.
func OneChannel(n int) Layout { return Layout{Members: n, Channels: 1, PerUUID: 1} }

// Validate reports whether the layout is consistent.
func (l Layout) Validate() error {
	switch {
	case l.Members <= 0 || l.Channels <= 0 || l.PerUUID <= 0:
		return fmt.Errorf("workload: layout %+v: counts must be positive", l)
	case l.Members%l.PerUUID != 0 || l.Members%l.Channels != 0:
		return fmt.Errorf("workload: layout %+v: members must divide evenly", l)
	case l.PerUUID > l.Channels:
		return fmt.Errorf("workload: layout %+v: more channels per uuid than channels", l)
	}
	return nil
}

// UUIDs is the number of distinct uuids.
func (l Layout) UUIDs() int { return l.Members / l.PerUUID }

// PerChannel is the number of members of each channel.
func (l Layout) PerChannel() int { return l.Members / l.Channels }

// Shape names the layout as benchmark names show it: "1x1M" is one channel of
// 1M members, "100kx10" is 100k channels of 10.
func (l Layout) Shape() string { return Label(l.Channels) + "x" + Label(l.PerChannel()) }

// ChannelsOf appends to dst the channel names of uuid u, taken from names
// (the names of channels 0 to Channels-1), and returns the result.
func (l Layout) ChannelsOf(dst []string, names []string, u int) []string {
	for j := range l.PerUUID {
		dst = append(dst, names[(u*l.PerUUID+j)%l.Channels])
	}
	return dst
}

// Names returns the names of the layout's channels.
func (l Layout) Names() []string { return Channels(l.Channels) }

// Channels returns the names of channels 0 to n-1.
func Channels(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = Channel(i)
	}
	return out
}

// UUIDs returns uuids from to from+n-1.
func UUIDs(from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = UUID(from + i)
	}
	return out
}

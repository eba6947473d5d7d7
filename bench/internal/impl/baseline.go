package impl

import (
	"math"

	"github.com/presenced/presence/bench/internal/baseline"
)

// The baseline adapters embed the baselines, so that Heartbeat, Leave,
// Occupancy and Close are the baselines' own methods, called with no extra
// indirection; they only adapt the result types of the others.

type naiveAdapter struct{ *baseline.Naive }

func newNaive() naiveAdapter { return naiveAdapter{baseline.NewNaive()} }

func (a naiveAdapter) HereNow(channel string, offset, limit int) (int, int, error) {
	occ, uuids, err := a.Naive.HereNow(channel, offset, limit)
	return occ, len(uuids), err
}

func (a naiveAdapter) Members(channel string) ([]string, error) {
	_, uuids, err := a.Naive.HereNow(channel, 0, math.MaxInt)
	return orEmpty(uuids), err
}

func (a naiveAdapter) Subscribe(channels []string, buffer int) (Subscription, error) {
	return subscription(a.Naive.Subscribe(channels, buffer))
}

type wheelAdapter struct{ *baseline.WheelPerMember }

func newWheelPerMember() wheelAdapter { return wheelAdapter{baseline.NewWheelPerMember()} }

func (a wheelAdapter) HereNow(channel string, offset, limit int) (int, int, error) {
	occ, uuids, err := a.WheelPerMember.HereNow(channel, offset, limit)
	return occ, len(uuids), err
}

func (a wheelAdapter) Members(channel string) ([]string, error) {
	_, uuids, err := a.WheelPerMember.HereNow(channel, 0, math.MaxInt)
	return orEmpty(uuids), err
}

func (a wheelAdapter) Subscribe(channels []string, buffer int) (Subscription, error) {
	return subscription(a.WheelPerMember.Subscribe(channels, buffer))
}

// subscription returns s as a Subscription, and a nil interface with err.
func subscription(s *baseline.Subscription, err error) (Subscription, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

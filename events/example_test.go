package events_test

import (
	"fmt"

	"github.com/presenced/presence/events"
)

func Example() {
	bus := events.NewBus(events.BusConfig{})
	defer bus.Close()

	sub, err := bus.Subscribe(events.Filter{SubKey: "demo", Channels: []string{"lobby"}}, events.Options{Buffer: 64})
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	if bus.Interested("demo", "lobby") {
		bus.Publish(&events.Event{Action: events.Join, SubKey: "demo", Channel: "lobby", UUID: "alice", Occupancy: 1})
	}

	ev := <-sub.Events()
	fmt.Println(ev.Action, ev.Channel, ev.UUID, ev.Occupancy, len(ev.TimetokenString()))
	// Output: join lobby alice 1 17
}

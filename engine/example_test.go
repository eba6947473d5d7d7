package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

func ExampleEngine_Heartbeat() {
	e, err := engine.New(engine.Config{})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	ctx := context.Background()
	req := engine.HeartbeatRequest{
		SubKey:   "demo",
		UUID:     "alice",
		Channels: []string{"lobby", "game-1"},
		Timeout:  60 * time.Second,
		State:    map[string]json.RawMessage{"lobby": json.RawMessage(`{"mood":"happy"}`)},
	}
	res, _ := e.Heartbeat(ctx, req)
	fmt.Println("joined:", res.Joined, "timeout:", res.Timeout)

	req.State = nil
	res, _ = e.Heartbeat(ctx, req) // present: only the deadline moves
	fmt.Println("joined:", res.Joined)

	_, err = e.Heartbeat(ctx, engine.HeartbeatRequest{SubKey: "demo", UUID: "bob", Channels: []string{"bad,name"}})
	fmt.Println(err)
	// Output:
	// joined: [lobby game-1] timeout: 1m0s
	// joined: []
	// presence: invalid channel "bad,name": contains ','
}

func ExampleEngine_Subscribe() {
	e, err := engine.New(engine.Config{})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	sub, err := e.Subscribe(events.Filter{SubKey: "demo", Channels: []string{"lobby"}}, events.Options{})
	if err != nil {
		panic(err)
	}
	defer sub.Close()

	ctx := context.Background()
	e.Heartbeat(ctx, engine.HeartbeatRequest{SubKey: "demo", UUID: "alice", Channels: []string{"lobby"}})
	e.Heartbeat(ctx, engine.HeartbeatRequest{SubKey: "demo", UUID: "bob", Channels: []string{"lobby", "elsewhere"}})
	e.Leave(ctx, engine.LeaveRequest{SubKey: "demo", UUID: "alice", Channels: []string{"lobby"}})

	for range 3 {
		ev := <-sub.Events()
		fmt.Println(ev.Action, ev.Channel, ev.UUID, ev.Occupancy)
	}
	// Output:
	// join lobby alice 1
	// join lobby bob 2
	// leave lobby alice 1
}

func ExampleEngine_HereNow() {
	e, err := engine.New(engine.Config{})
	if err != nil {
		panic(err)
	}
	defer e.Close()

	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "carol"} {
		e.Heartbeat(ctx, engine.HeartbeatRequest{SubKey: "demo", UUID: u, Channels: []string{"lobby"}})
	}
	e.SetState(ctx, engine.SetStateRequest{SubKey: "demo", UUID: "bob", Channels: []string{"lobby"}, State: json.RawMessage(`{"away":true}`)})

	res, _ := e.HereNow(engine.HereNowRequest{SubKey: "demo", Channels: []string{"lobby"}, State: true})
	for _, ch := range res.Channels {
		fmt.Println(ch.Channel, "occupancy", ch.Occupancy)
		for _, m := range ch.Members {
			if m.UUID == "bob" {
				fmt.Println(m.UUID, string(m.State))
			}
		}
	}
	n, _ := e.Occupancy("demo", "lobby")
	fmt.Println("occupancy in O(1):", n)
	// Output:
	// lobby occupancy 3
	// bob {"away":true}
	// occupancy in O(1): 3
}

// A server saves its presence on shutdown and restores it when it starts
// again: members stay present, with their state and the time they had left,
// and their next heartbeat is a refresh, not a join.
func ExampleEngine_Snapshot() {
	ctx := context.Background()
	old, err := engine.New(engine.Config{})
	if err != nil {
		panic(err)
	}
	old.Heartbeat(ctx, engine.HeartbeatRequest{SubKey: "demo", UUID: "alice", Channels: []string{"lobby"},
		State: map[string]json.RawMessage{"lobby": json.RawMessage(`{"mood":"happy"}`)}})
	old.Heartbeat(ctx, engine.HeartbeatRequest{SubKey: "demo", UUID: "bob", Channels: []string{"lobby", "game-1"}})

	// On shutdown: close, so that nothing changes any more, then save.
	old.Close()
	var saved bytes.Buffer // a file, in a server
	info, err := old.Snapshot(&saved)
	if err != nil {
		panic(err)
	}
	fmt.Println("saved", info.Members, "members of", info.UUIDs, "uuids")

	// On start: restore into the new engine before it serves.
	e, err := engine.New(engine.Config{})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	if _, err := e.Restore(&saved); err != nil {
		panic(err) // a damaged snapshot: the error says what is wrong, and nothing is restored
	}
	where, _ := e.WhereNow("demo", "bob")
	st, _ := e.GetState(engine.GetStateRequest{SubKey: "demo", UUID: "alice", Channels: []string{"lobby"}})
	fmt.Println("bob is on", where, "and alice's state is", string(st["lobby"]))
	res, _ := e.Heartbeat(ctx, engine.HeartbeatRequest{SubKey: "demo", UUID: "alice", Channels: []string{"lobby"}})
	fmt.Println("alice joined again:", res.Joined != nil)
	// Output:
	// saved 3 members of 2 uuids
	// bob is on [game-1 lobby] and alice's state is {"mood":"happy"}
	// alice joined again: false
}

package engine_test

import (
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

// Command presence-demo runs the presence engine in memory for a few seconds
// and prints its events as they happen: joins, state changes, leaves,
// timeouts, and interval events once a channel gets crowded.
//
//	go run ./cmd/presence-demo
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/presenced/presence/engine"
	"github.com/presenced/presence/events"
)

func main() {
	length := flag.Duration("for", 8*time.Second, "how long to run")
	flag.Parse()
	if err := run(*length); err != nil {
		fmt.Fprintln(os.Stderr, "presence-demo:", err)
		os.Exit(1)
	}
}

func run(length time.Duration) error {
	e, err := engine.New(engine.Config{
		MinTimeout:     time.Second,
		Tick:           100 * time.Millisecond,
		AnnounceMax:    4,
		Interval:       2 * time.Second,
		IntervalDeltas: true,
	})
	if err != nil {
		return err
	}
	defer e.Close()

	sub, err := e.Subscribe(events.Filter{}, events.Options{})
	if err != nil {
		return err
	}
	printed := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(printed)
		for ev := range sub.Events() {
			at := ev.Time.Sub(start).Truncate(time.Millisecond)
			switch ev.Action {
			case events.Interval:
				fmt.Printf("%7v  %-12s %-8s occupancy=%d joined=%v left=%v timed-out=%v\n",
					at, ev.Action, ev.Channel, ev.Occupancy, ev.Joined, ev.Left, ev.TimedOut)
			default:
				fmt.Printf("%7v  %-12s %-8s %-6s occupancy=%d state=%s\n",
					at, ev.Action, ev.Channel, ev.UUID, ev.Occupancy, orNone(ev.State))
			}
		}
	}()

	ctx := context.Background()
	beat := func(uuid string, timeout time.Duration, state string, channels ...string) {
		r := engine.HeartbeatRequest{SubKey: "demo", UUID: uuid, Channels: channels, Timeout: timeout}
		if state != "" {
			r.State = map[string]json.RawMessage{channels[0]: json.RawMessage(state)}
		}
		if _, err := e.Heartbeat(ctx, r); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}

	// alice heartbeats all along; bob leaves; carol goes silent and times out;
	// a crowd makes "arena" switch to interval events.
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for i := 0; time.Since(start) < length; i++ {
		beat("alice", 2*time.Second, "", "lobby")
		switch i {
		case 0:
			beat("bob", 2*time.Second, `{"mood":"curious"}`, "lobby")
			beat("carol", time.Second, "", "lobby", "arena")
		case 2:
			if _, err := e.SetState(ctx, engine.SetStateRequest{SubKey: "demo", UUID: "bob", Channels: []string{"lobby"}, State: json.RawMessage(`{"mood":"busy"}`)}); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		case 4:
			if _, err := e.Leave(ctx, engine.LeaveRequest{SubKey: "demo", UUID: "bob", Channels: []string{"lobby"}}); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		case 6:
			for n := range 6 {
				beat(fmt.Sprintf("fan-%d", n), 3*time.Second, "", "arena")
			}
		}
		<-tick.C
	}
	st := e.Stats()
	sub.Close()
	<-printed
	fmt.Printf("members=%d channels=%d uuids=%d heartbeats=%d joins=%d leaves=%d timeouts=%d events=%d\n",
		st.Members, st.Channels, st.UUIDs, st.Heartbeats, st.Joins, st.Leaves, st.Timeouts, st.EventsPublished)
	return nil
}

func orNone(st json.RawMessage) string {
	if st == nil {
		return "-"
	}
	return string(st)
}

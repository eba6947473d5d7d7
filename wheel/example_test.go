package wheel_test

import (
	"fmt"
	"time"

	"github.com/presenced/presence/wheel"
)

// member stands for whatever the owner keeps per item; the wheel stores only
// the pointer.
type member struct {
	name     string
	deadline int64 // wheel clock, ns
}

func Example() {
	expired := make(chan int, 1)
	w, err := wheel.New(wheel.Config{Tick: 10 * time.Millisecond, Workers: 1},
		func(b wheel.Batch[*member]) {
			// Runs on a worker goroutine, no lock of the wheel held. A real owner
			// re-checks each member's deadline here and schedules it again if the
			// deadline moved.
			n := 0
			for _, m := range b.Items {
				if m.deadline <= b.Now {
					n++
				}
			}
			expired <- n
		})
	if err != nil {
		panic(err)
	}
	defer w.Close()

	m := &member{name: "alice", deadline: w.Now() + int64(10*time.Millisecond)}
	w.Schedule(m, m.deadline)

	fmt.Printf("expired %d item\n", <-expired)
	// Output: expired 1 item
}

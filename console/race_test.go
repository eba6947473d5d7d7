//go:build race

package console

// raceEnabled: the race detector makes sync.Pool drop what it holds at
// random, so allocation counts vary from run to run.
const raceEnabled = true

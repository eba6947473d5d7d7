package engine

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNoNATSInEngine: a program that imports only this package compiles no
// NATS code (the cluster package, which keeps presence in NATS JetStream, is
// separate).
func TestNoNATSInEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	require.NoError(t, err, string(out))
	for _, dep := range strings.Fields(string(out)) {
		require.NotContains(t, dep, "nats-io", "engine depends on %s", dep)
	}
}

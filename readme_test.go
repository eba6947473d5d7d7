package presence_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/internal/doccheck"
)

// TestREADMEPrograms builds, vets and runs each Go program README.md shows,
// exactly as shown, in a module of its own that uses this repository, as a
// reader who pastes it would; a program the file shows an output for must
// print exactly that. Programs that import a PubNub SDK are left to
// sdktest/go (TestREADMEGoSDKPrograms), whose module has the SDK.
func TestREADMEPrograms(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	repo, err := filepath.Abs(".")
	require.NoError(t, err)
	goCmd, err := doccheck.GoCommand()
	require.NoError(t, err)

	blocks := doccheck.Blocks(readme)
	require.NotEmpty(t, blocks, "README.md shows no Go program")
	checked, withOutput := 0, 0
	for _, b := range blocks {
		imports, err := b.Imports()
		require.NoError(t, err, "every Go block of README.md is a whole file")
		if slices.Contains(imports, "github.com/pubnub/go") {
			continue
		}
		t.Run("line "+strconv.Itoa(b.Line), func(t *testing.T) {
			mod := doccheck.Module{Repo: repo, GoSum: []string{filepath.Join(repo, "go.sum")}}
			require.NoError(t, doccheck.Check(t.Context(), goCmd, t.TempDir(), mod, b))
		})
		checked++
		if b.HasOutput {
			withOutput++
		}
	}
	require.Positive(t, checked)
	require.Positive(t, withOutput, "the quick start shows what it prints")
}

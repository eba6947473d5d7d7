package sdktest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/presenced/presence/internal/doccheck"
)

// TestREADMEGoSDKPrograms builds and vets, exactly as shown, each Go program
// of the repository's README.md that imports the Go SDK, in a module of its
// own with the SDK at this suite's version; TestREADMEPrograms at the root
// checks the others. They are not run: they talk to a server on a fixed port.
func TestREADMEGoSDKPrograms(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	require.NoError(t, err)
	goCmd, err := doccheck.GoCommand()
	require.NoError(t, err)

	checked := 0
	for _, b := range doccheck.Blocks(readme) {
		imports, err := b.Imports()
		require.NoError(t, err)
		if !slices.Contains(imports, "github.com/pubnub/go") {
			continue
		}
		require.False(t, b.HasOutput, "the program at line %d talks to a server: it shows no output to compare", b.Line)
		t.Run("line "+strconv.Itoa(b.Line), func(t *testing.T) {
			mod := doccheck.Module{
				Repo:    repo,
				Require: suiteRequires(t, goCmd),
				GoSum:   []string{filepath.Join(repo, "go.sum"), "go.sum"},
			}
			require.NoError(t, doccheck.Check(t.Context(), goCmd, t.TempDir(), mod, b))
		})
		checked++
	}
	require.Positive(t, checked, "README.md shows the Go SDK pointed at the server")
}

// suiteRequires returns the requirements of this suite's go.mod as "path
// version", the library itself left out: the SDK, and the modules it needs,
// which its version (+incompatible, without a go.mod) does not name.
func suiteRequires(t *testing.T, goCmd string) []string {
	t.Helper()
	out, err := exec.Command(goCmd, "mod", "edit", "-json").Output()
	require.NoError(t, err)
	var gomod struct {
		Require []struct{ Path, Version string }
	}
	require.NoError(t, json.Unmarshal(out, &gomod))
	var reqs []string
	for _, r := range gomod.Require {
		if r.Path != "github.com/presenced/presence" {
			reqs = append(reqs, r.Path+" "+r.Version)
		}
	}
	return reqs
}

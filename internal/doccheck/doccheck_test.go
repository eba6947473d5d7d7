package doccheck

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBlocks(t *testing.T) {
	md := "# Title\n" +
		"```go\npackage main\n\nfunc main() {}\n```\n" + // line 2
		"It prints:\n\n```text\nhello\n```\n" +
		"```js\nconsole.log(1)\n```\n" +
		"```go\npackage b\n```\r\n" + // line 15, no output: the next fence is not text
		"```sh\necho\n```\n" +
		"```text\nnot b's\n```\n" +
		"```go\npackage c\n" // unterminated: ignored
	got := Blocks([]byte(md))
	require.Len(t, got, 2)
	assert.Equal(t, Block{Line: 2, Code: "package main\n\nfunc main() {}\n", Output: "hello\n", HasOutput: true}, got[0])
	assert.Equal(t, Block{Line: 15, Code: "package b\n"}, got[1])
}

func TestImports(t *testing.T) {
	b := Block{Line: 3, Code: "package main\n\nimport (\n\t\"fmt\"\n\tpn \"github.com/pubnub/go\"\n)\n"}
	imports, err := b.Imports()
	require.NoError(t, err)
	assert.Equal(t, []string{"fmt", "github.com/pubnub/go"}, imports)

	_, err = Block{Line: 7, Code: "x := 1\n"}.Imports()
	assert.ErrorContains(t, err, "the block at line 7 is not a Go file")
}

func TestCheck(t *testing.T) {
	goCmd, err := GoCommand()
	require.NoError(t, err)
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	mod := Module{Repo: repo, GoSum: []string{filepath.Join(repo, "go.sum")}}
	const prog = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n"

	t.Run("prints what is shown", func(t *testing.T) {
		require.NoError(t, Check(t.Context(), goCmd, t.TempDir(), mod, Block{Line: 1, Code: prog, Output: "hello\n", HasOutput: true}))
	})
	t.Run("prints something else", func(t *testing.T) {
		err := Check(t.Context(), goCmd, t.TempDir(), mod, Block{Line: 1, Code: prog, Output: "hi\n", HasOutput: true})
		var oe *OutputError
		require.ErrorAs(t, err, &oe)
		assert.Equal(t, "hello\n", oe.Got)
	})
	t.Run("does not compile", func(t *testing.T) {
		err := Check(t.Context(), goCmd, t.TempDir(), mod, Block{Line: 9, Code: "package main\n\nfunc main() { x }\n"})
		assert.ErrorContains(t, err, "the block at line 9: go vet")
	})
	t.Run("vet finds a mistake", func(t *testing.T) {
		err := Check(t.Context(), goCmd, t.TempDir(), mod, Block{Line: 4, Code: "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Printf(\"%d\\n\", \"x\") }\n"})
		assert.ErrorContains(t, err, "the block at line 4: go vet")
	})
}

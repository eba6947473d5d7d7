// Package doccheck keeps the Go code that a Markdown file shows honest. Tests
// use it to find the file's Go blocks, each a complete program, and to vet
// and run each one in a module of its own that uses this repository, as a
// reader who pastes it would, comparing what the program prints with the
// output the file shows for it.
//
// A block is a fenced code block whose info string is "go". The output of a
// program is the fenced block with the info string "text" that comes next,
// when no other fenced block comes between them.
package doccheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Block is one Go block of a Markdown file.
type Block struct {
	// Line is the line of the block's opening fence, counted from 1.
	Line int
	// Code is the block's content, each line ending in "\n".
	Code string
	// Output is the content of the text block that follows, and HasOutput
	// tells whether there is one.
	Output    string
	HasOutput bool
}

// fence is one fenced code block.
type fence struct {
	line int
	info string
	body string
}

// Blocks returns the Go blocks of markdown, in order, each with the output
// shown for it. Fences are lines starting with three backticks; an
// unterminated block is ignored.
func Blocks(markdown []byte) []Block {
	var fences []fence
	var cur *fence
	var body strings.Builder
	for i, line := range strings.Split(string(markdown), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if !strings.HasPrefix(line, "```") {
			if cur != nil {
				body.WriteString(line)
				body.WriteByte('\n')
			}
			continue
		}
		if cur == nil {
			cur = &fence{line: i + 1, info: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
			body.Reset()
			continue
		}
		cur.body = body.String()
		fences = append(fences, *cur)
		cur = nil
	}
	var out []Block
	for i, f := range fences {
		if f.info != "go" {
			continue
		}
		b := Block{Line: f.line, Code: f.body}
		if i+1 < len(fences) && fences[i+1].info == "text" {
			b.Output, b.HasOutput = fences[i+1].body, true
		}
		out = append(out, b)
	}
	return out
}

// Imports returns the import paths of the block, which must be a complete Go
// file.
func (b Block) Imports() ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", b.Code, parser.ImportsOnly)
	if err != nil {
		return nil, fmt.Errorf("the block at line %d is not a Go file: %w", b.Line, err)
	}
	var paths []string
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// Module describes the module a block is checked in.
type Module struct {
	// Repo is the directory of this repository, which the module requires
	// as github.com/presenced/presence through a replace directive.
	Repo string
	// Require lists further modules as "path version".
	Require []string
	// GoSum lists go.sum files whose lines the module's go.sum holds.
	GoSum []string
}

// Check writes the block as main.go of a new module in dir (empty, or not
// yet there) and runs go vet on it, which type-checks it. If the block shows
// an output, it then runs the program and compares what it prints on
// standard output with that. The go command runs offline (GOPROXY=off): the
// modules it needs must be in the module cache, as they are once this
// repository's tests have been built. goCmd is the go command to run.
func Check(ctx context.Context, goCmd, dir string, m Module, b Block) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gomod := "module doccheck.example/readme\n\ngo 1.26\n\nrequire github.com/presenced/presence v0.0.0\n"
	for _, r := range m.Require {
		gomod += "require " + r + "\n"
	}
	gomod += "\nreplace github.com/presenced/presence => " + m.Repo + "\n"
	var sum []byte
	for _, p := range m.GoSum {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum = append(sum, data...)
	}
	for name, data := range map[string][]byte{"go.mod": []byte(gomod), "go.sum": sum, "main.go": []byte(b.Code)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	goRun := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go %s: %w\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
		}
		return stdout.Bytes(), nil
	}
	if _, err := goRun("vet", "."); err != nil {
		return fmt.Errorf("the block at line %d: %w", b.Line, err)
	}
	if !b.HasOutput {
		return nil
	}
	got, err := goRun("run", ".")
	if err != nil {
		return fmt.Errorf("the block at line %d: %w", b.Line, err)
	}
	if string(got) != b.Output {
		return &OutputError{Line: b.Line, Got: string(got), Want: b.Output}
	}
	return nil
}

// OutputError is a program printing something other than the output shown
// for it.
type OutputError struct {
	Line      int
	Got, Want string
}

func (e *OutputError) Error() string {
	return fmt.Sprintf("the program at line %d prints\n%s\nbut the file shows\n%s", e.Line, e.Got, e.Want)
}

// ErrNoGo is returned by GoCommand when no go command is found.
var ErrNoGo = errors.New("doccheck: no go command: neither $GOROOT/bin/go nor go on $PATH")

// GoCommand returns the go command to run: $GOROOT/bin/go if GOROOT is set,
// else go as found on $PATH.
func GoCommand() (string, error) {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		return "", ErrNoGo
	}
	return p, nil
}

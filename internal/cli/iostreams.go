package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// IOStreams decides terminal behaviour in one place.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	inTTY, outTTY, errTTY bool
	inFd                  int
	stdinUsed             bool // a secret or file was already read from stdin

	NoColor bool
}

// SystemIO returns the process's streams.
func SystemIO() *IOStreams { return newSystemIO(os.Getenv, term.IsTerminal) }

// newSystemIO takes the environment and the terminal test as functions so
// tests can play every combination.
func newSystemIO(getenv func(string) string, isTerminal func(fd int) bool) *IOStreams {
	io := &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, inFd: int(os.Stdin.Fd())}
	io.inTTY = isTerminal(int(os.Stdin.Fd()))
	io.outTTY = isTerminal(int(os.Stdout.Fd()))
	io.errTTY = isTerminal(int(os.Stderr.Fd()))
	// https://no-color.org: NO_COLOR set to a non-empty value turns colour off.
	io.NoColor = getenv("NO_COLOR") != "" || getenv("TERM") == "dumb"
	return io
}

// CanPrompt is true only when stdin and stdout are terminals. Without one, a
// missing value is an error naming the flag to pass.
func (s *IOStreams) CanPrompt() bool { return s.inTTY && s.outTTY }

// IsStdoutTTY reports whether output goes to a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.outTTY }

// IsStderrTTY reports whether notices and progress go to a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.errTTY }

// ColorEnabled: colours only on a terminal, never with NO_COLOR.
func (s *IOStreams) ColorEnabled() bool { return s.outTTY && !s.NoColor }

// TerminalWidth is the output width, or 100 when not a terminal.
func (s *IOStreams) TerminalWidth() int {
	if f, ok := s.Out.(*os.File); ok && s.outTTY {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 20 {
			return w
		}
	}
	return 100
}

// ReadStdin reads all of stdin once (for `--passcode-file -` and friends).
func (s *IOStreams) ReadStdin() ([]byte, error) {
	if s.stdinUsed {
		return nil, usagef("standard input can feed only one value; read the others from files")
	}
	s.stdinUsed = true
	return io.ReadAll(s.In)
}

// ReadSecretLine prompts on stderr and reads a line without echo.
func (s *IOStreams) ReadSecretLine(prompt string) ([]byte, error) {
	if !s.CanPrompt() {
		return nil, errors.New("no terminal to prompt on; give the value in a file or the environment (see --help)")
	}
	fmt.Fprint(s.ErrOut, prompt)
	b, err := term.ReadPassword(s.inFd)
	fmt.Fprintln(s.ErrOut)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Confirm asks a yes/no question on a terminal; def is the answer to Enter.
func (s *IOStreams) Confirm(question string, def bool) (bool, error) {
	if !s.CanPrompt() {
		return def, nil
	}
	hint := "[y/N]"
	if def {
		hint = "[Y/n]"
	}
	fmt.Fprintf(s.ErrOut, "%s %s ", question, hint)
	line, err := bufio.NewReader(s.In).ReadString('\n')
	if err != nil {
		return false, err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "":
		return def, nil
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// Package iostreams carries a command's standard streams, so tests run
// commands in-process and read what they printed (the gh CLI's pattern).
package iostreams

import (
	"bytes"
	"io"
	"os"
)

// IOStreams are the streams a command reads and writes: results go to Out,
// diagnostics and progress to ErrOut, so `pbxhooks ... --output json | jq`
// sees only results.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// InIsTerminal is true when In is an interactive terminal (login then
	// prompts instead of reading a piped token).
	InIsTerminal bool
}

// System is the process's own streams.
func System() *IOStreams {
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, InIsTerminal: isTerminal(os.Stdin)}
}

// Test is streams over buffers: what a test feeds on in, and what the
// command wrote to out and errOut.
func Test() (streams *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// Package inputfile reads the files commands take (an event, headers, a
// body), or standard input for "-", with a size bound: a file argument is
// outside input like any other.
package inputfile

import (
	"io"
	"os"

	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
)

// Read reads name, or stdin for "-", refusing more than limit bytes. Its
// errors exit 1 and name the file.
func Read(stdin io.Reader, name string, limit int64) ([]byte, error) {
	r := stdin
	if name != "-" {
		file, err := os.Open(name)
		if err != nil {
			return nil, exitcode.Failuref("%w", err)
		}
		defer file.Close()
		r = file
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, exitcode.Failuref("read %s: %w", displayName(name), err)
	}
	if int64(len(data)) > limit {
		return nil, exitcode.Failuref("%s: larger than %d bytes", displayName(name), limit)
	}
	return data, nil
}

func displayName(name string) string {
	if name == "-" {
		return "standard input"
	}
	return name
}

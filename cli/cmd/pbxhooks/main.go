// Command pbxhooks is the pbxhooks command-line tool; see `pbxhooks --help`
// and the README's CLI section.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pbxhooks/pbxhooks/cli/internal/command/root"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/iostreams"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := root.Run(ctx, factory.New(iostreams.System(), os.LookupEnv), os.Args[1:])
	stop()
	os.Exit(code)
}

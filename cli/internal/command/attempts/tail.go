package attempts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pbxhooks/pbxhooks/cli/internal/api"
	"github.com/pbxhooks/pbxhooks/cli/internal/exitcode"
	"github.com/pbxhooks/pbxhooks/cli/internal/factory"
	"github.com/pbxhooks/pbxhooks/cli/internal/output"
	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
)

// lateWindow is how far before the newest attempt seen each poll looks
// again: attempts are stamped when made but become readable when written,
// so one made just before the newest seen can appear a moment later.
const lateWindow = time.Minute

func newCmdTail(f *factory.Factory) *cobra.Command {
	var q filter
	var lines int
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "tail [--hook ID] [--result success|failure]",
		Short: "Follow new attempts as they happen (Ctrl-C stops)",
		Long: `Print the last --lines attempts, then each new one as the API records it,
oldest first, until Ctrl-C (exit 0). The API is asked every --interval.
With --output json each attempt is one JSON object on its own line (NDJSON),
with the API's field names. While the API is unreachable or answers 5xx,
tail says so on stderr and keeps asking; any other error stops it.`,
		Example: `  pbxhooks attempts tail
  pbxhooks attempts tail --hook 0123456789abcdef0123456789abcdef --result failure --output json | jq .response.status`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if lines < 0 || lines > maxPageSize {
				return exitcode.Usagef("--lines must be 0 to %d", maxPageSize)
			}
			if interval < 100*time.Millisecond {
				return exitcode.Usagef("--interval must be at least 100ms")
			}
			client, err := api.New(f)
			if err != nil {
				return err
			}
			p, err := q.params(time.Now())
			if err != nil {
				return err
			}
			t := &tailer{f: f, client: client, hook: q.hook, base: p, seen: map[string]time.Time{}}
			return t.run(cmd.Context(), lines, interval)
		},
	}
	q.register(cmd, false)
	cmd.Flags().IntVarP(&lines, "lines", "n", 10, "attempts to show before following (0 to 100)")
	cmd.Flags().DurationVar(&interval, "interval", 2*time.Second, "how often to ask the API")
	return cmd
}

// tailer remembers which attempts it printed, so each is printed once.
type tailer struct {
	f      *factory.Factory
	client *api.Client
	hook   string
	base   params
	// seen maps printed attempt ids to their time; entries older than the
	// window are dropped.
	seen   map[string]time.Time
	newest time.Time
}

func (t *tailer) run(ctx context.Context, lines int, interval time.Duration) error {
	t.newest = time.Now()
	if lines > 0 {
		p := t.base
		p.pageSize = lines
		pg, err := page(ctx, t.client, t.hook, p)
		if err != nil {
			return stopped(ctx, err)
		}
		if err := t.print(pg.Data); err != nil {
			return err
		}
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		fresh, err := t.poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !transient(err) {
				return err
			}
			fmt.Fprintf(t.f.IO.ErrOut, "pbxhooks: %v (still trying)\n", err)
			continue
		}
		if err := t.print(fresh); err != nil {
			return err
		}
	}
}

// poll reads every attempt since the window before the newest seen.
func (t *tailer) poll(ctx context.Context) ([]apiclient.Attempt, error) {
	p := t.base
	from := t.newest.Add(-lateWindow)
	if p.from == nil || from.After(*p.from) {
		p.from = &from
	}
	p.pageSize = maxPageSize
	var all []apiclient.Attempt
	for {
		pg, err := page(ctx, t.client, t.hook, p)
		if err != nil {
			return nil, err
		}
		all = append(all, pg.Data...)
		if pg.NextStartKey == nil || *pg.NextStartKey == "" || len(pg.Data) == 0 {
			break
		}
		p.startKey = pg.NextStartKey
	}
	for id, at := range t.seen {
		if at.Before(from.Add(-lateWindow)) {
			delete(t.seen, id)
		}
	}
	return all, nil
}

// print writes the attempts not printed yet, oldest first.
func (t *tailer) print(attempts []apiclient.Attempt) error {
	fresh := make([]apiclient.Attempt, 0, len(attempts))
	for _, a := range attempts {
		if _, ok := t.seen[a.Id]; ok {
			continue
		}
		t.seen[a.Id] = a.Timestamp
		if a.Timestamp.After(t.newest) {
			t.newest = a.Timestamp
		}
		fresh = append(fresh, a)
	}
	slices.SortStableFunc(fresh, func(a, b apiclient.Attempt) int { return a.Timestamp.Compare(b.Timestamp) })
	for _, a := range fresh {
		var err error
		if t.f.Output == output.JSON {
			var line []byte
			if line, err = json.Marshal(a); err == nil {
				_, err = fmt.Fprintf(t.f.IO.Out, "%s\n", line)
			}
		} else {
			_, err = fmt.Fprintln(t.f.IO.Out, strings.Join(row(a), "  "))
		}
		if err != nil {
			return exitcode.Failuref("write: %w", err)
		}
	}
	return nil
}

// transient errors are worth asking again: no answer, or a 5xx.
func transient(err error) bool {
	code := exitcode.Of(err)
	var status int
	var coded *exitcode.Error
	if errors.As(err, &coded) {
		status = coded.Status
	}
	return code == exitcode.Unreachable || status >= 500
}

// stopped turns an error caused by Ctrl-C into a clean stop.
func stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

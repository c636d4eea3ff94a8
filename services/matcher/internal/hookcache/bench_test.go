package hookcache_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/event"
	"github.com/pbxhooks/pbxhooks/pkg/store"
	pbxhooksv1 "github.com/pbxhooks/pbxhooks/proto/pbxhooks/v1"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/hookcache"
	"github.com/pbxhooks/pbxhooks/services/matcher/internal/match"
)

// memorySource serves a generated hook set, so the benchmark measures the
// cache and the matching, not PostgreSQL.
type memorySource struct{ hooks []store.Hook }

func (m *memorySource) ListEnabledHooks(_ context.Context, arg store.ListEnabledHooksParams) ([]store.Hook, error) {
	if arg.AfterID != "" {
		return nil, nil
	}
	return m.hooks, nil
}

func (m *memorySource) ListEnabledHooksForAccount(context.Context, string) ([]store.Hook, error) {
	return nil, nil
}

// benchHooks builds total hooks: perAccount in the account "target" and the
// rest spread evenly over accounts-1 other accounts. Half the hooks of each
// account are Spoke call hooks that match a ringing incoming call, half
// filter on another status, so matching does its real work on every hook.
func benchHooks(total, accounts, perAccount int) []store.Hook {
	hooks := make([]store.Hook, 0, total)
	add := func(accountID string, i int) {
		status := event.StatusRinging
		if i%2 == 1 {
			status = event.StatusMissed
		}
		hooks = append(hooks, store.Hook{
			ID: fmt.Sprintf("hk%07d", len(hooks)), AccountID: accountID, Hook: event.HookCall, Enabled: true,
			IncludeInternalLegs: true, CallTypes: []string{event.CallTypeIncoming}, CallStatuses: []string{status},
		})
	}
	for i := range perAccount {
		add("target", i)
	}
	rest := total - perAccount
	others := accounts - 1
	for i := range rest {
		add(fmt.Sprintf("acct%05d", i%others), i/others)
	}
	return hooks
}

// BenchmarkMatch measures the per-event cost of finding an event's hooks:
// the cache lookup of its account plus one match per hook of that account.
// The hooks/account sub-benchmarks keep 100,000 hooks over 10,000 accounts
// and vary the event account's hooks; the total sub-benchmarks keep 10 hooks
// in the event's account and vary all hooks. Cost must follow the first,
// not the second.
func BenchmarkMatch(b *testing.B) {
	cases := []struct {
		name                         string
		total, accounts, inEventAcct int
	}{
		{"total=100000/accounts=10000/account_hooks=1", 100_000, 10_000, 1},
		{"total=100000/accounts=10000/account_hooks=10", 100_000, 10_000, 10},
		{"total=100000/accounts=10000/account_hooks=100", 100_000, 10_000, 100},
		{"total=10000/accounts=1000/account_hooks=10", 10_000, 1_000, 10},
	}
	ev := &pbxhooksv1.Event{
		Id: "ev", AccountId: "target", Kind: event.KindCall, Lifecycle: event.LifecycleChannelCreate,
		CallType: event.CallTypeIncoming, Status: event.StatusRinging, CallId: "call",
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			hooks := benchHooks(tc.total, tc.accounts, tc.inEventAcct)
			cache := hookcache.New(hookcache.Deps{
				Source: &memorySource{hooks: hooks}, Log: slog.New(slog.DiscardHandler), PageSize: int32(len(hooks) + 1),
			})
			if err := cache.LoadAll(context.Background()); err != nil {
				b.Fatalf("LoadAll: %v", err)
			}
			if accounts, n := cache.Size(); accounts != tc.accounts || n != tc.total {
				b.Fatalf("cache holds %d accounts, %d hooks; want %d, %d", accounts, n, tc.accounts, tc.total)
			}
			ctx := context.Background()
			want := (tc.inEventAcct + 1) / 2
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if got := match.Select(cache.Lookup(ctx, ev.AccountId), ev); len(got) != want {
					b.Fatalf("matched %d hooks, want %d", len(got), want)
				}
			}
		})
	}
}

package teststack

import (
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/apiclient"
)

// Client is the generated API client for the stack's API, as the admin.
func (s *Stack) Client(t *testing.T) *apiclient.ClientWithResponses {
	t.Helper()
	c, err := apiclient.NewClientWithResponses(s.URL("api"), apiclient.WithToken(s.Cfg.AdminToken))
	if err != nil {
		t.Fatalf("API client: %v", err)
	}
	return c
}

// CreateHook creates a hook for account as the admin and returns it, with
// its secret; anything but a 201 fails the test.
func (s *Stack) CreateHook(t *testing.T, account string, doc apiclient.HookDocument) apiclient.Hook {
	t.Helper()
	created, err := s.Client(t).CreateHookWithResponse(t.Context(), account, apiclient.HookDocumentRequest{Data: doc})
	if err != nil {
		t.Fatalf("create hook %q: %v", doc.Name, err)
	}
	if created.JSON201 == nil {
		t.Fatalf("create hook %q: status %d: %s", doc.Name, created.StatusCode(), created.Body)
	}
	return created.JSON201.Data
}

package config_test

import (
	"strings"
	"testing"

	"github.com/pbxhooks/pbxhooks/pkg/config"
)

// servicePrefixes is the rule of docs/OPERATIONS.md ("Variable names"): a
// variable only one service reads carries that service's prefix.
var servicePrefixes = map[string][]string{
	"api":       {"API_"},
	"ingest":    {"INGEST_"},
	"connector": {"CONNECTOR_"},
	"matcher":   {"MATCHER_"},
	// DELIVERY_ names the deliverer's delivery settings: README promised
	// them before the rule, and renaming (or aliasing) documented
	// variables would break deployments.
	"deliverer": {"DELIVERER_", "DELIVERY_"},
}

func TestEachServiceVariableCarriesItsServicePrefix(t *testing.T) {
	t.Parallel()
	readers := map[string][]string{}
	for _, service := range config.Services() {
		for _, name := range config.Variables(service) {
			readers[name] = append(readers[name], service)
		}
	}
	if len(config.Services()) != len(servicePrefixes) {
		t.Fatalf("services %v; give each a prefix in servicePrefixes", config.Services())
	}
	for name, services := range readers {
		if len(services) != 1 {
			// Shared by several services: no one service's prefix.
			for owner, prefixes := range servicePrefixes {
				for _, p := range prefixes {
					if strings.HasPrefix(name, p) && name != "DELIVERY_ALLOW_CIDRS" {
						t.Errorf("%s is read by %v but carries %s's prefix %s", name, services, owner, p)
					}
				}
			}
			continue
		}
		ok := false
		for _, p := range servicePrefixes[services[0]] {
			ok = ok || strings.HasPrefix(name, p)
		}
		if !ok {
			t.Errorf("%s is read only by %s but lacks its prefix %v", name, services[0], servicePrefixes[services[0]])
		}
	}
}

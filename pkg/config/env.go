// Package config reads service configuration from environment variables.
// Each getter applies its default and validates the value; problems are
// collected and reported together by Err, each naming its variable, so a
// misconfigured service fails at start-up with every mistake listed.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Env reads variables from a lookup function and collects validation errors.
type Env struct {
	lookup func(string) (string, bool)
	errs   []error
	// expected, when set by Expect, is every variable this Env may read.
	expected map[string]bool
	service  string
}

// FromOS reads the process environment.
func FromOS() *Env { return &Env{lookup: os.LookupEnv} }

// FromMap reads a fixed set of variables, for tests.
func FromMap(m map[string]string) *Env {
	return &Env{lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func (e *Env) fail(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// Fail records a problem with variable name found by a caller's own
// validation, so it is reported with the others by Err.
func (e *Env) Fail(name, format string, args ...any) { e.fail(name, format, args...) }

// Expect limits e to the variables Variables lists for service: reading
// any other is then recorded as an error naming it, so a loader cannot read
// a variable that the list, and the deployment checks built on it, lack.
// An unknown service name allows nothing.
func (e *Env) Expect(service string) {
	e.service = service
	e.expected = make(map[string]bool)
	for _, name := range Variables(service) {
		e.expected[name] = true
	}
}

func (e *Env) raw(name string) (string, bool) {
	if e.expected != nil && !e.expected[name] {
		e.fail(name, "is read by %s but missing from its list in pkg/config (Variables)", e.service)
	}
	v, ok := e.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

// String returns the variable or def when unset or empty.
func (e *Env) String(name, def string) string {
	if v, ok := e.raw(name); ok {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is unset.
func (e *Env) Required(name, meaning string) string {
	v, ok := e.raw(name)
	if !ok {
		e.fail(name, "is required (%s)", meaning)
	}
	return v
}

// Int returns the variable as an integer within [lo, hi].
func (e *Env) Int(name string, def, lo, hi int) int {
	v, ok := e.raw(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.fail(name, "%q is not a whole number", v)
		return def
	}
	if n < lo || n > hi {
		e.fail(name, "%d is out of range [%d, %d]", n, lo, hi)
		return def
	}
	return n
}

// Duration returns the variable as a Go duration ("5s", "2m") within [lo, hi].
func (e *Env) Duration(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := e.raw(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		e.fail(name, "%q is not a duration such as 5s or 2m", v)
		return def
	}
	if d < lo || d > hi {
		e.fail(name, "%s is out of range [%s, %s]", d, lo, hi)
		return def
	}
	return d
}

// Bool returns the variable as a boolean (true/false/1/0).
func (e *Env) Bool(name string, def bool) bool {
	v, ok := e.raw(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.fail(name, "%q is not true or false", v)
		return def
	}
	return b
}

// Addr returns a host:port listen address.
func (e *Env) Addr(name, def string) string {
	v := e.String(name, def)
	if _, _, err := net.SplitHostPort(v); err != nil {
		e.fail(name, "%q is not a host:port address", v)
		return def
	}
	return v
}

// URL returns an absolute URL with one of the given schemes, or "" when
// unset and def is "".
func (e *Env) URL(name, def string, schemes ...string) string {
	v := e.String(name, def)
	if v == "" {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		e.fail(name, "%q is not an absolute URL", v)
		return def
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return v
		}
	}
	e.fail(name, "%q must use one of the schemes %v", v, schemes)
	return def
}

// Prefixes returns a comma-separated list of CIDR prefixes.
func (e *Env) Prefixes(name string) []netip.Prefix {
	v, ok := e.raw(name)
	if !ok {
		return nil
	}
	var out []netip.Prefix
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			e.fail(name, "%q is not a CIDR prefix such as 127.0.0.0/8", part)
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

// Err returns every problem found so far, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(e.errs...))
}

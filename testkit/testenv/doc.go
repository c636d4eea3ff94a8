// Package testenv gives tests real infrastructure: an in-process NATS server
// with JetStream and a private PostgreSQL database cloned from a migrated
// template. Nothing is mocked and nothing is skipped: when a dependency
// cannot be had the test fails saying what to install.
//
// # Which PostgreSQL server
//
// Each test process looks for a server once, in this order, and uses the
// first that works:
//
//  1. TEST_DATABASE_URL, when set (it must answer; nothing else is tried).
//  2. PostgreSQL on 127.0.0.1:5432 as user postgres without a password, as
//     developer machines with Debian's postgresql service have it.
//  3. A container through testcontainers-go, when a Docker engine answers a
//     ping (checked in about a second, so machines without Docker do not
//     wait); Ryuk removes the container when the process exits.
//  4. A private cluster started with testkit/pgcluster from the installed
//     PostgreSQL binaries, in os.TempDir()/pbxhooks-testpg-<uid>. Every test
//     process of a `go test ./...` run shares it: a file lock serialises
//     the start, the first process starts the server on a free port and
//     records the port, and later processes reuse the server when it
//     answers there. The server is left running when the tests end, because
//     other test binaries of the same run may still be using it and no
//     process knows which one is last; the next run reuses it (and its
//     migrated templates) instead of paying initdb again. Stop it with
//     `kill -INT $(head -1 /tmp/pbxhooks-testpg-$(id -u)/data/postmaster.pid)`.
//
// PBXHOOKS_TEST_PG=local, docker or private forces one of 2–4 (and ignores
// TEST_DATABASE_URL), so each fallback can be exercised on a machine where
// an earlier one works: `PBXHOOKS_TEST_PG=private go test ./testkit/pkgtest/store/`.
//
// When no server can be had the test fails with what was tried; it never
// skips, so CI=true cannot pass without a database.
package testenv

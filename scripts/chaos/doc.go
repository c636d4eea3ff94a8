// Package chaos is pbxhooks' fault suite: each test runs the four services
// as separate processes against nats-server and PostgreSQL processes, loads
// them from the PBX simulator (scripts/internal/pbxsim), injects one fault
// (a SIGKILL, a broker or database restart, a lost cluster node, a hostile
// endpoint) and then checks with counts that every event the PBX got a
// PubAck for was delivered at least once, that duplicates carry the
// webhook-id of a real delivery, and that every delivery has its attempt
// rows.
//
// `go test ./scripts/chaos` (part of `make test`) runs the short form: a
// SIGKILL of the deliverer, of the matcher and of ingest, and each
// service's consumer (then its input stream) deleted under it. The long form
// (`make chaos`, build tag chaoslong) adds two deliverer replicas with one
// killed, nats-server and PostgreSQL restarts, a three-node NATS cluster
// losing a node, and endpoints that fail, hang, reset, crawl or answer
// 50 MB.
package chaos

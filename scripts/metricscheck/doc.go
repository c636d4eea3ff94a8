// Package metricscheck has no code of its own: its tests check the metrics
// the services export against the alert rules and dashboard that use them.
package metricscheck

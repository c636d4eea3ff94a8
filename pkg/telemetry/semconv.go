package telemetry

import (
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// Messaging span attributes every hop sets the same way (OpenTelemetry
// semantic conventions for messaging). The conventions' list of systems has
// no NATS entry; "nats" is the lower-case name they ask for then.
var (
	MessagingSystemNATS       = semconv.MessagingSystemKey.String("nats")
	MessagingOperationPublish = semconv.MessagingOperationTypePublish
	MessagingOperationProcess = semconv.MessagingOperationTypeDeliver // "process"
)

package bus

// DeliveryID names the delivery of event eventID to hook hookID. The matcher
// uses it as the delivery's Nats-Msg-Id, so a fan-out repeated after a crash
// is dropped by DELIVERIES' dedupe window, and the deliverer records it on
// every attempt row, which is how the API finds the attempt of a test event.
func DeliveryID(eventID, hookID string) string { return eventID + ":" + hookID }

// EventMsgID is the Nats-Msg-Id of an event on EVENTS: account id, then the
// event id, so two accounts' PBXs may reuse an id without one event being
// dropped as the other's duplicate.
func EventMsgID(accountID, eventID string) string { return accountID + "/" + eventID }

// Package queue is the platform's message queue: one Publisher interface,
// implemented over Service Bus in Azure and over the PostgreSQL table
// queue_messages in local mode, where Store is also the consumer.
//
// Store's consumer mirrors Service Bus peek-lock semantics:
//   - Receive leases messages by moving visible_at forward and counting the
//     delivery.
//   - Complete deletes the message.
//   - Abandon makes the message visible again after a delay.
//   - A message whose lease ends without either becomes visible again by
//     itself.
//   - A message that has been delivered MaxDeliveryCount times is
//     dead-lettered instead of being delivered again.
package queue

import (
	"context"
	"errors"
	"time"
)

// Message is one message to publish.
type Message struct {
	// ID de-duplicates: publishing the same ID to the same queue twice stores
	// one message. Empty gets a new unique id. At most 128 characters, the
	// Service Bus MessageId limit.
	ID string
	// Body is the payload, usually JSON carrying its tenant id.
	Body []byte
	// ContentType defaults to "application/json".
	ContentType string
	// NotBefore delays delivery until that time; zero delivers at once.
	NotBefore time.Time
}

// Publisher sends messages to a named queue. Either every message is stored
// or an error is returned.
type Publisher interface {
	Publish(ctx context.Context, queue string, msgs ...Message) error
}

// MaxDeliveryCount is how many deliveries a message gets before it is
// dead-lettered, the Service Bus default for a queue.
const MaxDeliveryCount = 10

// Limits on names and ids, from the Service Bus quotas.
const (
	maxQueueNameLength = 260
	maxMessageIDLength = 128
	maxLastErrorLength = 4096
)

// Errors returned by the consumer.
var (
	// ErrLockLost means the lease behind a lock token is gone: it ended and
	// the message was delivered again, or it was already completed,
	// abandoned or dead-lettered. The caller must not assume its result was
	// recorded; the message will be, or was, handled by another delivery.
	ErrLockLost = errors.New("queue: message lock lost")
	// ErrInvalid wraps invalid arguments.
	ErrInvalid = errors.New("queue: invalid argument")
)

// Delivery is one leased message.
type Delivery struct {
	Queue       string
	ID          string
	Body        []byte
	ContentType string
	EnqueuedAt  time.Time
	// DeliveryCount counts deliveries including this one, starting at 1.
	DeliveryCount int
	// LockedUntil is when the lease ends and the message becomes visible
	// again unless it is completed or abandoned first.
	LockedUntil time.Time
	// LockToken identifies this lease for Complete and Abandon.
	LockToken string
}

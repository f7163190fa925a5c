// Package servicebus implements queue.Publisher over Azure Service Bus,
// signed in with the managed identity. Queue and topic names are the same
// as the local PostgreSQL queue's, so code publishes to "events" or
// "webhook-deliveries" without knowing which transport runs.
package servicebus

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/queue"
)

// Publisher sends to Service Bus queues and topics. It keeps one sender per
// entity, created on first use. It is safe for concurrent use.
type Publisher struct {
	client *azservicebus.Client

	mu      sync.Mutex
	senders map[string]*azservicebus.Sender
}

// New returns a Publisher for namespace (NAME.servicebus.windows.net),
// authenticated with cred. It connects on the first Publish.
func New(namespace string, cred azcore.TokenCredential) (*Publisher, error) {
	if namespace == "" {
		return nil, errors.New("servicebus: namespace is required")
	}
	client, err := azservicebus.NewClient(namespace, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("create Service Bus client for %s: %w", namespace, err)
	}
	return &Publisher{client: client, senders: map[string]*azservicebus.Sender{}}, nil
}

var _ queue.Publisher = (*Publisher)(nil)

func (p *Publisher) sender(entity string) (*azservicebus.Sender, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.senders[entity]; ok {
		return s, nil
	}
	s, err := p.client.NewSender(entity, nil)
	if err != nil {
		return nil, fmt.Errorf("create Service Bus sender for %q: %w", entity, err)
	}
	p.senders[entity] = s
	return s, nil
}

// Publish sends msgs to the queue or topic named entity, in as few batches
// as their size allows. MessageId is the message's ID, which the entity's
// duplicate detection uses to drop a repeat; NotBefore becomes the
// scheduled enqueue time.
//
// NOTE: batches are sent one after another, so an error can leave earlier
// batches sent. Callers retry the whole call, and duplicate detection
// drops what was sent before.
func (p *Publisher) Publish(ctx context.Context, entity string, msgs ...queue.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	s, err := p.sender(entity)
	if err != nil {
		return err
	}
	batch, err := s.NewMessageBatch(ctx, nil)
	if err != nil {
		return fmt.Errorf("publish to %q: %w", entity, err)
	}
	for _, m := range msgs {
		sbm := toMessage(m)
		err := batch.AddMessage(sbm, nil)
		if errors.Is(err, azservicebus.ErrMessageTooLarge) && batch.NumMessages() > 0 {
			if err := s.SendMessageBatch(ctx, batch, nil); err != nil {
				return fmt.Errorf("publish %d messages to %q: %w", batch.NumMessages(), entity, err)
			}
			if batch, err = s.NewMessageBatch(ctx, nil); err != nil {
				return fmt.Errorf("publish to %q: %w", entity, err)
			}
			err = batch.AddMessage(sbm, nil)
		}
		if err != nil {
			return fmt.Errorf("publish message %s to %q: %w", *sbm.MessageID, entity, err)
		}
	}
	if err := s.SendMessageBatch(ctx, batch, nil); err != nil {
		return fmt.Errorf("publish %d messages to %q: %w", batch.NumMessages(), entity, err)
	}
	return nil
}

func toMessage(m queue.Message) *azservicebus.Message {
	id := m.ID
	if id == "" {
		id = ids.New(ids.Message)
	}
	contentType := m.ContentType
	if contentType == "" {
		contentType = "application/json"
	}
	out := &azservicebus.Message{Body: m.Body, MessageID: &id, ContentType: &contentType}
	if !m.NotBefore.IsZero() {
		t := m.NotBefore.UTC()
		out.ScheduledEnqueueTime = &t
	}
	return out
}

// Close closes every sender and the client.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, s := range p.senders {
		errs = append(errs, s.Close(ctx))
	}
	errs = append(errs, p.client.Close(ctx))
	return errors.Join(errs...)
}

package queue

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultForwardBatch is how many messages one Forward transaction moves.
const DefaultForwardBatch = 100

// Forwarder moves messages that PublishTx wrote to queue_messages on to a
// broker, Service Bus in Azure. PublishTx is the transactional outbox for
// commands: a change and its message commit together, and the forwarder
// sends the message afterwards. Locally no forwarder runs, because the
// local runtime consumes queue_messages itself.
type Forwarder struct {
	Pool      *pgxpool.Pool
	Publisher Publisher
	Batch     int
	Logger    *slog.Logger
}

// ForwardResult counts what one Forward call sent.
type ForwardResult struct {
	Forwarded int `json:"forwarded"`
}

// Forward sends every message that has never been delivered, in batches. A
// batch's rows stay locked (FOR UPDATE SKIP LOCKED, so concurrent
// forwarders take different rows) until the broker has accepted the batch,
// and are deleted in the same transaction. If the commit fails after the
// send, the next run sends the batch again under the same message ids,
// which Service Bus duplicate detection drops and consumers tolerate.
func (f *Forwarder) Forward(ctx context.Context) (ForwardResult, error) {
	batch := f.Batch
	if batch <= 0 {
		batch = DefaultForwardBatch
	}
	var res ForwardResult
	for {
		n, err := f.forwardBatch(ctx, batch)
		res.Forwarded += n
		if err != nil || n < batch {
			return res, err
		}
	}
}

type pendingMessage struct {
	id    int64
	queue string
	msg   Message
}

func (f *Forwarder) forwardBatch(ctx context.Context, batch int) (int, error) {
	tx, err := f.Pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin forward transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()

	rows, err := tx.Query(ctx, `
		SELECT id, queue, message_id, body, content_type, visible_at
		FROM queue_messages
		WHERE dead_lettered_at IS NULL AND delivery_count = 0
		ORDER BY id
		LIMIT $1
		FOR UPDATE SKIP LOCKED`, batch)
	if err != nil {
		return 0, fmt.Errorf("read messages to forward: %w", err)
	}
	pending, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (pendingMessage, error) {
		var p pendingMessage
		var visible time.Time
		err := row.Scan(&p.id, &p.queue, &p.msg.ID, &p.msg.Body, &p.msg.ContentType, &visible)
		if visible.After(time.Now()) {
			p.msg.NotBefore = visible
		}
		return p, err
	})
	if err != nil {
		return 0, fmt.Errorf("read messages to forward: %w", err)
	}
	if len(pending) == 0 {
		return 0, nil
	}

	byQueue := map[string][]Message{}
	var order []string
	ids := make([]int64, 0, len(pending))
	for _, p := range pending {
		if _, seen := byQueue[p.queue]; !seen {
			order = append(order, p.queue)
		}
		byQueue[p.queue] = append(byQueue[p.queue], p.msg)
		ids = append(ids, p.id)
	}
	for _, q := range order {
		if err := f.Publisher.Publish(ctx, q, byQueue[q]...); err != nil {
			return 0, fmt.Errorf("forward %d messages to %q: %w", len(byQueue[q]), q, err)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM queue_messages WHERE id = ANY($1)`, ids); err != nil {
		return 0, fmt.Errorf("delete forwarded messages: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit forwarded messages: %w", err)
	}
	return len(pending), nil
}

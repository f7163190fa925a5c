package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/ids"
)

// Store is the PostgreSQL queue over the queue_messages table.
type Store struct {
	pool          *pgxpool.Pool
	now           func() time.Time
	maxDeliveries int
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that decides visibility, leases and dead-letter
// times. Messages published without NotBefore become visible at the
// database's now(), so a test clock must not run behind the real time.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithMaxDeliveryCount overrides MaxDeliveryCount; values below 1 are ignored.
func WithMaxDeliveryCount(n int) Option {
	return func(s *Store) {
		if n >= 1 {
			s.maxDeliveries = n
		}
	}
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool, now: time.Now, maxDeliveries: MaxDeliveryCount}
	for _, o := range opts {
		o(s)
	}
	return s
}

// MaxDeliveryCount returns the delivery count at which a message that fails
// again is dead-lettered.
func (s *Store) MaxDeliveryCount() int { return s.maxDeliveries }

// Publish stores msgs in one statement. See PublishTx.
func (s *Store) Publish(ctx context.Context, queue string, msgs ...Message) error {
	return PublishTx(ctx, s.pool, queue, msgs...)
}

const publishSQL = `
INSERT INTO queue_messages (queue, message_id, body, content_type, visible_at)
SELECT $1, m.message_id, m.body, m.content_type, coalesce(m.not_before, now())
FROM unnest($2::text[], $3::bytea[], $4::text[], $5::timestamptz[])
    AS m(message_id, body, content_type, not_before)
ON CONFLICT (queue, message_id) DO NOTHING`

// PublishTx stores msgs through q, so passing a transaction commits a change
// and its messages together or not at all. A message whose (queue, ID) is
// already stored, dead-lettered included, is skipped without error. Until
// the message is completed its ID stays taken, as Service Bus duplicate
// detection would within its window.
func PublishTx(ctx context.Context, q postgres.Querier, queue string, msgs ...Message) error {
	if err := validQueue(queue); err != nil {
		return err
	}
	if len(msgs) == 0 {
		return nil
	}
	idList := make([]string, len(msgs))
	bodies := make([][]byte, len(msgs))
	types := make([]string, len(msgs))
	notBefore := make([]*time.Time, len(msgs))
	for i, m := range msgs {
		id := m.ID
		if id == "" {
			id = ids.New("msg")
		}
		if len(id) > maxMessageIDLength {
			return fmt.Errorf("%w: message id %.32q... is longer than %d characters", ErrInvalid, id, maxMessageIDLength)
		}
		idList[i] = id
		bodies[i] = m.Body
		if bodies[i] == nil {
			bodies[i] = []byte{}
		}
		types[i] = m.ContentType
		if types[i] == "" {
			types[i] = "application/json"
		}
		if !m.NotBefore.IsZero() {
			t := m.NotBefore
			notBefore[i] = &t
		}
	}
	if _, err := q.Exec(ctx, publishSQL, queue, idList, bodies, types, notBefore); err != nil {
		return fmt.Errorf("publish %d messages to queue %q: %w", len(msgs), queue, err)
	}
	return nil
}

// deadLetterExpiredSQL dead-letters messages whose last lease ended after
// the final allowed delivery, which Service Bus does on the next receive.
const deadLetterExpiredSQL = `
UPDATE queue_messages
SET dead_lettered_at = $2,
    last_error = coalesce(last_error, 'lease expired') || ' (maximum delivery count reached)'
WHERE queue = $1 AND dead_lettered_at IS NULL AND visible_at <= $2 AND delivery_count >= $3`

const receiveSQL = `
WITH picked AS (
    SELECT id FROM queue_messages
    WHERE queue = $1 AND dead_lettered_at IS NULL AND visible_at <= $2 AND delivery_count < $4
    ORDER BY visible_at, id
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE queue_messages m
SET visible_at = $5, delivery_count = m.delivery_count + 1
FROM picked
WHERE m.id = picked.id
RETURNING m.id, m.message_id, m.body, m.content_type, m.enqueued_at, m.delivery_count`

// Receive leases up to max visible messages of queue, oldest visible first,
// for lease. Concurrent receivers never get the same message during one
// lease, because rows are claimed with FOR UPDATE SKIP LOCKED. An empty
// queue returns no deliveries and no error.
func (s *Store) Receive(ctx context.Context, queue string, max int, lease time.Duration) ([]Delivery, error) {
	if err := validQueue(queue); err != nil {
		return nil, err
	}
	if max < 1 || lease <= 0 {
		return nil, fmt.Errorf("%w: receive needs max >= 1 and a positive lease, got %d and %s", ErrInvalid, max, lease)
	}
	now := s.now()
	lockedUntil := now.Add(lease)

	if _, err := s.pool.Exec(ctx, deadLetterExpiredSQL, queue, now, s.maxDeliveries); err != nil {
		return nil, fmt.Errorf("dead-letter expired messages of queue %q: %w", queue, err)
	}
	rows, err := s.pool.Query(ctx, receiveSQL, queue, now, max, s.maxDeliveries, lockedUntil)
	if err != nil {
		return nil, fmt.Errorf("receive from queue %q: %w", queue, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Delivery, error) {
		var d Delivery
		var rowID int64
		if err := row.Scan(&rowID, &d.ID, &d.Body, &d.ContentType, &d.EnqueuedAt, &d.DeliveryCount); err != nil {
			return Delivery{}, err
		}
		d.Queue = queue
		d.LockedUntil = lockedUntil
		d.LockToken = lockToken(rowID, d.DeliveryCount)
		return d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("receive from queue %q: %w", queue, err)
	}
	return out, nil
}

// Complete deletes the message behind lockToken. It returns ErrLockLost when
// that lease is no longer current.
func (s *Store) Complete(ctx context.Context, lockToken string) error {
	rowID, count, err := parseLockToken(lockToken)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx,
		`DELETE FROM queue_messages WHERE id = $1 AND delivery_count = $2 AND dead_lettered_at IS NULL`,
		rowID, count)
	if err != nil {
		return fmt.Errorf("complete message %s: %w", lockToken, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("complete message %s: %w", lockToken, ErrLockLost)
	}
	return nil
}

const abandonSQL = `
UPDATE queue_messages
SET last_error = $3,
    visible_at = CASE WHEN delivery_count >= $5 THEN visible_at ELSE $4 END,
    dead_lettered_at = CASE WHEN delivery_count >= $5 THEN $6::timestamptz END
WHERE id = $1 AND delivery_count = $2 AND dead_lettered_at IS NULL`

// Abandon records cause and makes the message visible again after
// retryAfter, or dead-letters it when this was delivery MaxDeliveryCount.
// It returns ErrLockLost when that lease is no longer current.
func (s *Store) Abandon(ctx context.Context, lockToken string, cause error, retryAfter time.Duration) error {
	rowID, count, err := parseLockToken(lockToken)
	if err != nil {
		return err
	}
	if retryAfter < 0 {
		retryAfter = 0
	}
	msg := "abandoned"
	if cause != nil {
		msg = cause.Error()
	}
	if len(msg) > maxLastErrorLength {
		msg = msg[:maxLastErrorLength]
	}
	now := s.now()
	tag, err := s.pool.Exec(ctx, abandonSQL, rowID, count, strings.ToValidUTF8(msg, "?"), now.Add(retryAfter), s.maxDeliveries, now)
	if err != nil {
		return fmt.Errorf("abandon message %s: %w", lockToken, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("abandon message %s: %w", lockToken, ErrLockLost)
	}
	return nil
}

func validQueue(queue string) error {
	if queue == "" || len(queue) > maxQueueNameLength {
		return fmt.Errorf("%w: queue name must be 1 to %d characters, got %d", ErrInvalid, maxQueueNameLength, len(queue))
	}
	return nil
}

// lockToken encodes the row and the delivery it belongs to, so a token from
// an expired lease no longer matches once the message is delivered again.
func lockToken(rowID int64, deliveryCount int) string {
	return strconv.FormatInt(rowID, 10) + "." + strconv.Itoa(deliveryCount)
}

func parseLockToken(token string) (int64, int, error) {
	row, count, ok := strings.Cut(token, ".")
	rowID, err1 := strconv.ParseInt(row, 10, 64)
	n, err2 := strconv.Atoi(count)
	if !ok || errors.Join(err1, err2) != nil || rowID < 1 || n < 1 {
		return 0, 0, fmt.Errorf("%w: lock token %.40q is not one that Receive returned", ErrInvalid, token)
	}
	return rowID, n, nil
}

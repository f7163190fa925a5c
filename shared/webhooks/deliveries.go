package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/queue"
)

const deliveryColumns = `id, endpoint_id, event_id, event_type, status, attempt_count, max_attempts,
	next_attempt_at, succeeded_at, created_at`

func scanDelivery(row pgx.Row) (WebhookDelivery, error) {
	var d WebhookDelivery
	err := row.Scan(&d.ID, &d.EndpointID, &d.EventID, &d.EventType, &d.Status, &d.AttemptCount, &d.MaxAttempts,
		&d.NextAttemptAt, &d.SucceededAt, &d.CreatedAt)
	d.Attempts = []WebhookAttempt{}
	return d, err
}

func getDelivery(ctx context.Context, tx pgx.Tx, tenantID, endpointID, id string) (WebhookDelivery, error) {
	if !ids.Valid(DeliveryPrefix, id) {
		return WebhookDelivery{}, problem.NotFound("webhook delivery", id)
	}
	d, err := scanDelivery(tx.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3`, tenantID, endpointID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return WebhookDelivery{}, problem.NotFound("webhook delivery", id)
	}
	if err != nil {
		return WebhookDelivery{}, fmt.Errorf("get webhook delivery %s: %w", id, err)
	}
	return d, nil
}

// loadAttempts fills the Attempts of list, in attempt order.
func loadAttempts(ctx context.Context, tx pgx.Tx, tenantID string, list []WebhookDelivery) error {
	if len(list) == 0 {
		return nil
	}
	index := make(map[string]int, len(list))
	idList := make([]string, len(list))
	for i, d := range list {
		index[d.ID] = i
		idList[i] = d.ID
	}
	rows, err := tx.Query(ctx, `SELECT delivery_id, number, manual, started_at, outcome, status_code, latency_ms, error, response_excerpt
		FROM webhook_attempts WHERE tenant_id = $1 AND delivery_id = ANY ($2) ORDER BY delivery_id, number`, tenantID, idList)
	if err != nil {
		return fmt.Errorf("list webhook attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a WebhookAttempt
		if err := rows.Scan(&id, &a.Number, &a.Manual, &a.StartedAt, &a.Outcome, &a.StatusCode, &a.LatencyMS, &a.Error, &a.ResponseExcerpt); err != nil {
			return fmt.Errorf("list webhook attempts: %w", err)
		}
		list[index[id]].Attempts = append(list[index[id]].Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list webhook attempts: %w", err)
	}
	return nil
}

// deliveryJob is the body of a message on DeliveryQueue.
type deliveryJob struct {
	TenantID   string `json:"tenant_id"`
	DeliveryID string `json:"delivery_id"`
}

// deliveryMessage returns the queue message that requests the next attempt
// of a delivery, visible from notBefore (zero: at once).
func deliveryMessage(tenantID, deliveryID, msgID string, notBefore time.Time) (queue.Message, error) {
	body, err := json.Marshal(deliveryJob{TenantID: tenantID, DeliveryID: deliveryID})
	if err != nil {
		return queue.Message{}, fmt.Errorf("encode delivery message: %w", err)
	}
	return queue.Message{ID: msgID, Body: body, NotBefore: notBefore}, nil
}

// attemptMessageID is the message id of the scheduled attempt number n of a
// delivery. Publishing it twice stores one message while the first is
// queued.
func attemptMessageID(deliveryID string, n int) string {
	return fmt.Sprintf("%s.%d", deliveryID, n)
}

// SweepOverdue republishes the message of every delivery whose next attempt
// is overdue by more than grace, or whose attempt in flight outlived its
// lease. Those are deliveries whose message was lost: a crash after a
// commit and before the publish that followed it. It returns how many it
// republished.
func (s *Service) SweepOverdue(ctx context.Context, grace time.Duration, limit int) (int, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, tenant_id, attempt_count FROM webhook_deliveries_overdue($1, $2)`,
		s.now().Add(-grace), limit)
	if err != nil {
		return 0, fmt.Errorf("read overdue webhook deliveries: %w", err)
	}
	type overdue struct {
		id, tenantID string
		attempts     int
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (overdue, error) {
		var o overdue
		err := row.Scan(&o.id, &o.tenantID, &o.attempts)
		return o, err
	})
	if err != nil {
		return 0, fmt.Errorf("read overdue webhook deliveries: %w", err)
	}
	msgs := make([]queue.Message, 0, len(list))
	for _, o := range list {
		m, err := deliveryMessage(o.tenantID, o.id, attemptMessageID(o.id, o.attempts+1), time.Time{})
		if err != nil {
			return 0, err
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	if err := s.Publisher.Publish(ctx, DeliveryQueue, msgs...); err != nil {
		return 0, fmt.Errorf("republish %d overdue webhook deliveries: %w", len(msgs), err)
	}
	s.logger().InfoContext(ctx, "republished overdue webhook deliveries", "count", len(msgs))
	return len(msgs), nil
}

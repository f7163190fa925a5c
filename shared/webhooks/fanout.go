package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/queue"
)

// Payload is the JSON body of every delivery. The webhook-id header is
// the event id, so a receiver that stores it can drop duplicates.
type Payload struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Timestamp  time.Time       `json:"timestamp"`
	APIVersion string          `json:"api_version"`
	TenantID   string          `json:"tenant_id"`
	Data       json.RawMessage `json:"data"`
}

// FanOut creates one delivery of e for each enabled endpoint of its tenant
// that subscribes to e's type, then publishes a message for each delivery
// that has not been attempted yet. Running it again for the same event
// creates nothing new and republishes only messages whose first attempt is
// still pending, so a redelivered topic message is harmless. It returns
// the number of deliveries the event has.
func (s *Service) FanOut(ctx context.Context, e events.Event) (int, error) {
	body, err := json.Marshal(Payload{ID: e.ID, Type: e.Type, Timestamp: e.OccurredAt.UTC(), APIVersion: e.APIVersion,
		TenantID: e.TenantID, Data: e.Data})
	if err != nil {
		return 0, fmt.Errorf("encode payload of event %s: %w", e.ID, err)
	}
	only, except := targets(e)

	var msgs []queue.Message
	var total int
	err = postgres.InTenant(ctx, s.Pool, e.TenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, event_types FROM webhook_endpoints WHERE tenant_id = $1 AND enabled`, e.TenantID)
		if err != nil {
			return fmt.Errorf("list endpoints: %w", err)
		}
		var matched []string
		for rows.Next() {
			var id string
			var patterns []string
			if err := rows.Scan(&id, &patterns); err != nil {
				rows.Close()
				return fmt.Errorf("list endpoints: %w", err)
			}
			switch {
			case only != "":
				if id == only {
					matched = append(matched, id)
				}
			case id == except:
			case Matches(patterns, e.Type):
				matched = append(matched, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("list endpoints: %w", err)
		}

		now := s.now()
		maxAttempts := s.schedule().MaxAttempts()
		for _, endpointID := range matched {
			_, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, payload,
					status, max_attempts, next_attempt_at, created_at, updated_at)
				VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $8, $8)
				ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
				ids.New(DeliveryPrefix), e.TenantID, endpointID, e.ID, e.Type, body, maxAttempts, now)
			if err != nil {
				return fmt.Errorf("insert delivery: %w", err)
			}
		}

		rows, err = tx.Query(ctx, `SELECT id, attempt_count, status FROM webhook_deliveries WHERE tenant_id = $1 AND event_id = $2`, e.TenantID, e.ID)
		if err != nil {
			return fmt.Errorf("list deliveries: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id, status string
			var attempts int
			if err := rows.Scan(&id, &attempts, &status); err != nil {
				return fmt.Errorf("list deliveries: %w", err)
			}
			total++
			if status == StatusPending && attempts == 0 {
				m, err := deliveryMessage(e.TenantID, id, attemptMessageID(id, 1), time.Time{})
				if err != nil {
					return err
				}
				msgs = append(msgs, m)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("fan out event %s: %w", e.ID, err)
	}
	if len(msgs) > 0 {
		// An error here fails the invocation, so the topic message is
		// delivered again and the publish repeated.
		if err := s.Publisher.Publish(ctx, DeliveryQueue, msgs...); err != nil {
			return 0, fmt.Errorf("fan out event %s: %w", e.ID, err)
		}
	}
	return total, nil
}

// targets returns the one endpoint an event is for (webhook.test) or the
// one endpoint it must skip (events about an endpoint's own failures, which
// it could not receive and which would otherwise fail in a loop).
func targets(e events.Event) (only, except string) {
	var ref struct {
		EndpointID string `json:"endpoint_id"`
	}
	switch e.Type {
	case events.WebhookTest:
		_ = json.Unmarshal(e.Data, &ref)
		if ref.EndpointID == "" {
			return "-", "" // malformed: deliver to no endpoint
		}
		return ref.EndpointID, ""
	case events.WebhookDeliveryExhausted, events.WebhookEndpointDisabled:
		_ = json.Unmarshal(e.Data, &ref)
		return "", ref.EndpointID
	}
	return "", ""
}

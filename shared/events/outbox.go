// Package events writes the platform's events. Emit stores an event in the
// same transaction as the change it describes (the outbox pattern), so an
// event exists exactly when its change was committed.
package events

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/ids"
)

// APIVersion is the version of every event payload's schema.
const APIVersion = "2026-12-01"

// Event is one thing that happened in a tenant.
type Event struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	TenantID   string          `json:"tenant_id"`
	APIVersion string          `json:"api_version"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
}

// Emit stores an event of eventType with data in tx, the transaction of the
// change it reports, and returns it. The event is published after commit.
func Emit(ctx context.Context, tx pgx.Tx, tenantID, eventType string, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s event data: %w", eventType, err)
	}
	e := Event{ID: ids.New("evt"), Type: eventType, TenantID: tenantID, APIVersion: APIVersion,
		OccurredAt: time.Now().UTC(), Data: raw}
	_, err = tx.Exec(ctx, `
		INSERT INTO events (id, tenant_id, type, api_version, data, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, e.TenantID, e.Type, e.APIVersion, raw, e.OccurredAt)
	if err != nil {
		return Event{}, fmt.Errorf("insert %s event: %w", eventType, err)
	}
	return e, nil
}

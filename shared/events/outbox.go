// Package events writes and publishes the platform's events. Emit stores an
// event in the same transaction as the change it describes (the outbox
// pattern), so an event exists exactly when its change was committed. A
// Relay publishes committed events to the "events" topic right after the
// commit, and its timer republishes any that a crash left unpublished.
// Publishing is idempotent per event id, so consumers see each event once
// per topic subscription except after a crash, when they may see it again.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/request"
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

// ErrUnknownType is returned by Emit for a type missing from the catalogue.
var ErrUnknownType = errors.New("event type is not in the catalogue")

// Emit stores an event of eventType with data in tx, the transaction of the
// change it reports, and returns it. eventType must be in the catalogue.
//
// Inside a request whose context carries a Relay (see Relay.Middleware),
// the event is published by a request.OnCommit hook right after the
// commit. Elsewhere the caller publishes it with Relay.Publish after its own
// commit, and the relay timer publishes whatever neither path did.
func Emit(ctx context.Context, tx pgx.Tx, tenantID, eventType string, data any) (Event, error) {
	if _, ok := Lookup(eventType); !ok {
		return Event{}, fmt.Errorf("emit %q: %w", eventType, ErrUnknownType)
	}
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
	if relay := relayFrom(ctx); relay != nil {
		request.OnCommit(ctx, func(ctx context.Context) { relay.publishAfterCommit(ctx, e) })
	}
	return e, nil
}

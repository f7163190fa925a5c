// Package audit records who did what to whom and when. Record writes in the
// transaction of the change it describes, so an entry exists exactly when
// its change was committed.
package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// IDPrefix is the prefix of audit entry ids.
const IDPrefix = "aud"

// Entry is one audit log row.
type Entry struct {
	ID         string          `json:"id" example:"aud_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	ActorKind  string          `json:"actor_kind" enum:"api_key,user,system"`
	ActorID    string          `json:"actor_id" example:"usr_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Action     string          `json:"action" example:"membership.added"`
	TargetType string          `json:"target_type" enum:"user,membership,role,org_unit,api_key,tenant"`
	TargetID   string          `json:"target_id"`
	Data       json.RawMessage `json:"data"`
	RequestID  string          `json:"request_id"`
	OccurredAt time.Time       `json:"occurred_at"`
}

// Actor is who made a change: a user, an API key, or the system.
type Actor struct {
	Kind string
	ID   string
}

// Record writes one entry in tx for the request's principal, or for the
// system when the request has none. data is any JSON-encodable value
// describing the change; it must not contain secrets.
func Record(ctx context.Context, tx pgx.Tx, tenantID, action, targetType, targetID string, data any) error {
	actor := Actor{Kind: "system", ID: "system"}
	if p := request.PrincipalFrom(ctx); p != nil {
		actor = Actor{Kind: string(p.Kind), ID: p.ID}
	}
	return RecordAs(ctx, tx, actor, tenantID, action, targetType, targetID, data)
}

// RecordAs is Record with an explicit actor, for changes made before the
// request has a principal, such as a user created by their own first sign-in.
func RecordAs(ctx context.Context, tx pgx.Tx, actor Actor, tenantID, action, targetType, targetID string, data any) error {
	if data == nil {
		data = map[string]any{}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode audit data for %s: %w", action, err)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO audit_log (id, tenant_id, actor_kind, actor_id, action, target_type, target_id, data, request_id, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ids.New(IDPrefix), tenantID, actor.Kind, actor.ID, action, targetType, targetID, raw,
		problem.RequestID(ctx), time.Now().UTC())
	if err != nil {
		return fmt.Errorf("insert audit entry %s: %w", action, err)
	}
	return nil
}

// Filter narrows a listing. Empty fields do not filter.
type Filter struct {
	ActorID    string
	Action     string
	TargetType string
	TargetID   string
	Since      *time.Time
	Until      *time.Time
	After      string // id cursor: entries older than this one
	Limit      int
}

// List returns up to f.Limit entries of tenantID, newest first.
func List(ctx context.Context, q postgres.Querier, tenantID string, f Filter) ([]Entry, error) {
	rows, err := q.Query(ctx, `
		SELECT id, actor_kind, actor_id, action, target_type, target_id, data, request_id, occurred_at
		FROM audit_log
		WHERE tenant_id = $1
		  AND ($2 = '' OR actor_id = $2)
		  AND ($3 = '' OR action = $3)
		  AND ($4 = '' OR target_type = $4)
		  AND ($5 = '' OR target_id = $5)
		  AND ($6::timestamptz IS NULL OR occurred_at >= $6)
		  AND ($7::timestamptz IS NULL OR occurred_at < $7)
		  AND ($8 = '' OR id < $8)
		ORDER BY id DESC LIMIT $9`,
		tenantID, f.ActorID, f.Action, f.TargetType, f.TargetID, f.Since, f.Until, f.After, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := row.Scan(&e.ID, &e.ActorKind, &e.ActorID, &e.Action, &e.TargetType, &e.TargetID, &e.Data, &e.RequestID, &e.OccurredAt)
		return e, err
	})
}

package discovery

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/shared/registry"
)

const upsertEndpoint = `
INSERT INTO api_endpoints (id, operation_id, plugin, method, path, capability, auth, summary, idempotent)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (id) DO UPDATE SET
    operation_id = EXCLUDED.operation_id, plugin = EXCLUDED.plugin, method = EXCLUDED.method,
    path = EXCLUDED.path, capability = EXCLUDED.capability, auth = EXCLUDED.auth,
    summary = EXCLUDED.summary, idempotent = EXCLUDED.idempotent, retired_at = NULL,
    updated_at = CASE WHEN (api_endpoints.operation_id, api_endpoints.capability, api_endpoints.auth,
                            api_endpoints.summary, api_endpoints.idempotent, api_endpoints.retired_at IS NULL)
                      IS DISTINCT FROM (EXCLUDED.operation_id, EXCLUDED.capability, EXCLUDED.auth,
                                        EXCLUDED.summary, EXCLUDED.idempotent, true)
                      THEN now() ELSE api_endpoints.updated_at END`

// retireMissing marks rows whose route is no longer registered. An operation
// id that moved to another route frees its old row's id first.
const retireMissing = `
UPDATE api_endpoints SET retired_at = now(), updated_at = now(), operation_id = operation_id || '#retired:' || id
WHERE retired_at IS NULL AND NOT (id = ANY($1))`

// Persist writes every registered route to api_endpoints in one transaction:
// new routes are inserted, changed ones updated, and routes no longer
// registered get retired_at. Running it again with the same registry
// changes nothing, so every instance may call it at start-up.
func Persist(ctx context.Context, pool *pgxpool.Pool, reg *registry.Registry) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		// Instances starting together serialise here instead of deadlocking on rows.
		if _, err := tx.Exec(ctx, "LOCK TABLE api_endpoints IN SHARE ROW EXCLUSIVE MODE"); err != nil {
			return fmt.Errorf("lock api_endpoints: %w", err)
		}
		routes := reg.Routes()
		ids := make([]string, 0, len(routes))
		for _, r := range routes {
			ids = append(ids, r.ID())
		}
		if _, err := tx.Exec(ctx, retireMissing, ids); err != nil {
			return fmt.Errorf("retire unregistered endpoints: %w", err)
		}
		batch := &pgx.Batch{}
		for _, r := range routes {
			batch.Queue(upsertEndpoint, r.ID(), r.OperationID, r.Plugin, r.Method, r.Path, r.Capability,
				authName(r.Auth), r.Summary, r.Idempotent)
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return fmt.Errorf("upsert endpoints: %w", err)
		}
		return nil
	})
}

func authName(a registry.Auth) string {
	if a == registry.AuthPublic {
		return "public"
	}
	return "api_key"
}

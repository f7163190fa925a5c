package cleanup_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/shared/cleanup"
)

func TestRun_DeletesOnlyExpired(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t)
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

	for _, tenant := range []string{"ten_a", "ten_b"} {
		require.NoError(t, postgres.InTenant(ctx, pool, tenant, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, type, rate_limit_per_minute, rate_limit_per_hour) VALUES ($1, 'T', 'corporate', 1, 1)`, tenant); err != nil {
				return err
			}
			for key, expires := range map[string]time.Time{"old": now.Add(-time.Minute), "fresh": now.Add(time.Hour)} {
				_, err := tx.Exec(ctx, `
					INSERT INTO idempotency_records (tenant_id, principal_id, idempotency_key, method, path, request_hash, state, expires_at)
					VALUES ($1, 'key_x', $2, 'POST', '/p', '\x00', 'completed', $3)`, tenant, key, expires)
				if err != nil {
					return err
				}
			}
			return nil
		}))
	}
	_, err := pool.Exec(ctx, `INSERT INTO queue_messages (queue, message_id, body, dead_lettered_at) VALUES
		('q', 'old', '\x00', $1), ('q', 'recent', '\x00', $2), ('q', 'live', '\x00', NULL)`,
		now.Add(-cleanup.DeadLetterRetention-time.Hour), now.Add(-time.Hour))
	require.NoError(t, err)

	res, err := cleanup.Run(ctx, pool, now)
	require.NoError(t, err)
	require.EqualValues(t, 2, res.IdempotencyRecords, "one expired record in each tenant")
	require.EqualValues(t, 1, res.DeadLetters)

	for _, tenant := range []string{"ten_a", "ten_b"} {
		var keys []string
		require.NoError(t, postgres.InTenant(ctx, pool, tenant, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT idempotency_key FROM idempotency_records`)
			if err != nil {
				return err
			}
			keys, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}))
		require.Equal(t, []string{"fresh"}, keys)
	}

	res, err = cleanup.Run(ctx, pool, now)
	require.NoError(t, err)
	require.Zero(t, res.IdempotencyRecords, "a second run finds nothing")
}

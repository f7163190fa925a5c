// Package cleanup is the platform-wide clean-up timer: expired idempotency
// records and dead-lettered local queue messages past retention.
package cleanup

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DeadLetterRetention is how long a dead-lettered local queue message is kept
// for inspection, as Service Bus keeps dead letters until they are read.
const DeadLetterRetention = 14 * 24 * time.Hour

// batch bounds the rows one statement deletes, so a backlog is worked off in
// short transactions.
const batch = 5000

// Result counts what one run deleted.
type Result struct {
	IdempotencyRecords int64 `json:"idempotency_records"`
	DeadLetters        int64 `json:"dead_letters"`
}

// Run deletes what has expired at now.
func Run(ctx context.Context, pool *pgxpool.Pool, now time.Time) (Result, error) {
	var res Result
	for {
		var n int64
		if err := pool.QueryRow(ctx, `SELECT cleanup_expired_idempotency_records($1, $2)`, now, batch).Scan(&n); err != nil {
			return res, fmt.Errorf("delete expired idempotency records: %w", err)
		}
		res.IdempotencyRecords += n
		if n < batch {
			break
		}
	}
	tag, err := pool.Exec(ctx, `DELETE FROM queue_messages WHERE dead_lettered_at < $1`, now.Add(-DeadLetterRetention))
	if err != nil {
		return res, fmt.Errorf("delete old dead letters: %w", err)
	}
	res.DeadLetters = tag.RowsAffected()
	return res, nil
}

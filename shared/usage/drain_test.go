package usage

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/stretchr/testify/require"
)

// fillStream writes n records of each tenant to stream, one entry per
// record, so that entry counts equal record counts in the tests below.
func fillStream(t *testing.T, rdb *redis.Client, stream string, n int, tenants ...string) {
	t.Helper()
	before := streamLen(t, rdb, stream)
	for _, tenant := range tenants {
		for i := range n {
			rec := sampleRecord(tenant, i)
			rec.ID = ids.New(ids.Usage)
			data, err := json.Marshal(rec)
			require.NoError(t, err)
			require.NoError(t, rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: []any{streamField, data}}).Err())
		}
	}
	require.Equal(t, before+int64(n*len(tenants)), streamLen(t, rdb, stream))
}

func TestDrain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("BatchEntriesAcrossTenants", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		rdb, stream := testRedis(t)
		r := NewRecorder(rdb, nil, RecorderOptions{Stream: stream, BatchSize: 25, FlushInterval: time.Hour, Logger: discardLogger()})
		for i := range 40 {
			r.Record(sampleRecord("ten_a", i))
			r.Record(sampleRecord("ten_b", i))
		}
		require.NoError(t, r.Close(ctx))
		// A flush takes whatever is pending when the loop wakes, so how the
		// 80 records split depends on timing; no entry exceeds 25.
		entries := streamLen(t, rdb, stream)
		require.GreaterOrEqual(t, entries, int64(4), "80 records in entries of at most 25")
		require.Less(t, entries, int64(80), "records share entries")

		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Consumer: "c1", Logger: discardLogger()})
		require.NoError(t, err)
		require.Equal(t, int(entries), res.Read)
		require.Equal(t, 80, res.Inserted)
		require.Equal(t, int(entries), res.Acked)
		require.Equal(t, 40, countRows(t, admin, "ten_a"))
		require.Equal(t, 40, countRows(t, admin, "ten_b"))
		require.Zero(t, streamLen(t, rdb, stream))
	})

	t.Run("MovesEntriesToPostgres", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		rdb, stream := testRedis(t)
		fillStream(t, rdb, stream, 30, "ten_a", "ten_b")

		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Consumer: "c1", BatchSize: 7, Logger: discardLogger()})
		require.NoError(t, err)
		require.Equal(t, 60, res.Read)
		require.Equal(t, 60, res.Inserted)
		require.Equal(t, 60, res.Acked)
		require.Zero(t, res.Duplicates)
		require.Zero(t, res.Reclaimed)
		require.Equal(t, 30, countRows(t, admin, "ten_a"))
		require.Equal(t, 30, countRows(t, admin, "ten_b"))
		require.Zero(t, streamLen(t, rdb, stream), "acknowledged entries are deleted")
		require.Zero(t, pendingCount(t, rdb, stream, DefaultGroup))

		var stored Record
		err = admin.QueryRow(ctx, `SELECT key_id, endpoint, method, status, latency_us, request_bytes, response_bytes, client_ip, request_id, occurred_at
			FROM usage_records WHERE tenant_id = 'ten_a' AND request_id = 'req_5'`).Scan(&stored.KeyID, &stored.Endpoint, &stored.Method,
			&stored.Status, &stored.LatencyMicros, &stored.RequestBytes, &stored.ResponseBytes, &stored.ClientIP, &stored.RequestID, &stored.OccurredAt)
		require.NoError(t, err)
		want := sampleRecord("ten_a", 5)
		stored.TenantID = want.TenantID
		require.True(t, want.OccurredAt.Equal(stored.OccurredAt))
		stored.OccurredAt = want.OccurredAt
		require.Equal(t, want, stored)
	})

	t.Run("EmptyStreamCreatesGroup", func(t *testing.T) {
		t.Parallel()
		pool, _ := testPool(t)
		rdb, stream := testRedis(t)
		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Logger: discardLogger()})
		require.NoError(t, err)
		require.Zero(t, res.Read)
		groups, err := rdb.XInfoGroups(ctx, stream).Result()
		require.NoError(t, err)
		require.Len(t, groups, 1)
		require.Equal(t, DefaultGroup, groups[0].Name)

		_, err = Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Logger: discardLogger()})
		require.NoError(t, err, "an existing group is not an error")
	})

	t.Run("RetryAfterCommitFailureLosesNothing", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		rdb, stream := testRedis(t)
		fillStream(t, rdb, stream, 20, "ten_a")

		crash := errors.New("drainer crashed after commit")
		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Consumer: "c1", BatchSize: 100, Logger: discardLogger(),
			afterCommit: func([]string) error { return crash }})
		require.ErrorIs(t, err, crash)
		require.Equal(t, 20, res.Inserted)
		require.Zero(t, res.Acked)
		require.Equal(t, 20, countRows(t, admin, "ten_a"), "rows are committed")
		require.Equal(t, int64(20), pendingCount(t, rdb, stream, DefaultGroup), "entries stay pending")

		res, err = Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Consumer: "c1", Logger: discardLogger()})
		require.NoError(t, err)
		require.Equal(t, 20, res.Read)
		require.Zero(t, res.Inserted)
		require.Equal(t, 20, res.Duplicates)
		require.Equal(t, 20, res.Acked)
		require.Equal(t, 20, countRows(t, admin, "ten_a"), "the retry doubles nothing")
		require.Equal(t, 20, countDistinctIDs(t, admin))
		require.Zero(t, pendingCount(t, rdb, stream, DefaultGroup))
		require.Zero(t, streamLen(t, rdb, stream))
	})

	t.Run("OtherConsumerReclaimsIdleEntries", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		rdb, stream := testRedis(t)
		fillStream(t, rdb, stream, 15, "ten_a")

		_, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Consumer: "crashed", BatchSize: 100, Logger: discardLogger(),
			afterCommit: func([]string) error { return errors.New("crash") }})
		require.Error(t, err)
		fillStream(t, rdb, stream, 5, "ten_b")

		// The entries must have been idle for ClaimIdle; this waits past 1 ms.
		time.Sleep(20 * time.Millisecond)
		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Consumer: "rescuer", ClaimIdle: time.Millisecond, Logger: discardLogger()})
		require.NoError(t, err)
		require.Equal(t, 15, res.Reclaimed)
		require.Equal(t, 20, res.Read)
		require.Equal(t, 15, res.Duplicates)
		require.Equal(t, 5, res.Inserted)
		require.Equal(t, 15, countRows(t, admin, "ten_a"))
		require.Equal(t, 5, countRows(t, admin, "ten_b"))
		require.Zero(t, pendingCount(t, rdb, stream, DefaultGroup))
	})

	t.Run("FreshEntriesAreNotReclaimed", func(t *testing.T) {
		t.Parallel()
		pool, _ := testPool(t)
		rdb, stream := testRedis(t)
		fillStream(t, rdb, stream, 3, "ten_a")
		_, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Consumer: "busy", Logger: discardLogger(),
			afterCommit: func([]string) error { return errors.New("still working") }})
		require.Error(t, err)

		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Consumer: "other", Logger: discardLogger()})
		require.NoError(t, err)
		require.Zero(t, res.Read, "entries pending for less than a minute belong to their consumer")
		require.Equal(t, int64(3), pendingCount(t, rdb, stream, DefaultGroup))
	})

	t.Run("ConcurrentDrainsStoreEachOnce", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		rdb, stream := testRedis(t)
		fillStream(t, rdb, stream, 200, "ten_a", "ten_b")

		var wg sync.WaitGroup
		results := make([]DrainResult, 2)
		errs := make([]error, 2)
		for i, consumer := range []string{"c1", "c2"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Consumer: consumer, BatchSize: 25, Logger: discardLogger()})
			}()
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		require.Equal(t, 400, results[0].Inserted+results[1].Inserted)
		require.Zero(t, results[0].Duplicates+results[1].Duplicates, "consumers of one group receive distinct entries")
		require.Equal(t, 400, countRows(t, admin, ""))
		require.Equal(t, 400, countDistinctIDs(t, admin))
		require.Zero(t, pendingCount(t, rdb, stream, DefaultGroup))
		require.Zero(t, streamLen(t, rdb, stream))
	})

	t.Run("RecordAlreadyInPostgresIsSkipped", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		rdb, stream := testRedis(t)
		// A recorder whose pipeline failed halfway leaves a record both in the
		// stream and, through the fallback, in PostgreSQL.
		rec := sampleRecord("ten_a", 0)
		rec.ID = "use_01jd8x3k6m4v0q9s7t2w5y8z1a"
		_, err := storeRecords(ctx, pool, []Record{rec})
		require.NoError(t, err)
		data, err := json.Marshal(rec)
		require.NoError(t, err)
		require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{streamField, data}}).Err())

		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Logger: discardLogger()})
		require.NoError(t, err)
		require.Equal(t, 1, res.Duplicates)
		require.Zero(t, res.Inserted)
		require.Equal(t, 1, countRows(t, admin, "ten_a"))
	})

	t.Run("MalformedEntryIsDeleted", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		rdb, stream := testRedis(t)
		require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{streamField, "{not json"}}).Err())
		require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"other", "x"}}).Err())
		require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{streamField, `{"id":"use_x"}`}}).Err())
		fillStream(t, rdb, stream, 1, "ten_a")

		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, Logger: discardLogger()})
		require.NoError(t, err)
		require.Equal(t, 3, res.Malformed)
		require.Equal(t, 1, res.Inserted)
		require.Equal(t, 4, res.Acked)
		require.Equal(t, 1, countRows(t, admin, ""))
		require.Zero(t, streamLen(t, rdb, stream))
	})

	t.Run("StopsAtMaxRecords", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		rdb, stream := testRedis(t)
		for range 5 {
			batch := make([]Record, 100)
			for i := range batch {
				batch[i] = sampleRecord("ten_a", i)
				batch[i].ID = ids.New(ids.Usage)
			}
			data, err := appendRecordsJSON(nil, batch)
			require.NoError(t, err)
			require.NoError(t, rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{batchField, data}}).Err())
		}
		// Reads of two entries: 200 records, under the bound; 400, over it.
		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, BatchSize: 2, MaxRecords: 250, Logger: discardLogger()})
		require.NoError(t, err)
		require.Equal(t, 4, res.Read)
		require.Equal(t, 400, res.Inserted)
		require.Equal(t, int64(1), streamLen(t, rdb, stream))

		res, err = Drain(ctx, pool, rdb, DrainOptions{Stream: stream, BatchSize: 2, MaxRecords: 250, Logger: discardLogger()})
		require.NoError(t, err)
		require.Equal(t, 100, res.Inserted, "the next call goes on where the last stopped")
		require.Equal(t, 500, countRows(t, admin, "ten_a"))
		require.Zero(t, streamLen(t, rdb, stream))
	})

	t.Run("StopsAtMaxEntries", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		rdb, stream := testRedis(t)
		fillStream(t, rdb, stream, 30, "ten_a")
		res, err := Drain(ctx, pool, rdb, DrainOptions{Stream: stream, BatchSize: 10, MaxEntries: 20, Logger: discardLogger()})
		require.NoError(t, err)
		require.Equal(t, 20, res.Read)
		require.Equal(t, 20, countRows(t, admin, "ten_a"))
		require.Equal(t, int64(10), streamLen(t, rdb, stream))
	})
}

package usage

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/shared/ids"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestRecorder_Record(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("FlushesToStream", func(t *testing.T) {
		t.Parallel()
		rdb, stream := testRedis(t)
		r := NewRecorder(rdb, nil, RecorderOptions{Stream: stream, FlushInterval: 10 * time.Millisecond, Logger: discardLogger()})
		for i := range 3 {
			r.Record(sampleRecord("ten_a", i))
		}
		require.NoError(t, r.Close(ctx))

		entries, err := rdb.XRange(ctx, stream, "-", "+").Result()
		require.NoError(t, err)
		require.Len(t, entries, 1, "one batch is one stream entry")
		recs := streamRecords(t, rdb, stream)
		require.Len(t, recs, 3)
		seen := map[string]bool{}
		for i, rec := range recs {
			require.True(t, ids.Valid(ids.Usage, rec.ID), "entry %d has id %q", i, rec.ID)
			require.False(t, seen[rec.ID], "id %s is repeated", rec.ID)
			seen[rec.ID] = true
			require.Equal(t, sampleRecord("ten_a", i).RequestID, rec.RequestID, "entries keep their order")
			require.True(t, sampleRecord("ten_a", i).OccurredAt.Equal(rec.OccurredAt))
		}
		require.Zero(t, r.Dropped())
	})

	t.Run("FullBatchFlushesBeforeInterval", func(t *testing.T) {
		t.Parallel()
		rdb, stream := testRedis(t)
		r := newRecorder(rdb, nil, RecorderOptions{Stream: stream, BatchSize: 2, FlushInterval: time.Hour, Logger: discardLogger()})
		r.Record(sampleRecord("ten_a", 0))
		r.Record(sampleRecord("ten_a", 1))
		r.Record(sampleRecord("ten_a", 2))
		go r.run()
		require.Eventually(t, func() bool { return recordCount(t, rdb, stream) >= 2 }, 10*time.Second, 5*time.Millisecond,
			"a full batch is written without waiting for the hour-long interval")
		require.NoError(t, r.Close(ctx))
		require.Equal(t, int64(3), recordCount(t, rdb, stream), "Close writes the partial batch")
	})

	t.Run("StampsMissingTime", func(t *testing.T) {
		t.Parallel()
		rdb, stream := testRedis(t)
		r := NewRecorder(rdb, nil, RecorderOptions{Stream: stream, Clock: func() time.Time { return recordTime }, Logger: discardLogger()})
		rec := sampleRecord("ten_a", 0)
		rec.OccurredAt = time.Time{}
		r.Record(rec)
		require.NoError(t, r.Close(ctx))
		recs := streamRecords(t, rdb, stream)
		require.Len(t, recs, 1)
		require.True(t, recordTime.Equal(recs[0].OccurredAt))
	})

	t.Run("FullBufferDrops", func(t *testing.T) {
		t.Parallel()
		rdb, stream := testRedis(t)
		var logs strings.Builder
		r := newRecorder(rdb, nil, RecorderOptions{Stream: stream, BufferSize: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		for i := range 5 {
			r.Record(sampleRecord("ten_a", i))
		}
		require.Equal(t, int64(3), r.Dropped())
		require.Equal(t, 1, strings.Count(logs.String(), "record dropped"), "drop warnings are rate-limited: %s", logs.String())

		go r.run()
		require.NoError(t, r.Close(ctx))
		require.Equal(t, int64(2), recordCount(t, rdb, stream))
	})

	t.Run("AfterCloseDrops", func(t *testing.T) {
		t.Parallel()
		rdb, stream := testRedis(t)
		r := NewRecorder(rdb, nil, RecorderOptions{Stream: stream, Logger: discardLogger()})
		require.NoError(t, r.Close(ctx))
		require.NoError(t, r.Close(ctx), "a second Close returns at once")
		r.Record(sampleRecord("ten_a", 0))
		require.Equal(t, int64(1), r.Dropped())
		require.Zero(t, recordCount(t, rdb, stream))
	})

	t.Run("RedisDownWritesPostgres", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		r := NewRecorder(unreachableRedis(t), pool, RecorderOptions{Logger: discardLogger()})
		for i := range 4 {
			r.Record(sampleRecord("ten_a", i))
		}
		for i := range 3 {
			r.Record(sampleRecord("ten_b", i))
		}
		require.NoError(t, r.Close(ctx))
		require.Equal(t, 4, countRows(t, admin, "ten_a"))
		require.Equal(t, 3, countRows(t, admin, "ten_b"))
		require.Zero(t, r.Dropped())
	})

	t.Run("BothDownKeepsBatch", func(t *testing.T) {
		t.Parallel()
		pool, admin := testPool(t)
		r := newRecorder(unreachableRedis(t), pool, RecorderOptions{Logger: discardLogger()})
		r.flush([]Record{sampleRecord("", 0)}) // an empty tenant id fails before any SQL runs
		require.Len(t, r.unsaved, 1, "the batch is kept for the next flush")
		require.NotEmpty(t, r.unsaved[0].ID, "the id stays the same across retries")
		require.Zero(t, countRows(t, admin, ""))
	})
}

func TestRecorder_Close(t *testing.T) {
	t.Parallel()
	rdb, stream := testRedis(t)
	r := NewRecorder(rdb, nil, RecorderOptions{Stream: stream, FlushInterval: time.Hour, Logger: discardLogger()})
	for i := range 1200 {
		r.Record(sampleRecord("ten_a", i))
	}
	require.NoError(t, r.Close(context.Background()))
	require.Equal(t, int64(1200), recordCount(t, rdb, stream), "Close flushes every buffered record")
}

func BenchmarkRecorder_Record(b *testing.B) {
	rdb, stream := testRedis(b)
	r := NewRecorder(rdb, nil, RecorderOptions{Stream: stream, Logger: discardLogger()})
	rec := sampleRecord("ten_a", 0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record(rec)
		}
	})
	b.StopTimer()
	require.NoError(b, r.Close(context.Background()))
	b.ReportMetric(float64(r.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkRecorder_Flush measures one pipelined flush of a full default
// batch to the shared Redis, which bounds the records per second one
// recorder can write before Record starts dropping.
func BenchmarkRecorder_Flush(b *testing.B) {
	rdb, stream := testRedis(b)
	r := newRecorder(rdb, nil, RecorderOptions{Stream: stream, Logger: discardLogger()})
	batch := make([]Record, DefaultBatchSize)
	for i := range batch {
		batch[i] = sampleRecord("ten_a", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r.flush(batch)
	}
	b.StopTimer()
	require.Empty(b, r.unsaved, "every flush reached Redis")
	b.ReportMetric(float64(DefaultBatchSize*b.N)/b.Elapsed().Seconds(), "records/s")
}

package usage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
)

// testRedis returns a client of the shared test Redis (TEST_REDIS_ADDR, else
// 127.0.0.1:6379) and a fresh stream name that is deleted at cleanup.
func testRedis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	addr := os.Getenv("TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("connect to Redis at %s: %v (start it or set TEST_REDIS_ADDR)", addr, err)
	}
	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	stream := "test:usage:" + hex.EncodeToString(buf)
	t.Cleanup(func() {
		rdb.Del(ctx, stream)
		_ = rdb.Close()
	})
	return rdb, stream
}

// unreachableRedis returns a client of a loopback port that was just closed,
// so every command fails with connection refused.
func unreachableRedis(t testing.TB) *redis.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// testPool returns a pool on a fresh database that runs as the application
// role, and a superuser connection to the same database that row-level
// security does not apply to, for checking stored rows.
func testPool(t testing.TB) (*pgxpool.Pool, *pgx.Conn) {
	t.Helper()
	pool, dbURL := pgtest.NewPool(t)
	admin, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	return pool, admin
}

func countRows(t testing.TB, admin *pgx.Conn, tenantID string) int {
	t.Helper()
	var n int
	err := admin.QueryRow(context.Background(),
		"SELECT count(*) FROM usage_records WHERE $1 = '' OR tenant_id = $1", tenantID).Scan(&n)
	require.NoError(t, err)
	return n
}

func countDistinctIDs(t testing.TB, admin *pgx.Conn) int {
	t.Helper()
	var n int
	require.NoError(t, admin.QueryRow(context.Background(), "SELECT count(DISTINCT id) FROM usage_records").Scan(&n))
	return n
}

var recordTime = time.Date(2030, 1, 2, 10, 15, 0, 0, time.UTC)

// sampleRecord returns a complete record of tenantID numbered i.
func sampleRecord(tenantID string, i int) Record {
	return Record{
		TenantID:      tenantID,
		KeyID:         "key_01jd8x3k6m4v0q9s7t2w5y8z1a",
		Endpoint:      "GET /files/items",
		Method:        "GET",
		Status:        200,
		LatencyMicros: int64(1000 + i),
		RequestBytes:  10,
		ResponseBytes: 200,
		ClientIP:      "203.0.113.7",
		RequestID:     fmt.Sprintf("req_%d", i),
		OccurredAt:    recordTime.Add(time.Duration(i) * time.Millisecond),
	}
}

func streamLen(t testing.TB, rdb *redis.Client, stream string) int64 {
	t.Helper()
	n, err := rdb.XLen(context.Background(), stream).Result()
	require.NoError(t, err)
	return n
}

// streamRecords decodes every record in stream, in entry order.
func streamRecords(t testing.TB, rdb *redis.Client, stream string) []Record {
	t.Helper()
	entries, err := rdb.XRange(context.Background(), stream, "-", "+").Result()
	require.NoError(t, err)
	var out []Record
	for _, e := range entries {
		recs, err := decodeEntry(e)
		require.NoError(t, err)
		out = append(out, recs...)
	}
	return out
}

func recordCount(t testing.TB, rdb *redis.Client, stream string) int64 {
	t.Helper()
	return int64(len(streamRecords(t, rdb, stream)))
}

func pendingCount(t testing.TB, rdb *redis.Client, stream, group string) int64 {
	t.Helper()
	p, err := rdb.XPending(context.Background(), stream, group).Result()
	require.NoError(t, err)
	return p.Count
}

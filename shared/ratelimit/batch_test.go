package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWorker_OneScriptPerKey sends one batch by hand, so the grouping is
// certain. Checks of one key share a script run and are admitted in arrival
// order up to the limit. Checks of another key or with other limits are
// counted on their own.
func TestWorker_OneScriptPerKey(t *testing.T) {
	t.Parallel()
	rdb, prefix := sharedRedis(t)
	ctx := context.Background()
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	mk := func(ctx context.Context, keyID string, perMinute, perHour int) *check {
		return &check{
			ctx:        ctx,
			minuteKey:  prefix + "rl:" + keyID + ":m",
			hourKey:    prefix + "rl:" + keyID + ":h",
			revokedKey: prefix + "revoked:" + keyID,
			perMinute:  perMinute, perHour: perHour,
			minuteTTL: 60_000, hourTTL: 3_600_000,
			done: make(chan checkResult, 1),
		}
	}
	require.NoError(t, rdb.Set(ctx, prefix+"revoked:key_r", "1", time.Minute).Err())
	require.NoError(t, rdb.Set(ctx, prefix+"rl:key_h:h", "9", time.Minute).Err())

	a := []*check{mk(ctx, "key_a", 3, 100), mk(ctx, "key_a", 3, 100), mk(ctx, "key_a", 3, 100), mk(ctx, "key_a", 3, 100), mk(ctx, "key_a", 3, 100)}
	b := []*check{mk(ctx, "key_b", 10, 100), mk(ctx, "key_b", 10, 100)}
	r := []*check{mk(ctx, "key_r", 10, 100), mk(ctx, "key_r", 10, 100)}
	h := []*check{mk(ctx, "key_h", 10, 10), mk(ctx, "key_h", 10, 10)}
	canceledCheck := mk(canceled, "key_a", 3, 100)

	w := &worker{rdb: rdb, index: make(map[groupKey]int)}
	// Interleaved, as concurrent requests arrive.
	w.batch = []*check{a[0], b[0], a[1], canceledCheck, r[0], a[2], h[0], a[3], b[1], r[1], h[1], a[4]}
	w.send()
	require.Len(t, w.groups, 4, "one script per key")

	got := func(c *check) checkResult {
		select {
		case res := <-c.done:
			return res
		default:
			t.Fatal("no result delivered")
			return checkResult{}
		}
	}
	for i, want := range []checkResult{{1, 1, 1, nil}, {1, 2, 2, nil}, {1, 3, 3, nil}, {0, 3, 3, nil}, {0, 3, 3, nil}} {
		require.Equal(t, want, got(a[i]), "key_a check %d", i)
	}
	require.Equal(t, checkResult{1, 1, 1, nil}, got(b[0]))
	require.Equal(t, checkResult{1, 2, 2, nil}, got(b[1]))
	require.Equal(t, checkResult{-1, 0, 0, nil}, got(r[0]))
	require.Equal(t, checkResult{-1, 0, 0, nil}, got(r[1]))
	require.Equal(t, checkResult{1, 1, 10, nil}, got(h[0]), "one request fits under the hour limit")
	require.Equal(t, checkResult{0, 1, 10, nil}, got(h[1]))
	require.ErrorIs(t, got(canceledCheck).err, context.Canceled)

	counts := map[string]string{
		"rl:key_a:m": "3", "rl:key_a:h": "3",
		"rl:key_b:m": "2", "rl:key_b:h": "2",
		"rl:key_h:m": "1", "rl:key_h:h": "10",
	}
	for k, want := range counts {
		v, err := rdb.Get(ctx, prefix+k).Result()
		require.NoError(t, err, k)
		require.Equal(t, want, v, k)
	}
	n, err := rdb.Exists(ctx, prefix+"rl:key_r:m", prefix+"rl:key_r:h").Result()
	require.NoError(t, err)
	require.Zero(t, n, "revoked requests are not counted")
	ttl, err := rdb.PTTL(ctx, prefix+"rl:key_a:m").Result()
	require.NoError(t, err)
	require.Positive(t, ttl, "a new counter gets its expiry")
}

// TestWorker_ReloadsFlushedScript shows that a batch sent after the server
// lost its script cache is counted once, after the script is loaded again.
func TestWorker_ReloadsFlushedScript(t *testing.T) {
	t.Parallel()
	rdb, _ := ownRedis(t)
	ctx := context.Background()
	require.NoError(t, rdb.ScriptFlush(ctx).Err())

	mk := func(keyID string) *check {
		return &check{ctx: ctx, minuteKey: "rl:" + keyID + ":m", hourKey: "rl:" + keyID + ":h", revokedKey: "revoked:" + keyID,
			perMinute: 10, perHour: 100, minuteTTL: 60_000, hourTTL: 3_600_000, done: make(chan checkResult, 1)}
	}
	a1, a2, b1 := mk("key_a"), mk("key_a"), mk("key_b")
	w := &worker{rdb: rdb, index: make(map[groupKey]int)}
	w.batch = []*check{a1, b1, a2}
	w.send()

	require.Equal(t, checkResult{1, 1, 1, nil}, <-a1.done)
	require.Equal(t, checkResult{1, 2, 2, nil}, <-a2.done)
	require.Equal(t, checkResult{1, 1, 1, nil}, <-b1.done)
	for k, want := range map[string]string{"rl:key_a:m": "2", "rl:key_b:m": "1"} {
		v, err := rdb.Get(ctx, k).Result()
		require.NoError(t, err, k)
		require.Equal(t, want, v, "%s is counted once", k)
	}
}

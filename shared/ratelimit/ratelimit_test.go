package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// sharedRedis returns a client of the shared test Redis (TEST_REDIS_ADDR, else
// 127.0.0.1:6379) and a random key prefix, and deletes the prefix's keys at cleanup.
func sharedRedis(t testing.TB) (*redis.Client, string) {
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
	prefix := "test:rl:" + hex.EncodeToString(buf) + ":"
	t.Cleanup(func() {
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// ownRedis starts a private redis-server listening only on a Unix socket, so
// the test can stop it without touching the shared server. It returns a
// client and a function that kills the server.
func ownRedis(t testing.TB) (*redis.Client, func()) {
	t.Helper()
	dir, err := os.MkdirTemp("", "rl")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command("redis-server", "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir)
	require.NoError(t, cmd.Start(), "start redis-server")
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	t.Cleanup(stop)

	rdb := redis.NewClient(&redis.Options{Network: "unix", Addr: sock, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = rdb.Close() })
	for i := 0; ; i++ {
		if rdb.Ping(context.Background()).Err() == nil {
			break
		}
		if i == 200 {
			t.Fatalf("redis-server on %s did not answer PING", sock)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return rdb, stop
}

// fakeClock is a settable clock for window tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock(start time.Time) *fakeClock { return &fakeClock{now: start} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// windowStart is 10:00:05 UTC on a fixed day, five seconds into a minute
// and into an hour.
var windowStart = time.Date(2030, 1, 2, 10, 0, 5, 0, time.UTC)

func TestLimiter_Allow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("CountsBothWindows", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		clock := newFakeClock(windowStart)
		l := New(rdb, Options{KeyPrefix: prefix, Clock: clock.Now})

		d, err := l.Allow(ctx, "key_a", 3, 10)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		require.False(t, d.Revoked)
		require.False(t, d.State.Degraded)
		require.Equal(t, 3, d.State.LimitMinute)
		require.Equal(t, 2, d.State.RemainingMinute)
		require.Equal(t, 10, d.State.LimitHour)
		require.Equal(t, 9, d.State.RemainingHour)
		require.Equal(t, windowStart.Truncate(time.Minute).Add(time.Minute), d.State.ResetMinute)
		require.Equal(t, windowStart.Truncate(time.Hour).Add(time.Hour), d.State.ResetHour)
		require.Zero(t, d.RetryAfter)
	})

	t.Run("MinuteLimitRejects", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		clock := newFakeClock(windowStart)
		l := New(rdb, Options{KeyPrefix: prefix, Clock: clock.Now})

		for i := range 3 {
			d, err := l.Allow(ctx, "key_a", 3, 100)
			require.NoError(t, err)
			require.True(t, d.Allowed, "request %d", i+1)
		}
		d, err := l.Allow(ctx, "key_a", 3, 100)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		require.False(t, d.Revoked)
		require.Equal(t, 0, d.State.RemainingMinute)
		require.Equal(t, 97, d.State.RemainingHour, "a rejected request must not count in the hour window")
		require.Equal(t, 55*time.Second, d.RetryAfter)

		clock.Advance(time.Minute)
		d, err = l.Allow(ctx, "key_a", 3, 100)
		require.NoError(t, err)
		require.True(t, d.Allowed, "the next minute window starts empty")
		require.Equal(t, 2, d.State.RemainingMinute)
		require.Equal(t, 96, d.State.RemainingHour)
	})

	t.Run("HourLimitRejects", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		clock := newFakeClock(windowStart)
		l := New(rdb, Options{KeyPrefix: prefix, Clock: clock.Now})

		for i := range 5 {
			d, err := l.Allow(ctx, "key_a", 2, 5)
			require.NoError(t, err)
			require.True(t, d.Allowed, "request %d", i+1)
			if i%2 == 1 {
				clock.Advance(time.Minute)
			}
		}
		clock.Advance(time.Minute)
		d, err := l.Allow(ctx, "key_a", 2, 5)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		require.Equal(t, 2, d.State.RemainingMinute, "a rejected request must not count in the minute window")
		require.Equal(t, 0, d.State.RemainingHour)
		require.Equal(t, windowStart.Truncate(time.Hour).Add(time.Hour).Sub(clock.Now()), d.RetryAfter)

		clock.Advance(time.Hour)
		d, err = l.Allow(ctx, "key_a", 2, 5)
		require.NoError(t, err)
		require.True(t, d.Allowed, "the next hour window starts empty")
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		l := New(rdb, Options{KeyPrefix: prefix, Clock: newFakeClock(windowStart).Now})

		d, err := l.Allow(ctx, "key_a", 1, 10)
		require.NoError(t, err)
		require.True(t, d.Allowed)
		d, err = l.Allow(ctx, "key_a", 1, 10)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		d, err = l.Allow(ctx, "key_b", 1, 10)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	})

	t.Run("ConcurrentRequestsAdmitExactlyLimit", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		// Two limiters on the same Redis stand for two instances.
		clock := newFakeClock(windowStart)
		limiters := []*Limiter{
			New(rdb, Options{KeyPrefix: prefix, Clock: clock.Now}),
			New(rdb, Options{KeyPrefix: prefix, Clock: clock.Now}),
		}
		const workers, limit = 50, 20
		var admitted, rejected atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := limiters[i%2].Allow(ctx, "key_hot", limit, 1000)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted.Add(1)
				} else {
					rejected.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, int64(limit), admitted.Load())
		require.Equal(t, int64(workers-limit), rejected.Load())

		d, err := limiters[0].Allow(ctx, "key_hot", 1000, 1000)
		require.NoError(t, err)
		require.Equal(t, 1000-limit-1, d.State.RemainingHour, "only admitted requests count in the hour window")
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		l := New(rdb, Options{KeyPrefix: prefix})
		_, err := l.Allow(ctx, "", 1, 1)
		require.ErrorContains(t, err, "empty key id")
		_, err = l.Allow(ctx, "key_a", 0, 1)
		require.ErrorContains(t, err, "limits must be positive")
		_, err = l.Allow(ctx, "key_a", 1, -1)
		require.ErrorContains(t, err, "limits must be positive")
	})

	t.Run("SetsExpiryOnCounters", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		l := New(rdb, Options{KeyPrefix: prefix})
		_, err := l.Allow(ctx, "key_a", 5, 50)
		require.NoError(t, err)
		keys, err := rdb.Keys(ctx, prefix+"rl:key_a:*").Result()
		require.NoError(t, err)
		require.Len(t, keys, 2)
		for _, k := range keys {
			ttl, err := rdb.PTTL(ctx, k).Result()
			require.NoError(t, err)
			require.Positive(t, ttl, "key %s has no expiry", k)
			require.LessOrEqual(t, ttl, time.Hour+time.Second, "key %s", k)
		}
	})
}

func TestLimiter_MarkRevoked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RejectsOnEveryInstance", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		revoker := New(rdb, Options{KeyPrefix: prefix})
		other := New(rdb, Options{KeyPrefix: prefix})

		d, err := other.Allow(ctx, "key_a", 10, 100)
		require.NoError(t, err)
		require.True(t, d.Allowed)

		require.NoError(t, revoker.MarkRevoked(ctx, "key_a", time.Minute))
		d, err = other.Allow(ctx, "key_a", 10, 100)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		require.True(t, d.Revoked)
		require.Zero(t, d.RetryAfter)

		exists, err := rdb.Exists(ctx, prefix+"revoked:key_a").Result()
		require.NoError(t, err)
		require.Equal(t, int64(1), exists, "marker key name is part of the contract")
		ttl, err := rdb.PTTL(ctx, prefix+"revoked:key_a").Result()
		require.NoError(t, err)
		require.Positive(t, ttl)

		d, err = other.Allow(ctx, "key_b", 10, 100)
		require.NoError(t, err)
		require.True(t, d.Allowed, "other keys are unaffected")
	})

	t.Run("RevokedRequestsAreNotCounted", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		l := New(rdb, Options{KeyPrefix: prefix})
		require.NoError(t, l.MarkRevoked(ctx, "key_a", time.Minute))
		_, err := l.Allow(ctx, "key_a", 10, 100)
		require.NoError(t, err)
		keys, err := rdb.Keys(ctx, prefix+"rl:key_a:*").Result()
		require.NoError(t, err)
		require.Empty(t, keys)
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		l := New(rdb, Options{KeyPrefix: prefix})
		require.ErrorContains(t, l.MarkRevoked(ctx, "", time.Minute), "empty key id")
		require.ErrorContains(t, l.MarkRevoked(ctx, "key_a", 0), "ttl must be positive")
	})
}

func TestLimiter_RedisDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("FailClosedReturnsUnavailable", func(t *testing.T) {
		t.Parallel()
		rdb, stop := ownRedis(t)
		l := New(rdb, Options{FailClosed: true, Logger: discardLogger()})
		d, err := l.Allow(ctx, "key_a", 5, 50)
		require.NoError(t, err)
		require.True(t, d.Allowed)

		stop()
		_, err = l.Allow(ctx, "key_a", 5, 50)
		require.ErrorIs(t, err, ErrUnavailable)
		var pe *problem.Error
		require.ErrorAs(t, err, &pe)
		require.Equal(t, http.StatusServiceUnavailable, pe.Code.Status())

		_, err = l.Allow(ctx, "key_a", 5, 50)
		require.ErrorIs(t, err, ErrUnavailable, "calls inside the retry pause also fail closed")
	})

	t.Run("FailOpenCountsPerInstance", func(t *testing.T) {
		t.Parallel()
		rdb, stop := ownRedis(t)
		clock := newFakeClock(windowStart)
		var logs bytes.Buffer
		var logsMu sync.Mutex
		logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logsMu}, nil))
		l := New(rdb, Options{Clock: clock.Now, Logger: logger})

		stop()
		for i := range 3 {
			d, err := l.Allow(ctx, "key_a", 3, 100)
			require.NoError(t, err)
			require.True(t, d.Allowed, "request %d", i+1)
			require.True(t, d.State.Degraded)
			require.Equal(t, 3-i-1, d.State.RemainingMinute)
		}
		d, err := l.Allow(ctx, "key_a", 3, 100)
		require.NoError(t, err)
		require.False(t, d.Allowed)
		require.True(t, d.State.Degraded)
		require.Equal(t, 55*time.Second, d.RetryAfter)

		clock.Advance(time.Minute)
		d, err = l.Allow(ctx, "key_a", 3, 100)
		require.NoError(t, err)
		require.True(t, d.Allowed, "the fallback starts a new minute window too")
		require.Equal(t, 96, d.State.RemainingHour, "the rejected request is not counted")

		logsMu.Lock()
		out := logs.String()
		logsMu.Unlock()
		require.Equal(t, 2, strings.Count(out, "redis is unreachable"), "one warning at the start and one after 30 s: %s", out)
		require.Contains(t, out, "degraded_decisions=1 ")
		require.Contains(t, out, "degraded_decisions=4 ")
	})

	t.Run("FailOpenExactUnderConcurrency", func(t *testing.T) {
		t.Parallel()
		rdb, stop := ownRedis(t)
		l := New(rdb, Options{Clock: newFakeClock(windowStart).Now, Logger: discardLogger()})
		stop()

		const workers, limit = 50, 20
		var admitted atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d, err := l.Allow(ctx, "key_hot", limit, 1000)
				if err == nil && d.Allowed {
					admitted.Add(1)
				}
			}()
		}
		wg.Wait()
		require.Equal(t, int64(limit), admitted.Load())
	})

	t.Run("FailOpenHonoursLocalRevocation", func(t *testing.T) {
		t.Parallel()
		rdb, stop := ownRedis(t)
		l := New(rdb, Options{Logger: discardLogger()})
		require.NoError(t, l.MarkRevoked(ctx, "key_a", time.Minute))
		stop()
		d, err := l.Allow(ctx, "key_a", 10, 100)
		require.NoError(t, err)
		require.True(t, d.Revoked)
		require.False(t, d.Allowed)
		require.True(t, d.State.Degraded)
	})

	t.Run("MarkRevokedReportsRedisError", func(t *testing.T) {
		t.Parallel()
		rdb, stop := ownRedis(t)
		l := New(rdb, Options{Logger: discardLogger()})
		stop()
		require.Error(t, l.MarkRevoked(ctx, "key_a", time.Minute))
	})

	t.Run("CanceledContextIsNotDegraded", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := sharedRedis(t)
		l := New(rdb, Options{KeyPrefix: prefix, Logger: discardLogger()})
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		_, err := l.Allow(canceled, "key_a", 10, 100)
		require.ErrorIs(t, err, context.Canceled)
		d, err := l.Allow(ctx, "key_a", 10, 100)
		require.NoError(t, err)
		require.False(t, d.State.Degraded, "a canceled request must not pause Redis use")
	})
}

func TestSetHeaders(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 10, 20, 18, 500_000_000, time.UTC)
	st := request.RateState{
		LimitMinute: 600, RemainingMinute: 599,
		LimitHour: 20000, RemainingHour: 19000,
		ResetMinute: time.Date(2030, 1, 2, 10, 21, 0, 0, time.UTC),
		ResetHour:   time.Date(2030, 1, 2, 11, 0, 0, 0, time.UTC),
	}
	h := http.Header{}
	SetHeadersAt(h, st, now)

	require.Equal(t, "600", h.Get("X-RateLimit-Limit-Minute"))
	require.Equal(t, "599", h.Get("X-RateLimit-Remaining-Minute"))
	require.Equal(t, "20000", h.Get("X-RateLimit-Limit-Hour"))
	require.Equal(t, "19000", h.Get("X-RateLimit-Remaining-Hour"))
	require.Equal(t, `"minute";q=600;w=60, "hour";q=20000;w=3600`, h.Get("RateLimit-Policy"))
	require.Equal(t, `"minute";r=599;t=42, "hour";r=19000;t=2382`, h.Get("RateLimit"))

	t.Run("PastResetIsZero", func(t *testing.T) {
		h := http.Header{}
		SetHeadersAt(h, st, st.ResetHour.Add(time.Second))
		require.Equal(t, `"minute";r=599;t=0, "hour";r=19000;t=0`, h.Get("RateLimit"))
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// BenchmarkLimiter_Allow measures Allow calls against the shared Redis with
// the limits high enough that every call is admitted: with one caller per
// core, and with 32 callers of one key, as under load, where one script run
// counts many calls.
func BenchmarkLimiter_Allow(b *testing.B) {
	for _, callers := range []int{1, 16} {
		b.Run(fmt.Sprintf("callers=%d", callers*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			rdb, prefix := sharedRedis(b)
			l := New(rdb, Options{KeyPrefix: prefix, Logger: discardLogger()})
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(callers)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := l.Allow(ctx, "key_bench", 1<<30, 1<<30); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// Package ratelimit enforces per-key request limits in fixed one-minute and
// one-hour windows, counted atomically in Redis so that every instance shares
// the same counters.
package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// Window lengths of the two fixed windows.
const (
	Minute = time.Minute
	Hour   = time.Hour
)

// ErrUnavailable is wrapped by the error Allow returns when Redis cannot be
// reached and the limiter fails closed. That error is a *problem.Error with
// code service-unavailable, so problem.Write responds with 503.
var ErrUnavailable = errors.New("rate limit store unavailable")

// degradedLogEvery is the minimum time between two warnings about decisions
// made by the in-process fallback.
const degradedLogEvery = 30 * time.Second

// redisRetryAfter is how long the limiter skips Redis after a failed call, so
// that a Redis outage does not add a connection timeout to every request.
const redisRetryAfter = time.Second

//go:embed allow.lua
var allowSource string

// allowScript checks the revocation marker and both windows, and counts as
// many of the requests it is given as fit under both limits. The batcher
// sends it with EVALSHA and loads it when the server does not have it cached.
var allowScript = redis.NewScript(allowSource)

// Options configures a Limiter.
type Options struct {
	// KeyPrefix is prepended to every Redis key, such as "booga:".
	KeyPrefix string
	// FailClosed makes Allow return an ErrUnavailable error when Redis is
	// unreachable. Otherwise each instance falls back to counting in memory.
	FailClosed bool
	// Clock returns the current time; time.Now when nil. Windows are aligned
	// to this clock, not to the Redis server's clock.
	Clock func() time.Time
	// Logger receives degraded-mode warnings; slog.Default() when nil.
	Logger *slog.Logger
}

// Decision is the outcome of one Allow call.
type Decision struct {
	Allowed bool
	// Revoked is true when the key carries a revocation marker; Allowed is then false.
	Revoked bool
	State   request.RateState
	// RetryAfter is the time until the exhausted window resets, set only when
	// the request was rejected for its rate.
	RetryAfter time.Duration
}

// Limiter counts requests per API key. It is safe for concurrent use.
type Limiter struct {
	rdb        redis.UniversalClient
	prefix     string
	failClosed bool
	now        func() time.Time
	log        *slog.Logger

	local *localLimiter
	batch *batcher

	// skipRedisUntil is the time, in Unix nanoseconds, before which Allow
	// uses the fallback without trying Redis.
	skipRedisUntil atomic.Int64

	degradedMu     sync.Mutex
	degradedCount  int64
	degradedLogged time.Time
}

// New returns a Limiter that stores its counters in rdb.
func New(rdb redis.UniversalClient, opts Options) *Limiter {
	l := &Limiter{
		rdb:        rdb,
		prefix:     opts.KeyPrefix,
		failClosed: opts.FailClosed,
		now:        opts.Clock,
		log:        opts.Logger,
		local:      newLocalLimiter(),
		batch:      newBatcher(rdb),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// Allow counts one request of keyID against perMinute and perHour. A request
// over either limit, or from a revoked key, is rejected and counted in
// neither window. It returns an error when a limit is not positive, when ctx
// ends, and, with FailClosed, when Redis is unreachable (see ErrUnavailable).
func (l *Limiter) Allow(ctx context.Context, keyID string, perMinute, perHour int) (Decision, error) {
	if keyID == "" {
		return Decision{}, errors.New("rate limit: empty key id")
	}
	if perMinute <= 0 || perHour <= 0 {
		return Decision{}, fmt.Errorf("rate limit key %s: limits must be positive, got %d per minute and %d per hour", keyID, perMinute, perHour)
	}
	now := l.now()
	w := windowsAt(now)

	if now.UnixNano() >= l.skipRedisUntil.Load() {
		d, err := l.allowRedis(ctx, keyID, perMinute, perHour, w)
		if err == nil {
			return d, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Decision{}, fmt.Errorf("rate limit key %s: %w", keyID, ctxErr)
		}
		l.skipRedisUntil.Store(now.Add(redisRetryAfter).UnixNano())
		if l.failClosed {
			return Decision{}, unavailable(err)
		}
		l.noteDegraded(now, err)
	} else {
		if l.failClosed {
			return Decision{}, unavailable(errors.New("redis failed less than a second ago"))
		}
		l.noteDegraded(now, nil)
	}

	d := l.local.allow(keyID, perMinute, perHour, w, now)
	d.State.Degraded = true
	return d, nil
}

// MarkRevoked makes every instance reject keyID for ttl, which should be at
// least the verified-key cache TTL so that no instance still admits a cached
// copy. The marker is also kept in this process, so this instance rejects
// the key even while Redis is unreachable.
func (l *Limiter) MarkRevoked(ctx context.Context, keyID string, ttl time.Duration) error {
	if keyID == "" {
		return errors.New("mark revoked: empty key id")
	}
	if ttl <= 0 {
		return fmt.Errorf("mark revoked key %s: ttl must be positive, got %s", keyID, ttl)
	}
	l.local.revoke(keyID, l.now().Add(ttl))
	if err := l.rdb.Set(ctx, l.revokedKey(keyID), "1", ttl).Err(); err != nil {
		return fmt.Errorf("mark key %s revoked in redis: %w", keyID, err)
	}
	return nil
}

// NOTE: the window keys and the revocation key have no common hash tag, so
// on Redis Cluster they can fall into different slots and the script fails
// with CROSSSLOT. The marker's name is shared with other code, so the fix
// (a hash tag around the key id in all three names) has to change both.
func (l *Limiter) revokedKey(keyID string) string { return l.prefix + "revoked:" + keyID }

func (l *Limiter) windowKey(keyID, kind string, start time.Time) string {
	return l.prefix + "rl:" + keyID + ":" + kind + ":" + strconv.FormatInt(start.Unix(), 10)
}

func (l *Limiter) allowRedis(ctx context.Context, keyID string, perMinute, perHour int, w windows) (Decision, error) {
	// Each counter expires a second after its window ends. Window keys embed
	// the window start, so the expiry only frees memory and never resets a
	// live window early.
	res, err := l.batch.run(ctx, check{
		minuteKey:  l.windowKey(keyID, "m", w.minuteStart),
		hourKey:    l.windowKey(keyID, "h", w.hourStart),
		revokedKey: l.revokedKey(keyID),
		perMinute:  perMinute,
		perHour:    perHour,
		minuteTTL:  (w.minuteEnd.Sub(w.now) + time.Second).Milliseconds(),
		hourTTL:    (w.hourEnd.Sub(w.now) + time.Second).Milliseconds(),
	})
	if err != nil {
		return Decision{}, fmt.Errorf("run rate limit script for key %s: %w", keyID, err)
	}
	return decide(res.status, int(res.minute), int(res.hour), perMinute, perHour, w), nil
}

// decide turns the script's status (1 allowed, 0 over a limit, -1 revoked) and
// the two counts into a Decision.
func decide(status int64, minuteCount, hourCount, perMinute, perHour int, w windows) Decision {
	d := Decision{
		Allowed: status == 1,
		Revoked: status == -1,
		State: request.RateState{
			LimitMinute:     perMinute,
			RemainingMinute: max(0, perMinute-minuteCount),
			LimitHour:       perHour,
			RemainingHour:   max(0, perHour-hourCount),
			ResetMinute:     w.minuteEnd,
			ResetHour:       w.hourEnd,
		},
	}
	if status == 0 {
		if hourCount >= perHour {
			d.RetryAfter = w.hourEnd.Sub(w.now)
		} else {
			d.RetryAfter = w.minuteEnd.Sub(w.now)
		}
	}
	return d
}

func unavailable(cause error) error {
	return &problem.Error{
		Code:       problem.CodeUnavailable,
		Detail:     "Rate limits cannot be checked right now. Retry later.",
		RetryAfter: redisRetryAfter,
		Err:        fmt.Errorf("%w: %w", ErrUnavailable, cause),
	}
}

// noteDegraded counts a fallback decision and logs a warning with the count
// at most once per degradedLogEvery.
func (l *Limiter) noteDegraded(now time.Time, cause error) {
	l.degradedMu.Lock()
	l.degradedCount++
	if !l.degradedLogged.IsZero() && now.Sub(l.degradedLogged) < degradedLogEvery {
		l.degradedMu.Unlock()
		return
	}
	count := l.degradedCount
	l.degradedCount = 0
	l.degradedLogged = now
	l.degradedMu.Unlock()

	attrs := []any{"degraded_decisions", count, "window", degradedLogEvery}
	if cause != nil {
		attrs = append(attrs, "error", cause.Error())
	}
	l.log.Warn("rate limits counted per instance because redis is unreachable", attrs...)
}

// windows contains the fixed windows that contain now.
type windows struct {
	now                    time.Time
	minuteStart, minuteEnd time.Time
	hourStart, hourEnd     time.Time
}

func windowsAt(now time.Time) windows {
	m := now.Truncate(Minute)
	h := now.Truncate(Hour)
	return windows{now: now, minuteStart: m, minuteEnd: m.Add(Minute), hourStart: h, hourEnd: h.Add(Hour)}
}

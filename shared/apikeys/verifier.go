package apikeys

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// maxCacheEntries bounds the verification cache; past it, arbitrary entries
// are evicted (they only cost one more PBKDF2 run).
const maxCacheEntries = 100_000

// failureWindow is the window of the failed-attempt throttle.
const failureWindow = time.Minute

// Verified is the result of a successful verification.
type Verified struct {
	Principal *request.Principal
	Key       Key
}

type cacheEntry struct {
	verified   Verified
	validUntil time.Time
	// matched is the stored hash the presented key was verified against.
	matched Hashed
	// keyJSON is verified.Key encoded once, for the current-key endpoint.
	keyJSON []byte
}

// VerifierOptions configures a Verifier.
type VerifierOptions struct {
	CacheTTL     time.Duration
	FailureLimit int    // failed attempts per key prefix and per client address per minute
	RedisPrefix  string // prefix of every Redis key and channel, for isolation in tests
	Now          func() time.Time
	Logger       *slog.Logger
}

// Verifier authenticates presented keys. A verified key is cached under the
// SHA-256 of the presented string, so PBKDF2 runs once per key per CacheTTL.
// Revoke and rotate evict the entry here and, through Redis pub/sub, on every
// other instance.
type Verifier struct {
	pool *pgxpool.Pool
	rdb  redis.UniversalClient
	opts VerifierOptions

	mu    sync.RWMutex
	cache map[[32]byte]*cacheEntry
	byKey map[string]map[[32]byte]struct{}

	touchMu sync.Mutex
	touched map[string]time.Time

	failMu     sync.Mutex
	localFails map[string]*localCounter

	// flight merges concurrent lookups of the same presented key.
	flight singleflight.Group
	// onLookup and onDerive, when set by a test, run at the start of every
	// lookup and before every PBKDF2 derivation.
	onLookup, onDerive func()
}

type localCounter struct {
	count int
	until time.Time
}

// NewVerifier returns a Verifier. Call Run to receive invalidations from
// other instances and to write last_used_at.
func NewVerifier(pool *pgxpool.Pool, rdb redis.UniversalClient, opts VerifierOptions) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = time.Minute
	}
	if opts.FailureLimit <= 0 {
		opts.FailureLimit = 20
	}
	return &Verifier{
		pool: pool, rdb: rdb, opts: opts,
		cache:      map[[32]byte]*cacheEntry{},
		byKey:      map[string]map[[32]byte]struct{}{},
		touched:    map[string]time.Time{},
		localFails: map[string]*localCounter{},
	}
}

func (v *Verifier) channel() string { return v.opts.RedisPrefix + "apikeys:invalidate" }

var errInvalidKey = &problem.Error{Code: problem.CodeUnauthenticated,
	Detail: "The API key is invalid or revoked. Send a valid key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."}

// Verify authenticates a presented key for a request from clientIP.
func (v *Verifier) Verify(ctx context.Context, presented, clientIP string) (Verified, error) {
	now := v.opts.Now()
	fp := Fingerprint(presented)

	v.mu.RLock()
	e := v.cache[fp]
	v.mu.RUnlock()
	if e != nil && now.Before(e.validUntil) {
		if err := checkUsable(e.verified.Key, now); err != nil {
			return Verified{}, err
		}
		v.touch(e.verified.Key.ID, now)
		return e.verified, nil
	}
	// An expired entry is not trusted, but it still records which stored
	// hash this exact key matched. The lookup below uses it to skip PBKDF2
	// when that hash is unchanged.
	var matched *Hashed
	if e != nil {
		matched = &e.matched
	}

	prefix, secret, ok := Parse(presented)
	if !ok {
		v.recordFailure(ctx, "", clientIP)
		return Verified{}, errInvalidKey
	}
	if retry, throttled := v.throttled(ctx, prefix, clientIP); throttled {
		return Verified{}, &problem.Error{Code: problem.CodeRateLimited, RetryAfter: retry,
			Detail: "Too many failed API-key attempts from this address or for this key. Wait before retrying."}
	}

	res, err := v.lookup(ctx, fp, prefix, secret, matched, now)
	if err != nil {
		return Verified{}, err
	}
	if !res.matched {
		v.recordFailure(ctx, prefix, clientIP)
		return Verified{}, errInvalidKey
	}
	if err := checkUsable(res.verified.Key, now); err != nil {
		return Verified{}, err
	}
	v.touch(res.verified.Key.ID, now)
	return res.verified, nil
}

// lookupResult is the outcome of one database lookup and PBKDF2 comparison.
type lookupResult struct {
	verified Verified
	matched  bool
}

// lookupTimeout bounds a shared lookup, which no single caller's context
// may cancel.
const lookupTimeout = 10 * time.Second

// lookup finds the key by its prefix and compares the secret. Concurrent
// requests that present the same uncached key share one lookup, so a burst
// on a cold cache costs one PBKDF2 run rather than one per request. When
// matched is the stored hash this presented key was verified against
// before, and the row still holds it, the secret still matches and PBKDF2 is
// skipped: a busy key's cache entry then expires into one database read
// instead of a stall of every request behind PBKDF2. A rotation changes
// the stored hash, so a new secret is always derived. A matching key is
// cached before the callers return.
func (v *Verifier) lookup(ctx context.Context, fp [32]byte, prefix, secret string, matched *Hashed, now time.Time) (lookupResult, error) {
	ch := v.flight.DoChan(string(fp[:]), func() (any, error) {
		if v.onLookup != nil {
			v.onLookup()
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lookupTimeout)
		defer cancel()
		stored, err := findByPrefix(ctx, v.pool, prefix, now)
		if errors.Is(err, ErrNotFound) {
			return lookupResult{}, nil
		}
		if err != nil {
			return nil, problem.Wrap(err, "verify api key")
		}
		prevValid := stored.PreviousUntil != nil && now.Before(*stored.PreviousUntil)
		derive := func(h Hashed) bool {
			if v.onDerive != nil {
				v.onDerive()
			}
			return h.Matches(secret)
		}
		var hit Hashed
		previous := false
		switch {
		case matched != nil && sameHash(*matched, stored.Current):
			hit = stored.Current
		case matched != nil && prevValid && sameHash(*matched, stored.Previous):
			hit, previous = stored.Previous, true
		case derive(stored.Current):
			hit = stored.Current
		case prevValid && derive(stored.Previous):
			hit, previous = stored.Previous, true
		default:
			return lookupResult{}, nil
		}
		validUntil := now.Add(v.opts.CacheTTL)
		if previous && stored.PreviousUntil.Before(validUntil) {
			validUntil = *stored.PreviousUntil
		}
		verified := Verified{Key: stored.Key, Principal: &request.Principal{
			Kind:               request.KindAPIKey,
			ID:                 stored.ID,
			TenantID:           stored.TenantID,
			TenantType:         request.TenantType(stored.TenantType),
			Scopes:             stored.Scopes,
			RateLimitPerMinute: valueOr(stored.RateLimitPerMinute, stored.TenantPerMinute),
			RateLimitPerHour:   valueOr(stored.RateLimitPerHour, stored.TenantPerHour),
			AllowedIPs:         stored.AllowedIPs,
			ExpiresAt:          stored.ExpiresAt,
		}}
		// A revoked or expired key is not cached, so extending its expiry
		// takes effect on the next request.
		if checkUsable(stored.Key, now) == nil {
			v.store(fp, verified, hit, validUntil)
		}
		return lookupResult{verified: verified, matched: true}, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return lookupResult{}, r.Err
		}
		return r.Val.(lookupResult), nil
	case <-ctx.Done():
		return lookupResult{}, problem.Wrap(ctx.Err(), "verify api key")
	}
}

func valueOr(p *int, fallback int) int {
	if p != nil {
		return *p
	}
	return fallback
}

func checkUsable(k Key, now time.Time) error {
	if k.RevokedAt != nil {
		return errInvalidKey
	}
	if k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return problem.New(problem.CodeUnauthenticated, "The API key expired at %s. Create a new key or extend this one's expires_at.", k.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// sameHash reports whether a and b are the same stored hash: same salt,
// iterations and derived bytes.
func sameHash(a, b Hashed) bool {
	return len(a.Hash) > 0 && a.Iterations == b.Iterations &&
		subtle.ConstantTimeCompare(a.Salt, b.Salt) == 1 && subtle.ConstantTimeCompare(a.Hash, b.Hash) == 1
}

func (v *Verifier) store(fp [32]byte, verified Verified, matched Hashed, until time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.cache) >= maxCacheEntries {
		for k, e := range v.cache {
			delete(v.cache, k)
			delete(v.byKey[e.verified.Key.ID], k)
			if len(v.cache) < maxCacheEntries*9/10 {
				break
			}
		}
	}
	keyJSON, _ := json.Marshal(verified.Key)
	v.cache[fp] = &cacheEntry{verified: verified, validUntil: until, matched: matched, keyJSON: keyJSON}
	set := v.byKey[verified.Key.ID]
	if set == nil {
		set = map[[32]byte]struct{}{}
		v.byKey[verified.Key.ID] = set
	}
	set[fp] = struct{}{}
}

// Cached returns the metadata of a key this instance has verified and still caches.
func (v *Verifier) Cached(_ context.Context, keyID string) (Key, bool) {
	e := v.entry(keyID)
	if e == nil {
		return Key{}, false
	}
	return e.verified.Key, true
}

// CachedJSON is Cached with the key already encoded as JSON.
func (v *Verifier) CachedJSON(_ context.Context, keyID string) ([]byte, bool) {
	e := v.entry(keyID)
	if e == nil {
		return nil, false
	}
	return e.keyJSON, true
}

func (v *Verifier) entry(keyID string) *cacheEntry {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for fp := range v.byKey[keyID] {
		if e := v.cache[fp]; e != nil {
			return e
		}
	}
	return nil
}

// Evict drops this instance's cached verifications of a key.
func (v *Verifier) Evict(keyID string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for fp := range v.byKey[keyID] {
		delete(v.cache, fp)
	}
	delete(v.byKey, keyID)
}

// Invalidate evicts a key here and publishes its id so every other instance
// evicts it too. Call it after the transaction that revoked or rotated the key commits.
func (v *Verifier) Invalidate(ctx context.Context, keyID string) {
	v.Evict(keyID)
	if err := v.rdb.Publish(ctx, v.channel(), keyID).Err(); err != nil {
		// Other instances then drop the entry when its TTL ends.
		v.opts.Logger.WarnContext(ctx, "publish api key invalidation failed", "key_id", keyID, "error", err)
	}
}

// Run receives invalidations from other instances and writes last_used_at
// every flushEvery, until ctx ends.
func (v *Verifier) Run(ctx context.Context, flushEvery time.Duration) {
	sub := v.rdb.Subscribe(ctx, v.channel())
	defer sub.Close()
	messages := sub.Channel()
	ticker := time.NewTicker(flushEvery)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v.FlushLastUsed(flushCtx)
			cancel()
			return
		case m, ok := <-messages:
			if ok {
				v.Evict(m.Payload)
			}
		case <-ticker.C:
			v.FlushLastUsed(ctx)
		}
	}
}

func (v *Verifier) touch(keyID string, at time.Time) {
	v.touchMu.Lock()
	if at.After(v.touched[keyID]) {
		v.touched[keyID] = at
	}
	v.touchMu.Unlock()
}

// FlushLastUsed writes the buffered last-use times in one statement, so
// last_used_at trails real use by at most the flush interval.
func (v *Verifier) FlushLastUsed(ctx context.Context) {
	v.touchMu.Lock()
	pending := v.touched
	v.touched = map[string]time.Time{}
	v.touchMu.Unlock()
	if len(pending) == 0 {
		return
	}
	keys := make([]string, 0, len(pending))
	times := make([]time.Time, 0, len(pending))
	for k, t := range pending {
		keys = append(keys, k)
		times = append(times, t)
	}
	if _, err := v.pool.Exec(ctx, `SELECT auth_touch_api_keys($1, $2)`, keys, times); err != nil {
		v.opts.Logger.WarnContext(ctx, "write api key last_used_at failed", "keys", len(keys), "error", err)
		v.touchMu.Lock()
		for k, t := range pending {
			if t.After(v.touched[k]) {
				v.touched[k] = t
			}
		}
		v.touchMu.Unlock()
	}
}

func (v *Verifier) failureKeys(prefix, clientIP string) []string {
	var keys []string
	if prefix != "" {
		keys = append(keys, v.opts.RedisPrefix+"authfail:prefix:"+prefix)
	}
	if clientIP != "" {
		keys = append(keys, v.opts.RedisPrefix+"authfail:ip:"+clientIP)
	}
	return keys
}

// throttled reports whether the prefix or the address has used up its failed
// attempts. It is checked before PBKDF2 runs, so a flood of wrong keys costs a
// Redis read each, not a hash. A valid key that is already cached is never
// throttled, so guessing at a prefix cannot lock its owner out.
func (v *Verifier) throttled(ctx context.Context, prefix, clientIP string) (time.Duration, bool) {
	keys := v.failureKeys(prefix, clientIP)
	counts, err := v.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return v.localThrottled(keys)
	}
	for i, c := range counts {
		s, _ := c.(string)
		var n int
		_, _ = fmt.Sscan(s, &n)
		if n >= v.opts.FailureLimit {
			ttl, err := v.rdb.PTTL(ctx, keys[i]).Result()
			if err != nil || ttl <= 0 {
				ttl = failureWindow
			}
			return ttl, true
		}
	}
	return 0, false
}

func (v *Verifier) recordFailure(ctx context.Context, prefix, clientIP string) {
	keys := v.failureKeys(prefix, clientIP)
	_, err := v.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Incr(ctx, k)
			p.ExpireNX(ctx, k, failureWindow)
		}
		return nil
	})
	if err != nil {
		v.localRecord(keys)
	}
}

// localThrottled and localRecord keep the throttle per instance while Redis
// is unreachable.
func (v *Verifier) localThrottled(keys []string) (time.Duration, bool) {
	now := v.opts.Now()
	v.failMu.Lock()
	defer v.failMu.Unlock()
	for _, k := range keys {
		if c := v.localFails[k]; c != nil && now.Before(c.until) && c.count >= v.opts.FailureLimit {
			return c.until.Sub(now), true
		}
	}
	return 0, false
}

func (v *Verifier) localRecord(keys []string) {
	now := v.opts.Now()
	v.failMu.Lock()
	defer v.failMu.Unlock()
	if len(v.localFails) > maxCacheEntries {
		v.localFails = map[string]*localCounter{}
	}
	for _, k := range keys {
		c := v.localFails[k]
		if c == nil || !now.Before(c.until) {
			c = &localCounter{until: now.Add(failureWindow)}
			v.localFails[k] = c
		}
		c.count++
	}
}

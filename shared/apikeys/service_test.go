package apikeys_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/infra/redis/redistest"
	"github.com/booga-enterprise/functions/shared/apikeys"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
	"github.com/booga-enterprise/functions/shared/tenancy"
)

var capabilities = []string{"api_keys:manage", "api_keys:read", "files:read", "files:write"}

type fixture struct {
	pool     *pgxpool.Pool
	keys     *apikeys.Service
	verifier *apikeys.Verifier
	now      time.Time
}

func (f *fixture) clock() time.Time { return f.now }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool, _ := pgtest.NewPool(t)
	rdb, prefix := redistest.New(t)
	f := &fixture{pool: pool, now: time.Now().UTC()}
	f.keys = &apikeys.Service{Iterations: 1000, RotationGrace: time.Hour, Now: f.clock,
		Capabilities: func() []string { return capabilities }}
	f.verifier = apikeys.NewVerifier(pool, rdb, apikeys.VerifierOptions{
		CacheTTL: time.Minute, FailureLimit: 5, RedisPrefix: prefix, Now: f.clock})
	return f
}

// tenant creates a corporate tenant and returns its admin key and principal.
func (f *fixture) tenant(t *testing.T, name string) (tenancy.Created, *request.Principal) {
	t.Helper()
	created, err := tenancy.Create(context.Background(), f.pool, f.keys,
		tenancy.CreateRequest{Name: name, Type: request.Corporate, RateLimitPerMinute: 60, RateLimitPerHour: 1000})
	require.NoError(t, err)
	v, err := f.verifier.Verify(context.Background(), created.APIKey, "127.0.0.1")
	require.NoError(t, err)
	return created, v.Principal
}

func (f *fixture) inTenant(t *testing.T, tenantID string, fn func(pgx.Tx) error) error {
	t.Helper()
	return postgres.InTenant(context.Background(), f.pool, tenantID, fn)
}

func problemCode(err error) problem.Code {
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestService_CreateAndVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.tenant(t, "Acme")
	require.ElementsMatch(t, capabilities, admin.Scopes)

	var issued apikeys.IssuedKey
	err := f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		var err error
		issued, err = f.keys.Create(context.Background(), tx, admin, apikeys.CreateRequest{
			Name: "reader", Scopes: []string{"files:read"}, AllowedIPs: []string{"10.0.0.1", "2001:db8::/32"}})
		return err
	})
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.1/32", "2001:db8::/32"}, issued.AllowedIPs)
	require.Equal(t, apikeys.StatusActive, issued.Status)

	v, err := f.verifier.Verify(context.Background(), issued.APIKey, "10.0.0.1")
	require.NoError(t, err)
	require.Equal(t, issued.ID, v.Principal.ID)
	require.Equal(t, []string{"files:read"}, v.Principal.Scopes)
	require.Equal(t, 60, v.Principal.RateLimitPerMinute, "tenant default applies")

	var secretHash []byte
	err = f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT secret_hash FROM api_keys WHERE id = $1`, issued.ID).Scan(&secretHash)
	})
	require.NoError(t, err)
	require.NotContains(t, string(secretHash), issued.APIKey[16:], "only the hash is stored")
}

func TestService_CreateRejectsScopesCallerLacks(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.tenant(t, "Acme")
	var reader apikeys.IssuedKey
	require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		var err error
		reader, err = f.keys.Create(context.Background(), tx, admin, apikeys.CreateRequest{Name: "r", Scopes: []string{"files:read", "api_keys:manage"}})
		return err
	}))
	v, err := f.verifier.Verify(context.Background(), reader.APIKey, "")
	require.NoError(t, err)

	err = f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		_, err := f.keys.Create(context.Background(), tx, v.Principal, apikeys.CreateRequest{Name: "w", Scopes: []string{"files:write"}})
		return err
	})
	require.Equal(t, problem.CodeForbidden, problemCode(err))

	err = f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		_, err := f.keys.Update(context.Background(), tx, v.Principal, reader.ID,
			apikeys.UpdateRequest{Scopes: apikeys.Optional[[]string]{Set: true, Value: []string{"files:read", "files:write"}}})
		return err
	})
	require.Equal(t, problem.CodeForbidden, problemCode(err), "a key cannot widen itself")
}

func TestService_CreateValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.tenant(t, "Acme")
	past := f.now.Add(-time.Hour)
	zero := 0
	cases := map[string]struct {
		req   apikeys.CreateRequest
		field string
	}{
		"MissingName":  {apikeys.CreateRequest{Scopes: []string{"files:read"}}, "name"},
		"NoScopes":     {apikeys.CreateRequest{Name: "x"}, "scopes"},
		"UnknownScope": {apikeys.CreateRequest{Name: "x", Scopes: []string{"files:read", "files:fly"}}, "scopes[1]"},
		"BadCIDR":      {apikeys.CreateRequest{Name: "x", Scopes: []string{"files:read"}, AllowedIPs: []string{"10.0.0.0/33"}}, "allowed_ips[0]"},
		"ZeroLimit":    {apikeys.CreateRequest{Name: "x", Scopes: []string{"files:read"}, RateLimitPerMinute: &zero}, "rate_limit_per_minute"},
		"PastExpiry":   {apikeys.CreateRequest{Name: "x", Scopes: []string{"files:read"}, ExpiresAt: &past}, "expires_at"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
				_, err := f.keys.Create(context.Background(), tx, admin, tc.req)
				return err
			})
			var pe *problem.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, problem.CodeInvalid, pe.Code)
			require.Equal(t, tc.field, pe.Fields[0].Field)
		})
	}
}

func TestService_OtherTenantIsNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	acme, acmeAdmin := f.tenant(t, "Acme")
	_, globexAdmin := f.tenant(t, "Globex")

	err := f.inTenant(t, globexAdmin.TenantID, func(tx pgx.Tx) error {
		_, err := f.keys.Get(context.Background(), tx, globexAdmin.TenantID, acme.KeyID)
		return err
	})
	require.Equal(t, problem.CodeNotFound, problemCode(err))

	err = f.inTenant(t, globexAdmin.TenantID, func(tx pgx.Tx) error {
		_, err := f.keys.Revoke(context.Background(), tx, globexAdmin.TenantID, acme.KeyID)
		return err
	})
	require.Equal(t, problem.CodeNotFound, problemCode(err))

	_, err = f.verifier.Verify(context.Background(), acme.APIKey, "")
	require.NoError(t, err, "the other tenant's revoke attempt changed nothing")

	var count int
	require.NoError(t, f.inTenant(t, acmeAdmin.TenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM api_keys WHERE revoked_at IS NULL`).Scan(&count)
	}))
	require.Equal(t, 1, count)
}

// A query that omits its tenant filter still sees only the tenant set on
// the transaction, because row-level security applies to the app role.
func TestRowLevelSecurity_ForgottenFilter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, acme := f.tenant(t, "Acme")
	_, globex := f.tenant(t, "Globex")

	for _, p := range []*request.Principal{acme, globex} {
		var tenants, keys int
		err := f.inTenant(t, p.TenantID, func(tx pgx.Tx) error {
			if err := tx.QueryRow(context.Background(), `SELECT count(*) FROM tenants`).Scan(&tenants); err != nil {
				return err
			}
			return tx.QueryRow(context.Background(), `SELECT count(*) FROM api_keys`).Scan(&keys)
		})
		require.NoError(t, err)
		require.Equal(t, 1, tenants)
		require.Equal(t, 1, keys)
	}

	var keys int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM api_keys`).Scan(&keys))
	require.Zero(t, keys, "without a tenant the app role sees no rows")

	err := f.inTenant(t, acme.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `UPDATE api_keys SET name = 'stolen' WHERE tenant_id = $1`, globex.TenantID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(context.Background(),
			`INSERT INTO users (id, tenant_id, email) VALUES ('usr_x', $1, 'x@example.com')`, globex.TenantID)
		return err
	})
	require.Error(t, err, "writing another tenant's row violates the policy")

	var rolbypass bool
	require.NoError(t, f.pool.QueryRow(context.Background(),
		`SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&rolbypass))
	require.False(t, rolbypass)
}

func TestVerifier_RotateKeepsOldSecretForGrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	created, admin := f.tenant(t, "Acme")

	var rotated apikeys.IssuedKey
	require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		var err error
		rotated, err = f.keys.Rotate(context.Background(), tx, admin.TenantID, created.KeyID)
		return err
	}))
	f.verifier.Evict(created.KeyID)
	require.NotEqual(t, created.APIKey, rotated.APIKey)
	require.NotNil(t, rotated.PreviousSecretExpiresAt)

	_, err := f.verifier.Verify(context.Background(), rotated.APIKey, "")
	require.NoError(t, err)
	_, err = f.verifier.Verify(context.Background(), created.APIKey, "")
	require.NoError(t, err, "the old secret works during the grace period")

	f.now = f.now.Add(time.Hour + time.Second)
	_, err = f.verifier.Verify(context.Background(), created.APIKey, "")
	require.Equal(t, problem.CodeUnauthenticated, problemCode(err), "the cached old secret ends with the grace period")
	_, err = f.verifier.Verify(context.Background(), rotated.APIKey, "")
	require.NoError(t, err)
}

func TestVerifier_RevokeTakesEffectAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	created, admin := f.tenant(t, "Acme")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// A second instance, with its own cache, shares Redis with the first.
	rdb, prefix := redistest.New(t)
	f.verifier = apikeys.NewVerifier(f.pool, rdb, apikeys.VerifierOptions{CacheTTL: time.Hour, RedisPrefix: prefix, Now: f.clock})
	other := apikeys.NewVerifier(f.pool, rdb, apikeys.VerifierOptions{CacheTTL: time.Hour, RedisPrefix: prefix, Now: f.clock})
	go other.Run(ctx, time.Minute)
	require.Eventually(t, func() bool {
		n, err := rdb.PubSubNumSub(ctx, prefix+"apikeys:invalidate").Result()
		return err == nil && n[prefix+"apikeys:invalidate"] == 1
	}, 5*time.Second, 10*time.Millisecond)

	_, err := f.verifier.Verify(ctx, created.APIKey, "")
	require.NoError(t, err)
	_, err = other.Verify(ctx, created.APIKey, "")
	require.NoError(t, err)
	_, cached := other.Cached(ctx, created.KeyID)
	require.True(t, cached)

	require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		_, err := f.keys.Revoke(ctx, tx, admin.TenantID, created.KeyID)
		return err
	}))
	f.verifier.Invalidate(ctx, created.KeyID)
	_, err = f.verifier.Verify(ctx, created.APIKey, "")
	require.Equal(t, problem.CodeUnauthenticated, problemCode(err))

	require.Eventually(t, func() bool {
		_, cached := other.Cached(ctx, created.KeyID)
		return !cached
	}, 5*time.Second, 10*time.Millisecond, "the other instance evicts the key")
	_, err = other.Verify(ctx, created.APIKey, "")
	require.Equal(t, problem.CodeUnauthenticated, problemCode(err))
}

func TestVerifier_ThrottlesFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	created, _ := f.tenant(t, "Acme")
	prefix, _, _ := apikeys.Parse(created.APIKey)
	wrong := "bk_" + prefix + "_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

	for i := 0; i < 5; i++ {
		_, err := f.verifier.Verify(context.Background(), wrong, "192.0.2.1")
		require.Equal(t, problem.CodeUnauthenticated, problemCode(err))
	}
	_, err := f.verifier.Verify(context.Background(), wrong, "192.0.2.9")
	require.Equal(t, problem.CodeRateLimited, problemCode(err), "the prefix is throttled from any address")

	_, err = f.verifier.Verify(context.Background(), created.APIKey, "192.0.2.1")
	require.NoError(t, err, "the owner's key was cached before the attack and still works")
}

func TestService_ListPaginates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.tenant(t, "Acme")
	for i := 0; i < 4; i++ {
		require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
			_, err := f.keys.Create(context.Background(), tx, admin, apikeys.CreateRequest{Name: "k", Scopes: []string{"files:read"}})
			return err
		}))
	}
	var seen []string
	page := httpx.PageRequest{Limit: 2}
	for {
		var got httpx.Page[apikeys.Key]
		require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
			var err error
			got, err = f.keys.List(context.Background(), tx, admin.TenantID, page)
			return err
		}))
		for _, k := range got.Data {
			seen = append(seen, k.ID)
		}
		if !got.HasMore {
			break
		}
		page.After = got.Data[len(got.Data)-1].ID
	}
	require.Len(t, seen, 5, "four keys plus the admin key, each once")
}

// benchVerifier creates a corporate tenant whose admin key has the default
// iteration count, and a verifier with opts on fresh PostgreSQL and Redis.
func benchVerifier(b *testing.B, opts apikeys.VerifierOptions) (*apikeys.Verifier, tenancy.Created) {
	b.Helper()
	pool, _ := pgtest.NewPool(b)
	rdb, prefix := redistest.New(b)
	keys := &apikeys.Service{Iterations: apikeys.DefaultIterations, RotationGrace: time.Hour,
		Capabilities: func() []string { return capabilities }}
	created, err := tenancy.Create(context.Background(), pool, keys,
		tenancy.CreateRequest{Name: "Bench", Type: request.Corporate, RateLimitPerMinute: 60, RateLimitPerHour: 1000})
	require.NoError(b, err)
	opts.RedisPrefix = prefix
	return apikeys.NewVerifier(pool, rdb, opts), created
}

// BenchmarkVerifier_Cached measures the cost a cached key adds to a request.
func BenchmarkVerifier_Cached(b *testing.B) {
	v, created := benchVerifier(b, apikeys.VerifierOptions{CacheTTL: time.Hour})
	_, err := v.Verify(context.Background(), created.APIKey, "127.0.0.1")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), created.APIKey, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifier_Expired measures a verification whose cache entry has
// expired while the stored hash is unchanged: a database read, no PBKDF2.
func BenchmarkVerifier_Expired(b *testing.B) {
	now := time.Now()
	v, created := benchVerifier(b, apikeys.VerifierOptions{CacheTTL: time.Second, Now: func() time.Time { return now }})
	_, err := v.Verify(context.Background(), created.APIKey, "127.0.0.1")
	require.NoError(b, err)
	for b.Loop() {
		now = now.Add(2 * time.Second)
		if _, err := v.Verify(context.Background(), created.APIKey, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifier_Cold measures a verification that misses the cache:
// the database look-up and PBKDF2 at the default iteration count.
func BenchmarkVerifier_Cold(b *testing.B) {
	v, created := benchVerifier(b, apikeys.VerifierOptions{CacheTTL: time.Hour})
	for b.Loop() {
		v.Evict(created.KeyID)
		if _, err := v.Verify(context.Background(), created.APIKey, "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestVerifier_FlushLastUsed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	created, admin := f.tenant(t, "Acme")
	readLastUsed := func() *time.Time {
		var at *time.Time
		require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
			return tx.QueryRow(context.Background(), `SELECT last_used_at FROM api_keys WHERE id = $1`, created.KeyID).Scan(&at)
		}))
		return at
	}
	f.verifier.FlushLastUsed(context.Background())
	first := readLastUsed()
	require.NotNil(t, first, "the verification in tenant() was recorded")

	f.now = f.now.Add(time.Minute)
	_, err := f.verifier.Verify(context.Background(), created.APIKey, "")
	require.NoError(t, err)
	require.True(t, readLastUsed().Equal(*first), "nothing is written until the flush")
	f.verifier.FlushLastUsed(context.Background())
	require.WithinDuration(t, f.now, *readLastUsed(), time.Millisecond)
}

// TestVerifier_ConcurrentColdRequestsShareOneLookup shows that a burst of
// requests with the same uncached key costs one PBKDF2 run: the first lookup
// is held until every caller is waiting, then released.
func TestVerifier_ConcurrentColdRequestsShareOneLookup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	created, _ := f.tenant(t, "Acme")
	f.verifier.Evict(created.KeyID)

	var lookups atomic.Int64
	release := make(chan struct{})
	apikeys.SetLookupHook(f.verifier, func() {
		lookups.Add(1)
		<-release
	})
	const callers = 20
	var started, wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			v, err := f.verifier.Verify(context.Background(), created.APIKey, "192.0.2.1")
			if err == nil && v.Principal.ID != created.KeyID {
				err = fmt.Errorf("verified as %s, want %s", v.Principal.ID, created.KeyID)
			}
			errs <- err
		}()
	}
	started.Wait()
	require.Eventually(t, func() bool { return lookups.Load() >= 1 }, 5*time.Second, time.Millisecond)
	// The callers still on their way to the lookup get there long before
	// this; none of them can finish while the first lookup is held.
	time.Sleep(200 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), lookups.Load(), "one lookup for the whole burst")
}

// TestVerifier_ExpiredEntryRevalidatesWithoutPBKDF2 shows that a cached key
// whose entry expired is checked against its row again without deriving
// the secret while the stored hash is unchanged, and that the row's
// changes still take effect: new metadata, revocation, rotation.
func TestVerifier_ExpiredEntryRevalidatesWithoutPBKDF2(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, admin := f.tenant(t, "Acme")
	ctx := context.Background()
	var derived atomic.Int64
	apikeys.SetDeriveHook(f.verifier, func() { derived.Add(1) })
	expire := func() { f.now = f.now.Add(2 * time.Minute) } // past the one-minute cache

	var reader apikeys.IssuedKey
	require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		var err error
		reader, err = f.keys.Create(ctx, tx, admin, apikeys.CreateRequest{Name: "reader", Scopes: []string{"files:read"}})
		return err
	}))
	_, err := f.verifier.Verify(ctx, reader.APIKey, "")
	require.NoError(t, err)
	require.Equal(t, int64(1), derived.Load(), "the first verification derives")

	// Changed without an invalidation, as if the message were lost.
	require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		_, err := f.keys.Update(ctx, tx, admin, reader.ID, apikeys.UpdateRequest{
			Scopes: apikeys.Optional[[]string]{Set: true, Value: []string{"files:read", "files:write"}}})
		return err
	}))
	expire()
	v, err := f.verifier.Verify(ctx, reader.APIKey, "")
	require.NoError(t, err)
	require.Equal(t, []string{"files:read", "files:write"}, v.Principal.Scopes, "the row's new scopes apply")
	require.Equal(t, int64(1), derived.Load(), "an unchanged hash needs no derivation")

	_, err = f.verifier.Verify(ctx, reader.APIKey+"x", "")
	require.Equal(t, problem.CodeUnauthenticated, problemCode(err), "another string is not the cached key")

	var rotated apikeys.IssuedKey
	require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		var err error
		rotated, err = f.keys.Rotate(ctx, tx, admin.TenantID, reader.ID)
		return err
	}))
	expire()
	derived.Store(0)
	_, err = f.verifier.Verify(ctx, reader.APIKey, "")
	require.NoError(t, err, "the old secret stays valid for the grace period")
	require.Zero(t, derived.Load(), "its hash moved to the previous slot unchanged")
	_, err = f.verifier.Verify(ctx, rotated.APIKey, "")
	require.NoError(t, err)
	require.Equal(t, int64(1), derived.Load(), "the new secret is derived")

	require.NoError(t, f.inTenant(t, admin.TenantID, func(tx pgx.Tx) error {
		_, err := f.keys.Revoke(ctx, tx, admin.TenantID, reader.ID)
		return err
	}))
	expire()
	_, err = f.verifier.Verify(ctx, rotated.APIKey, "")
	require.Equal(t, problem.CodeUnauthenticated, problemCode(err), "a revoked row ends the cached key")
}

package azure

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
)

const postgresResource = "https://ossrdbms-aad.database.windows.net"

// newTestCache returns a PostgreSQL token cache over a local identity
// endpoint. Tokens live four minutes on the real clock, inside the five
// minutes in which MSAL treats a cached token as expired, so every refresh
// the cache requests reaches the endpoint. The test clock starts ten minutes
// behind the real one, which gives each token fourteen minutes of test time.
func newTestCache(t *testing.T) (*TokenCache, *identityServer, *clock) {
	t.Helper()
	ids := startIdentityServer(t, 4*time.Minute)
	cred, err := NewCredential(CredentialOptions{ClientID: ids.clientID})
	require.NoError(t, err)
	clk := &clock{now: time.Now().Add(-10 * time.Minute)}
	return NewTokenCache(cred, PostgresScope, TokenCacheOptions{Now: clk.Now}), ids, clk
}

func TestTokenCache_Token(t *testing.T) {
	t.Run("CachedUntilRefreshWindow", func(t *testing.T) {
		cache, ids, clk := newTestCache(t)
		ctx := context.Background()

		first, err := cache.Token(ctx)
		require.NoError(t, err)
		clk.Advance(8 * time.Minute) // six minutes left: still outside the five-minute window
		second, err := cache.Token(ctx)
		require.NoError(t, err)

		require.Equal(t, first, second)
		require.Equal(t, 1, ids.count(postgresResource))
	})

	t.Run("RefreshedBeforeExpiry", func(t *testing.T) {
		cache, ids, clk := newTestCache(t)
		ctx := context.Background()

		first, err := cache.Token(ctx)
		require.NoError(t, err)
		clk.Advance(10 * time.Minute) // four minutes left: inside the window
		second, err := cache.Token(ctx)
		require.NoError(t, err)

		require.Equal(t, "token-1-for-"+postgresResource, first)
		require.Equal(t, "token-2-for-"+postgresResource, second)
		require.Equal(t, 2, ids.count(postgresResource))
	})

	t.Run("FailureNamesScopeAndIsNotCached", func(t *testing.T) {
		cache, ids, _ := newTestCache(t)
		ctx := context.Background()

		ids.setReject(true)
		_, err := cache.Token(ctx)
		require.ErrorContains(t, err, PostgresScope)

		ids.setReject(false)
		tok, err := cache.Token(ctx)
		require.NoError(t, err)
		require.Equal(t, "token-1-for-"+postgresResource, tok)
	})

	t.Run("ConcurrentCallersShareOneFetch", func(t *testing.T) {
		cache, ids, _ := newTestCache(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				_, err := cache.Token(context.Background())
				errs <- err
			})
		}
		wg.Wait()
		close(errs)

		for err := range errs {
			require.NoError(t, err)
		}
		require.Equal(t, 1, ids.count(postgresResource))
	})
}

func TestTokenCache_PostgresBeforeConnect(t *testing.T) {
	t.Run("SetsTokenAsPassword", func(t *testing.T) {
		cache, _, clk := newTestCache(t)
		cfg, err := pgx.ParseConfig("postgres://id-booga-dev@127.0.0.1:5432/booga?sslmode=disable")
		require.NoError(t, err)

		require.NoError(t, cache.PostgresBeforeConnect(context.Background(), cfg))
		require.Equal(t, "token-1-for-"+postgresResource, cfg.Password)

		clk.Advance(10 * time.Minute)
		require.NoError(t, cache.PostgresBeforeConnect(context.Background(), cfg))
		require.Equal(t, "token-2-for-"+postgresResource, cfg.Password)
	})

	t.Run("FailureStopsConnect", func(t *testing.T) {
		cache, ids, _ := newTestCache(t)
		ids.setReject(true)
		cfg, err := pgx.ParseConfig("postgres://id-booga-dev@127.0.0.1:5432/booga?sslmode=disable")
		require.NoError(t, err)

		err = cache.PostgresBeforeConnect(context.Background(), cfg)

		require.ErrorContains(t, err, "id-booga-dev")
		require.Empty(t, cfg.Password)
	})

	// The local server trusts loopback connections, so this proves the hook's
	// place in a real pool, not that PostgreSQL checked the token.
	t.Run("EveryPoolConnectionGetsToken", func(t *testing.T) {
		cache, ids, _ := newTestCache(t)
		url := pgtest.NewDatabase(t)
		ctx := context.Background()

		var mu sync.Mutex
		var passwords []string
		hook := func(ctx context.Context, cfg *pgx.ConnConfig) error {
			err := cache.PostgresBeforeConnect(ctx, cfg)
			mu.Lock()
			passwords = append(passwords, cfg.Password)
			mu.Unlock()
			return err
		}
		pool, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2, BeforeConnect: hook})
		require.NoError(t, err)
		defer pool.Close()

		a, err := pool.Acquire(ctx)
		require.NoError(t, err)
		b, err := pool.Acquire(ctx)
		require.NoError(t, err)
		a.Release()
		b.Release()

		require.Equal(t, []string{"token-1-for-" + postgresResource, "token-1-for-" + postgresResource}, passwords)
		require.Equal(t, 1, ids.count(postgresResource))
	})
}

package azure

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

const redisResource = "https://redis.azure.com"

func redisAddr() string { return "127.0.0.1:6379" }

// createRedisUser adds an ACL user on the local Redis whose password is the
// next token the identity endpoint issues, the way Azure Redis accepts an
// Entra token as the password of the identity's object id.
func createRedisUser(t *testing.T, admin *redis.Client, user, password string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", user, "reset", "on", ">"+password, "+ping", "+hello", "+auth").Err())
	t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", user) })
}

func TestUseRedisEntra(t *testing.T) {
	t.Run("SignsInWithRefreshedToken", func(t *testing.T) {
		ids := startIdentityServer(t, 4*time.Minute)
		cred, err := NewCredential(CredentialOptions{ClientID: ids.clientID})
		require.NoError(t, err)
		clk := &clock{now: time.Now().Add(-30 * time.Minute)}
		tokens := NewTokenCache(cred, RedisScope, TokenCacheOptions{RefreshBefore: RedisConnMaxLifetime + DefaultRefreshBefore, Now: clk.Now})

		admin := redis.NewClient(&redis.Options{Addr: redisAddr()})
		defer admin.Close()
		user := "azure-test-" + uuid.NewString()
		createRedisUser(t, admin, user, "token-1-for-"+redisResource)

		opts, err := redis.ParseURL("redis://" + user + ":stored-password@" + redisAddr())
		require.NoError(t, err)
		require.NoError(t, useRedisTokens(opts, tokens))
		require.Empty(t, opts.Password)
		require.Equal(t, RedisConnMaxLifetime, opts.ConnMaxLifetime)

		first := redis.NewClient(opts)
		defer first.Close()
		require.NoError(t, first.Ping(context.Background()).Err())

		// Rotate the accepted password to the next token, then move the clock
		// into the refresh window so new connections fetch that token.
		createRedisUser(t, admin, user, "token-2-for-"+redisResource)
		clk.Advance(20 * time.Minute)
		second := redis.NewClient(opts)
		defer second.Close()
		require.NoError(t, second.Ping(context.Background()).Err())
		require.Equal(t, 2, ids.count(redisResource))
	})

	t.Run("StaleTokenRejected", func(t *testing.T) {
		ids := startIdentityServer(t, 4*time.Minute)
		cred, err := NewCredential(CredentialOptions{ClientID: ids.clientID})
		require.NoError(t, err)
		clk := &clock{now: time.Now().Add(-30 * time.Minute)}
		tokens := NewTokenCache(cred, RedisScope, TokenCacheOptions{RefreshBefore: 15 * time.Minute, Now: clk.Now})

		admin := redis.NewClient(&redis.Options{Addr: redisAddr()})
		defer admin.Close()
		user := "azure-test-" + uuid.NewString()
		createRedisUser(t, admin, user, "token-2-for-"+redisResource)

		opts, err := redis.ParseURL("redis://" + user + "@" + redisAddr())
		require.NoError(t, err)
		require.NoError(t, useRedisTokens(opts, tokens))
		client := redis.NewClient(opts)
		defer client.Close()

		err = client.Ping(context.Background()).Err()
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), "WRONGPASS"), "error: %v", err)
	})

	t.Run("RejectsURLWithoutUser", func(t *testing.T) {
		t.Parallel()
		opts, err := redis.ParseURL("rediss://cache.example.test:10000")
		require.NoError(t, err)

		err = UseRedisEntra(opts, nil)

		require.ErrorContains(t, err, "no user name")
	})
}

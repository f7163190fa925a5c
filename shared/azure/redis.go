package azure

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/redis/go-redis/v9"
)

// RedisConnMaxLifetime caps how long a Redis connection signed in with a token
// stays open. Azure Redis closes a connection whose token expired unless it
// sends AUTH again, which go-redis does not do for a plain credentials
// provider, so connections are recycled well before their token expires.
const RedisConnMaxLifetime = 10 * time.Minute

// UseRedisEntra changes opts so that every new connection signs in with an
// Entra ID access token for cred as its password. The user name stays the
// one in REDIS_URL, which for Azure Redis is the object (principal) id of
// the managed identity. Tokens are refreshed RedisConnMaxLifetime plus
// DefaultRefreshBefore ahead of expiry, so no connection outlives its token.
func UseRedisEntra(opts *redis.Options, cred azcore.TokenCredential) error {
	tokens := NewTokenCache(cred, RedisScope, TokenCacheOptions{
		RefreshBefore: RedisConnMaxLifetime + DefaultRefreshBefore,
	})
	return useRedisTokens(opts, tokens)
}

func useRedisTokens(opts *redis.Options, tokens *TokenCache) error {
	if opts.Username == "" {
		return errors.New("use Entra ID for Redis: REDIS_URL has no user name; set it to the managed identity's object id, as in rediss://OBJECT_ID@HOST:10000")
	}
	user := opts.Username
	opts.Password = ""
	opts.CredentialsProviderContext = func(ctx context.Context) (string, string, error) {
		tok, err := tokens.Token(ctx)
		if err != nil {
			return "", "", fmt.Errorf("sign in to Redis as %s: %w", user, err)
		}
		return user, tok, nil
	}
	if opts.ConnMaxLifetime == 0 || opts.ConnMaxLifetime > RedisConnMaxLifetime {
		opts.ConnMaxLifetime = RedisConnMaxLifetime
	}
	return nil
}

package azure

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Entra ID scopes of the data planes the platform signs in to with tokens.
const (
	PostgresScope = "https://ossrdbms-aad.database.windows.net/.default"
	RedisScope    = "https://redis.azure.com/.default"
)

// DefaultRefreshBefore is how long before expiry a cached token is replaced.
// It leaves room for a connection opened with the old token to finish its
// handshake, and for one failed refresh to be retried.
const DefaultRefreshBefore = 5 * time.Minute

// TokenCacheOptions configures NewTokenCache.
type TokenCacheOptions struct {
	// RefreshBefore is how long before its expiry a token is replaced;
	// DefaultRefreshBefore when zero.
	RefreshBefore time.Duration

	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// TokenCache stores one access token for one scope and fetches a new one from
// the credential when the cached one is within RefreshBefore of its expiry.
// It is safe for concurrent use; concurrent callers share one fetch.
type TokenCache struct {
	cred          azcore.TokenCredential
	scope         string
	refreshBefore time.Duration
	now           func() time.Time

	mu    sync.Mutex
	token azcore.AccessToken
}

// NewTokenCache returns an empty cache for scope; the first Token call fetches.
func NewTokenCache(cred azcore.TokenCredential, scope string, opts TokenCacheOptions) *TokenCache {
	c := &TokenCache{cred: cred, scope: scope, refreshBefore: opts.RefreshBefore, now: opts.Now}
	if c.refreshBefore <= 0 {
		c.refreshBefore = DefaultRefreshBefore
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// Token returns a token that is valid for at least RefreshBefore more, from
// the cache when it has one.
func (c *TokenCache) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	if c.token.Token != "" && c.now().Add(c.refreshBefore).Before(c.token.ExpiresOn) {
		return c.token.Token, nil
	}
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return "", fmt.Errorf("get Entra ID token for %s: %w", c.scope, err)
	}
	if tok.Token == "" {
		return "", fmt.Errorf("get Entra ID token for %s: the credential returned an empty token", c.scope)
	}
	c.token = tok
	return tok.Token, nil
}

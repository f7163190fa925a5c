package azure

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/jackc/pgx/v5"
)

// PostgresBeforeConnect returns a pgxpool BeforeConnect hook (see
// postgres.Options) that sets an Entra ID access token for cred as the
// password of every new connection. Tokens are cached and replaced
// DefaultRefreshBefore ahead of expiry. PostgreSQL checks the token only when
// a connection opens, so open connections outlive it unharmed.
func PostgresBeforeConnect(cred azcore.TokenCredential) func(context.Context, *pgx.ConnConfig) error {
	return NewTokenCache(cred, PostgresScope, TokenCacheOptions{}).PostgresBeforeConnect
}

// PostgresBeforeConnect sets a current token from c as cfg's password.
func (c *TokenCache) PostgresBeforeConnect(ctx context.Context, cfg *pgx.ConnConfig) error {
	tok, err := c.Token(ctx)
	if err != nil {
		return fmt.Errorf("set PostgreSQL password for user %s: %w", cfg.User, err)
	}
	cfg.Password = tok
	return nil
}

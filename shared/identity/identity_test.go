package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/shared/identity"
	"github.com/booga-enterprise/functions/shared/identity/oidctest"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

const audience = "api://identity-test"

// seed makes a tenant linked to directory "dir-1" with one user holding the
// viewer role and returns the tenant id.
func seed(tb testing.TB, pool *pgxpool.Pool) string {
	tb.Helper()
	ctx := context.Background()
	tenantID := "ten_01jd8x3k6m4v0q9s7t2w5y8z1a"
	require.NoError(tb, postgres.InTenant(ctx, pool, tenantID, func(tx pgx.Tx) error {
		for _, sql := range []string{
			`INSERT INTO tenants (id, name, type, rate_limit_per_minute, rate_limit_per_hour, entra_tenant_id) VALUES ($1, 'T', 'corporate', 60, 600, 'dir-1')`,
			`INSERT INTO users (id, tenant_id, email, status, external_id) VALUES ('usr_01jd8x3k6m4v0q9s7t2w5y8z1a', $1, 'ada@t.test', 'active', 'oid-ada')`,
			`INSERT INTO org_units (id, tenant_id, name, path, depth) VALUES ('ou_01jd8x3k6m4v0q9s7t2w5y8z1a', $1, 'Root', '/ou_01jd8x3k6m4v0q9s7t2w5y8z1a/', 0)`,
			`INSERT INTO memberships (tenant_id, user_id, unit_id, role_id) VALUES ($1, 'usr_01jd8x3k6m4v0q9s7t2w5y8z1a', 'ou_01jd8x3k6m4v0q9s7t2w5y8z1a', 'viewer')`,
		} {
			if _, err := tx.Exec(ctx, sql, tenantID); err != nil {
				return err
			}
		}
		return nil
	}))
	return tenantID
}

func newAuthenticator(tb testing.TB, issuer *oidctest.Issuer, pool *pgxpool.Pool, now time.Time, discovery bool) *identity.Authenticator {
	tb.Helper()
	opts := identity.ValidatorOptions{Issuer: issuer.URL(), Audience: audience, Now: func() time.Time { return now }}
	if !discovery {
		opts.JWKSURL = issuer.URL() + "/keys"
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	v, err := identity.NewValidator(ctx, opts)
	require.NoError(tb, err)
	return &identity.Authenticator{Validator: v, Pool: pool, Now: func() time.Time { return now }}
}

func TestAuthenticator_Authenticate(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t)
	tenantID := seed(t, pool)
	issuer := oidctest.New(t)
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

	t.Run("DiscoveryAndViewerScopes", func(t *testing.T) {
		a := newAuthenticator(t, issuer, pool, now, true)
		p, err := a.Authenticate(context.Background(), issuer.Sign(issuer.Claims(audience, "dir-1", "oid-ada", "ada@t.test", now)))
		require.NoError(t, err)
		require.Equal(t, request.KindUser, p.Kind)
		require.Equal(t, tenantID, p.TenantID)
		require.Equal(t, request.Corporate, p.TenantType)
		require.True(t, p.Has("users:read"))
		require.False(t, p.Has("users:manage"), "viewers hold no write capability")
		require.False(t, p.Has("audit:read"), "viewers cannot read the audit log")
		require.Equal(t, 60, p.RateLimitPerMinute)
	})
	t.Run("UnknownUserRejectedNotNil", func(t *testing.T) {
		a := newAuthenticator(t, issuer, pool, now, false)
		p, err := a.Authenticate(context.Background(), issuer.Sign(issuer.Claims(audience, "dir-1", "oid-nobody", "nobody@t.test", now)))
		require.Nil(t, p)
		require.Equal(t, problem.CodeForbidden, problem.As(err).Code)
	})
	t.Run("NotAJWT", func(t *testing.T) {
		a := newAuthenticator(t, issuer, pool, now, false)
		p, err := a.Authenticate(context.Background(), "bk_abc.def.ghi")
		require.Nil(t, p, "a dotted credential that is not a JWT is rejected, never passed on as nil, nil")
		require.Equal(t, problem.CodeUnauthenticated, problem.As(err).Code)
	})
}

func TestValidator_DiscoveryFailure503(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	v, err := identity.NewValidator(context.Background(), identity.ValidatorOptions{
		Issuer: "http://127.0.0.1:1", Audience: audience, Now: func() time.Time { return now }})
	require.NoError(t, err)
	issuer := oidctest.New(t)
	_, err = v.Validate(context.Background(), issuer.Sign(issuer.Claims(audience, "dir-1", "oid-ada", "", now)))
	require.Equal(t, problem.CodeUnavailable, problem.As(err).Code)
}

// BenchmarkAuthenticator_Authenticate measures one sign-in of a known user:
// RS256 verification with a cached key plus the tenant look-up and the
// user-and-roles query on the local PostgreSQL.
func BenchmarkAuthenticator_Authenticate(b *testing.B) {
	pool, _ := pgtest.NewPool(b)
	seed(b, pool)
	issuer := oidctest.New(b)
	now := time.Now()
	a := newAuthenticator(b, issuer, pool, now, false)
	token := issuer.Sign(issuer.Claims(audience, "dir-1", "oid-ada", "ada@t.test", now))
	ctx := context.Background()
	_, err := a.Authenticate(ctx, token)
	require.NoError(b, err)
	b.ResetTimer()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidator_Validate measures token validation alone.
func BenchmarkValidator_Validate(b *testing.B) {
	issuer := oidctest.New(b)
	now := time.Now()
	a := newAuthenticator(b, issuer, nil, now, false)
	token := issuer.Sign(issuer.Claims(audience, "dir-1", "oid-ada", "ada@t.test", now))
	ctx := context.Background()
	for b.Loop() {
		if _, err := a.Validator.Validate(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

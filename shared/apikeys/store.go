package apikeys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
)

// ErrNotFound is returned when no key has the id in the current tenant.
var ErrNotFound = errors.New("api key not found")

const keyColumns = `id, name, prefix, scopes, allowed_ips, rate_limit_per_minute, rate_limit_per_hour,
	expires_at, created_by, created_at, updated_at, rotated_at, previous_expires_at, last_used_at, revoked_at`

func scanKey(row pgx.Row, now time.Time) (Key, error) {
	var k Key
	err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Scopes, &k.AllowedIPs, &k.RateLimitPerMinute, &k.RateLimitPerHour,
		&k.ExpiresAt, &k.CreatedBy, &k.CreatedAt, &k.UpdatedAt, &k.RotatedAt, &k.PreviousSecretExpiresAt, &k.LastUsedAt, &k.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, ErrNotFound
	}
	if err != nil {
		return Key{}, fmt.Errorf("scan api key: %w", err)
	}
	k.Prefix = DisplayPrefix(k.Prefix)
	if k.PreviousSecretExpiresAt != nil && !now.Before(*k.PreviousSecretExpiresAt) {
		k.PreviousSecretExpiresAt = nil
	}
	k.setStatus(now)
	return k, nil
}

// newRow is the row insertKey writes for a new key.
type newRow struct {
	ID, TenantID, Name, Prefix, CreatedBy string
	Secret                                Hashed
	Scopes, AllowedIPs                    []string
	PerMinute, PerHour                    *int
	ExpiresAt                             *time.Time
	Now                                   time.Time
}

func insertKey(ctx context.Context, q postgres.Querier, r newRow) (Key, error) {
	row := q.QueryRow(ctx, `
		INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, secret_salt, iterations, scopes, allowed_ips,
			rate_limit_per_minute, rate_limit_per_hour, expires_at, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
		RETURNING `+keyColumns,
		r.ID, r.TenantID, r.Name, r.Prefix, r.Secret.Hash, r.Secret.Salt, r.Secret.Iterations, r.Scopes, r.AllowedIPs,
		r.PerMinute, r.PerHour, r.ExpiresAt, r.CreatedBy, r.Now)
	return scanKey(row, r.Now)
}

func getKey(ctx context.Context, q postgres.Querier, tenantID, id string, now time.Time, lock bool) (Key, error) {
	sql := `SELECT ` + keyColumns + ` FROM api_keys WHERE tenant_id = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	return scanKey(q.QueryRow(ctx, sql, tenantID, id), now)
}

func listKeys(ctx context.Context, q postgres.Querier, tenantID, after string, limit int, now time.Time) ([]Key, error) {
	rows, err := q.Query(ctx, `
		SELECT `+keyColumns+` FROM api_keys
		WHERE tenant_id = $1 AND ($2 = '' OR id < $2)
		ORDER BY id DESC LIMIT $3`, tenantID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		k, err := scanKey(rows, now)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func updateKey(ctx context.Context, q postgres.Querier, tenantID string, k Key, now time.Time) (Key, error) {
	row := q.QueryRow(ctx, `
		UPDATE api_keys SET name = $3, scopes = $4, allowed_ips = $5, rate_limit_per_minute = $6,
			rate_limit_per_hour = $7, expires_at = $8, updated_at = $9
		WHERE tenant_id = $1 AND id = $2
		RETURNING `+keyColumns,
		tenantID, k.ID, k.Name, k.Scopes, k.AllowedIPs, k.RateLimitPerMinute, k.RateLimitPerHour, k.ExpiresAt, now)
	return scanKey(row, now)
}

func rotateKey(ctx context.Context, q postgres.Querier, tenantID, id string, secret Hashed, previousUntil *time.Time, now time.Time) (Key, error) {
	// With no grace period the old secret is dropped at once; otherwise the
	// current secret becomes the previous one until previousUntil.
	row := q.QueryRow(ctx, `
		UPDATE api_keys SET
			previous_hash = CASE WHEN $6::timestamptz IS NULL THEN NULL ELSE secret_hash END,
			previous_salt = CASE WHEN $6::timestamptz IS NULL THEN NULL ELSE secret_salt END,
			previous_iterations = CASE WHEN $6::timestamptz IS NULL THEN NULL ELSE iterations END,
			previous_expires_at = $6,
			secret_hash = $3, secret_salt = $4, iterations = $5,
			rotated_at = $7, updated_at = $7
		WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL
		RETURNING `+keyColumns,
		tenantID, id, secret.Hash, secret.Salt, secret.Iterations, previousUntil, now)
	return scanKey(row, now)
}

func revokeKey(ctx context.Context, q postgres.Querier, tenantID, id string, now time.Time) (Key, error) {
	row := q.QueryRow(ctx, `
		UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3), updated_at = $3,
			previous_hash = NULL, previous_salt = NULL, previous_iterations = NULL, previous_expires_at = NULL
		WHERE tenant_id = $1 AND id = $2
		RETURNING `+keyColumns, tenantID, id, now)
	return scanKey(row, now)
}

// storedKey is a key row as the verifier reads it, before any tenant is set.
type storedKey struct {
	Key
	TenantID        string
	TenantType      string
	Current         Hashed
	Previous        Hashed
	PreviousUntil   *time.Time
	TenantPerMinute int
	TenantPerHour   int
	RawPrefix       string
}

func findByPrefix(ctx context.Context, q postgres.Querier, prefix string, now time.Time) (storedKey, error) {
	var s storedKey
	var prevIter *int
	err := q.QueryRow(ctx, `SELECT * FROM auth_find_api_key($1)`, prefix).Scan(
		&s.ID, &s.TenantID, &s.Name, &s.RawPrefix,
		&s.Current.Hash, &s.Current.Salt, &s.Current.Iterations,
		&s.Previous.Hash, &s.Previous.Salt, &prevIter, &s.PreviousUntil,
		&s.Scopes, &s.AllowedIPs, &s.RateLimitPerMinute, &s.RateLimitPerHour,
		&s.ExpiresAt, &s.CreatedBy, &s.CreatedAt, &s.UpdatedAt, &s.RotatedAt, &s.LastUsedAt, &s.RevokedAt,
		&s.TenantType, &s.TenantPerMinute, &s.TenantPerHour)
	if errors.Is(err, pgx.ErrNoRows) {
		return storedKey{}, ErrNotFound
	}
	if err != nil {
		return storedKey{}, fmt.Errorf("find api key by prefix: %w", err)
	}
	if prevIter != nil {
		s.Previous.Iterations = *prevIter
	}
	s.Prefix = DisplayPrefix(s.RawPrefix)
	s.PreviousSecretExpiresAt = s.PreviousUntil
	s.setStatus(now)
	return s, nil
}

package apikeys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// Service manages a tenant's keys. Every method runs in the caller's tenant
// transaction; invalidation of cached verifications happens after commit
// through Invalidate.
type Service struct {
	Iterations    int
	RotationGrace time.Duration
	Now           func() time.Time
	// Capabilities returns every capability a scope may name.
	Capabilities func() []string
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

// checkGrant rejects scopes the caller does not hold: a key can never
// create or widen a key beyond its own rights.
func checkGrant(caller *request.Principal, scopes []string) error {
	var missing []string
	var fields []problem.FieldError
	for i, sc := range scopes {
		if !caller.Has(sc) {
			missing = append(missing, sc)
			fields = append(fields, problem.FieldError{Field: fmt.Sprintf("scopes[%d]", i), Code: "not_held",
				Message: fmt.Sprintf("the caller does not hold %q, so it cannot grant it", sc)})
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return &problem.Error{Code: problem.CodeForbidden, Fields: fields,
		Detail: "scopes: a key cannot be granted capabilities its creator lacks: " + strings.Join(missing, ", ") + "."}
}

// Create issues a new key for the caller's tenant.
func (s *Service) Create(ctx context.Context, tx pgx.Tx, caller *request.Principal, req CreateRequest) (IssuedKey, error) {
	now := s.now()
	var v validator
	name := v.name(req.Name)
	scopes := v.scopes(req.Scopes, s.Capabilities())
	allowed := v.allowedIPs(req.AllowedIPs)
	v.limits(req.RateLimitPerMinute, req.RateLimitPerHour)
	v.expiry(req.ExpiresAt, now)
	if err := v.err(); err != nil {
		return IssuedKey{}, err
	}
	if err := checkGrant(caller, scopes); err != nil {
		return IssuedKey{}, err
	}
	return s.issue(ctx, tx, caller.TenantID, caller.ID, name, scopes, allowed, req.RateLimitPerMinute, req.RateLimitPerHour, req.ExpiresAt)
}

// CreateAdmin issues a key with every capability, for the operator command line.
func (s *Service) CreateAdmin(ctx context.Context, tx pgx.Tx, tenantID, name string) (IssuedKey, error) {
	return s.issue(ctx, tx, tenantID, "cli", name, s.Capabilities(), []string{}, nil, nil, nil)
}

func (s *Service) issue(ctx context.Context, tx pgx.Tx, tenantID, createdBy, name string, scopes, allowed []string, perMinute, perHour *int, expires *time.Time) (IssuedKey, error) {
	now := s.now()
	for attempt := 0; ; attempt++ {
		plain, err := Generate()
		if err != nil {
			return IssuedKey{}, err
		}
		hashed, err := HashSecret(plain.Secret, s.Iterations)
		if err != nil {
			return IssuedKey{}, err
		}
		if expires != nil {
			t := expires.UTC()
			expires = &t
		}
		row := newRow{ID: ids.New(ids.APIKey), TenantID: tenantID, Name: name, Prefix: plain.Prefix, CreatedBy: createdBy,
			Secret: hashed, Scopes: scopes, AllowedIPs: allowed, PerMinute: perMinute, PerHour: perHour, ExpiresAt: expires, Now: now}
		// A prefix collision is astronomically unlikely; the savepoint lets
		// the transaction survive it and retry with a new prefix.
		sp, err := tx.Begin(ctx)
		if err != nil {
			return IssuedKey{}, fmt.Errorf("begin savepoint: %w", err)
		}
		k, err := insertKey(ctx, sp, row)
		if postgres.IsUniqueViolation(err, "api_keys_prefix_key") && attempt < 3 {
			_ = sp.Rollback(ctx)
			continue
		}
		if err != nil {
			_ = sp.Rollback(ctx)
			return IssuedKey{}, fmt.Errorf("insert api key: %w", err)
		}
		if err := sp.Commit(ctx); err != nil {
			return IssuedKey{}, fmt.Errorf("release savepoint: %w", err)
		}
		return IssuedKey{Key: k, APIKey: plain.Key}, nil
	}
}

// Get returns one key of the caller's tenant.
func (s *Service) Get(ctx context.Context, tx pgx.Tx, tenantID, id string) (Key, error) {
	if !ids.Valid(ids.APIKey, id) {
		return Key{}, problem.NotFound("API key", id)
	}
	k, err := getKey(ctx, tx, tenantID, id, s.now(), false)
	if errors.Is(err, ErrNotFound) {
		return Key{}, problem.NotFound("API key", id)
	}
	return k, err
}

// List returns a page of the tenant's keys, newest first.
func (s *Service) List(ctx context.Context, tx pgx.Tx, tenantID string, p httpx.PageRequest) (httpx.Page[Key], error) {
	rows, err := listKeys(ctx, tx, tenantID, p.After, p.Limit+1, s.now())
	if err != nil {
		return httpx.Page[Key]{}, err
	}
	return httpx.NewPage(rows, p, func(k Key) string { return k.ID }), nil
}

// Update applies a merge patch to a key. Widening its scopes is limited to
// what the caller holds.
func (s *Service) Update(ctx context.Context, tx pgx.Tx, caller *request.Principal, id string, req UpdateRequest) (Key, error) {
	now := s.now()
	if !ids.Valid(ids.APIKey, id) {
		return Key{}, problem.NotFound("API key", id)
	}
	k, err := getKey(ctx, tx, caller.TenantID, id, now, true)
	if errors.Is(err, ErrNotFound) {
		return Key{}, problem.NotFound("API key", id)
	}
	if err != nil {
		return Key{}, err
	}
	if k.RevokedAt != nil {
		return Key{}, problem.New(problem.CodeConflict, "API key %q is revoked and can no longer be changed.", id)
	}

	original := k.Scopes
	var v validator
	if req.Name.Set {
		if req.Name.Null {
			v.add("name", "required", "cannot be null")
		}
		k.Name = v.name(req.Name.Value)
	}
	if req.Scopes.Set {
		k.Scopes = v.scopes(req.Scopes.Value, s.Capabilities())
	}
	if req.AllowedIPs.Set {
		k.AllowedIPs = v.allowedIPs(req.AllowedIPs.Value)
	}
	if req.RateLimitPerMinute.Set {
		k.RateLimitPerMinute = optionalInt(req.RateLimitPerMinute)
	}
	if req.RateLimitPerHour.Set {
		k.RateLimitPerHour = optionalInt(req.RateLimitPerHour)
	}
	v.limits(k.RateLimitPerMinute, k.RateLimitPerHour)
	if req.ExpiresAt.Set {
		k.ExpiresAt = req.ExpiresAt.Value
		if k.ExpiresAt != nil {
			t := k.ExpiresAt.UTC()
			k.ExpiresAt = &t
		}
		v.expiry(k.ExpiresAt, now)
	}
	if err := v.err(); err != nil {
		return Key{}, err
	}
	if req.Scopes.Set {
		// Scopes the key already had were granted by someone who held them;
		// only additions need the caller to hold them.
		var added []string
		for _, sc := range k.Scopes {
			if !slices.Contains(original, sc) {
				added = append(added, sc)
			}
		}
		if err := checkGrant(caller, added); err != nil {
			return Key{}, err
		}
	}
	return updateKey(ctx, tx, caller.TenantID, k, now)
}

func optionalInt(o Optional[int]) *int {
	if o.Null {
		return nil
	}
	v := o.Value
	return &v
}

// Rotate gives a key a new secret. The previous secret keeps working until
// RotationGrace has passed, so clients can switch without downtime.
func (s *Service) Rotate(ctx context.Context, tx pgx.Tx, tenantID, id string) (IssuedKey, error) {
	now := s.now()
	if !ids.Valid(ids.APIKey, id) {
		return IssuedKey{}, problem.NotFound("API key", id)
	}
	current, err := getKey(ctx, tx, tenantID, id, now, true)
	if errors.Is(err, ErrNotFound) {
		return IssuedKey{}, problem.NotFound("API key", id)
	}
	if err != nil {
		return IssuedKey{}, err
	}
	if current.RevokedAt != nil {
		return IssuedKey{}, problem.New(problem.CodeConflict, "API key %q is revoked; create a new key instead of rotating it.", id)
	}

	// The new secret keeps the key's prefix, so the key's id, limits and
	// usage history stay the same.
	secret, err := randomSecret()
	if err != nil {
		return IssuedKey{}, err
	}
	hashed, err := HashSecret(secret, s.Iterations)
	if err != nil {
		return IssuedKey{}, err
	}
	var until *time.Time
	if s.RotationGrace > 0 {
		t := now.Add(s.RotationGrace)
		until = &t
	}
	k, err := rotateKey(ctx, tx, tenantID, id, hashed, until, now)
	if err != nil {
		return IssuedKey{}, err
	}
	raw := strings.TrimSuffix(strings.TrimPrefix(k.Prefix, keyPrefix), "_…")
	return IssuedKey{Key: k, APIKey: keyPrefix + raw + "_" + secret}, nil
}

// Revoke ends a key at once. Revoking a revoked key changes nothing.
func (s *Service) Revoke(ctx context.Context, tx pgx.Tx, tenantID, id string) (Key, error) {
	if !ids.Valid(ids.APIKey, id) {
		return Key{}, problem.NotFound("API key", id)
	}
	k, err := revokeKey(ctx, tx, tenantID, id, s.now())
	if errors.Is(err, ErrNotFound) {
		return Key{}, problem.NotFound("API key", id)
	}
	return k, err
}

package identity

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/rbac"
	"github.com/booga-enterprise/functions/shared/request"
)

// EventUserCreated is the event emitted when first sign-in creates a user.
const EventUserCreated = "user.created"

// Authenticator implements platform.UserAuthenticator for OpenID Connect
// bearer tokens. The pipeline calls it for every credential that looks like a
// JWT (two dots), so it never returns nil, nil: a token it cannot accept is a
// 401 problem.
type Authenticator struct {
	Validator *Validator
	Pool      *pgxpool.Pool
	Now       func() time.Time
}

// tenantRow is the token's tenant with the fields sign-in reads.
type tenantRow struct {
	ID            string
	Type          string
	AutoProvision bool
	PerMinute     int
	PerHour       int
}

// Authenticate validates token and returns the user's principal. Scopes are
// the user's effective permissions, computed from their memberships in this
// call, once per request: nothing is cached across requests, so a removed
// membership or a deactivation takes effect on the very next request on
// every instance.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*request.Principal, error) {
	claims, err := a.Validator.Validate(ctx, token)
	if err != nil {
		return nil, err
	}
	t, err := a.findTenant(ctx, claims.Directory)
	if err != nil {
		return nil, err
	}

	var p *request.Principal
	err = postgres.InTenant(ctx, a.Pool, t.ID, func(tx pgx.Tx) error {
		u, err := a.signIn(ctx, tx, t, claims)
		if err != nil {
			return err
		}
		p = &request.Principal{Kind: request.KindUser, ID: u.id, TenantID: t.ID, TenantType: request.TenantType(t.Type),
			Scopes: rbac.Effective(u.roles, u.custom), RateLimitPerMinute: t.PerMinute, RateLimitPerHour: t.PerHour}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func (a *Authenticator) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Authenticator) findTenant(ctx context.Context, directory string) (tenantRow, error) {
	var t tenantRow
	err := a.Pool.QueryRow(ctx, `
		SELECT id, type, auto_provision_users, rate_limit_per_minute, rate_limit_per_hour
		FROM auth_find_directory_tenant($1)`, directory).Scan(&t.ID, &t.Type, &t.AutoProvision, &t.PerMinute, &t.PerHour)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, problem.New(problem.CodeUnauthenticated,
			"The token's directory is not linked to any tenant of this platform. A tenant admin links it with PATCH /api/organizations/sign-in.")
	}
	if err != nil {
		return t, problem.Wrap(err, "find tenant of directory")
	}
	return t, nil
}

// signedInUser is a user row with the role data for effective permissions.
type signedInUser struct {
	id               string
	status           string
	tokensValidAfter *time.Time
	roles            []string
	custom           [][]string
}

// signIn finds the token's user, links an invited user on their first
// sign-in or creates one where the tenant allows it, and checks that the
// user may act.
func (a *Authenticator) signIn(ctx context.Context, tx pgx.Tx, t tenantRow, c Claims) (signedInUser, error) {
	u, err := loadUser(ctx, tx, t.ID, c.Subject)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := a.linkOrCreate(ctx, tx, t, c); err != nil {
			return u, err
		}
		u, err = loadUser(ctx, tx, t.ID, c.Subject)
	}
	if err != nil {
		return u, problem.Wrap(err, "load signed-in user")
	}

	switch {
	case u.status == "deactivated":
		return u, problem.New(problem.CodeUnauthenticated, "This user is deactivated. Ask a tenant admin to reactivate the account.")
	case u.tokensValidAfter != nil && !c.IssuedAt.After(*u.tokensValidAfter):
		return u, problem.New(problem.CodeUnauthenticated, "This token was issued before the user's sessions were revoked. Sign in again.")
	}
	return u, nil
}

func loadUser(ctx context.Context, tx pgx.Tx, tenantID, subject string) (signedInUser, error) {
	var u signedInUser
	var custom []string
	err := tx.QueryRow(ctx, `
		SELECT u.id, u.status, u.tokens_valid_after,
		       coalesce(array_agg(m.role_id) FILTER (WHERE m.role_id IS NOT NULL), '{}'),
		       coalesce(array_agg(array_to_string(r.capabilities, ' ')) FILTER (WHERE r.id IS NOT NULL), '{}')
		FROM users u
		LEFT JOIN memberships m ON m.user_id = u.id
			AND NOT EXISTS (SELECT 1 FROM org_units o WHERE o.id = m.unit_id AND o.deleting_at IS NOT NULL)
		LEFT JOIN roles r ON r.id = m.role_id
		WHERE u.tenant_id = $1 AND u.external_id = $2
		GROUP BY u.id`, tenantID, subject).Scan(&u.id, &u.status, &u.tokensValidAfter, &u.roles, &custom)
	if err != nil {
		return u, err
	}
	for _, s := range custom {
		u.custom = append(u.custom, strings.Fields(s))
	}
	return u, nil
}

// linkOrCreate gives the token's subject a user row. An invited (pending)
// user, or one made without a sign-in such as a developer tenant's first
// user, is linked by email address: the tenant trusts its own directory's
// addresses, since that directory is the one linked to it. Otherwise a new
// active user with no memberships is created when the tenant allows it.
func (a *Authenticator) linkOrCreate(ctx context.Context, tx pgx.Tx, t tenantRow, c Claims) error {
	now := a.now()
	email := normalizeEmail(c.Email)
	if email != "" {
		tag, err := tx.Exec(ctx, `
			UPDATE users SET external_id = $3, status = 'active', last_sign_in_at = $4, updated_at = $4,
			       display_name = CASE WHEN display_name = '' THEN $5 ELSE display_name END
			WHERE tenant_id = $1 AND lower(email) = $2 AND external_id IS NULL AND status <> 'deactivated'`,
			t.ID, email, c.Subject, now, truncate(c.Name, 200))
		if err != nil {
			return problem.Wrap(err, "link invited user")
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
	}
	if !t.AutoProvision {
		return problem.New(problem.CodeForbidden,
			"You are not a user of this tenant, and it does not add users on first sign-in. Ask a tenant admin to invite you.")
	}
	if email == "" {
		return problem.New(problem.CodeForbidden, "The token has no email, preferred_username or upn claim, so no user can be created for it.")
	}

	id := ids.New(ids.User)
	_, err := tx.Exec(ctx, `
		INSERT INTO users (id, tenant_id, email, display_name, status, external_id, last_sign_in_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'active', $5, $6, $6, $6)`,
		id, t.ID, email, truncate(c.Name, 200), c.Subject, now)
	if postgres.IsUniqueViolation(err, "users_tenant_id_email_key") {
		return problem.New(problem.CodeConflict, "A user with the address %s already exists in this tenant and is linked to another sign-in.", email)
	}
	if err != nil {
		return problem.Wrap(err, "create user on first sign-in")
	}
	data := events.UserData{UserID: id, Email: email, Source: "first_sign_in"}
	self := audit.Actor{Kind: string(request.KindUser), ID: id}
	if err := audit.RecordAs(ctx, tx, self, t.ID, "user.created", "user", id, data); err != nil {
		return err
	}
	if _, err := events.Emit(ctx, tx, t.ID, EventUserCreated, data); err != nil {
		return err
	}
	return nil
}

// normalizeEmail returns the lower-cased address, or "" when s is not one.
func normalizeEmail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if _, err := mail.ParseAddress(s); err != nil || !strings.Contains(s, "@") {
		return ""
	}
	return strings.ToLower(s)
}

func truncate(s string, n int) string {
	r := []rune(strings.TrimSpace(s))
	if len(r) > n {
		r = r[:n]
	}
	return string(r)
}

// String describes the authenticator for start-up logs.
func (a *Authenticator) String() string {
	return fmt.Sprintf("OpenID Connect issuer %s, audience %s", a.Validator.opts.Issuer, a.Validator.opts.Audience)
}

// Package organizations is the organizations plugin: users, organisational
// units, memberships, roles, the audit log and the tenant's sign-in settings.
// Every change and its audit entry are written in the request's tenant
// transaction.
package organizations

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/rbac"
	"github.com/booga-enterprise/functions/shared/request"
)

// Plugin is the plugin name and the first path segment of its routes.
const Plugin = "organizations"

// Capabilities of this plugin's routes.
const (
	CapUsersRead   = "users:read"
	CapUsersManage = "users:manage"
	CapOrgRead     = "organizations:read"
	CapOrgManage   = "organizations:manage"
	CapAuditRead   = "audit:read"
)

// Event types this plugin emits.
const (
	EventUserCreated       = "user.created"
	EventUserDeactivated   = "user.deactivated"
	EventMembershipChanged = "membership.changed"
)

// KeyInvalidator evicts cached verifications of a revoked key on every
// instance. The app's API-key invalidator implements it.
type KeyInvalidator interface {
	Invalidate(ctx context.Context, keyID string, revoked bool)
}

// Handlers serves the plugin's routes.
type Handlers struct {
	Keys KeyInvalidator
	Now  func() time.Time
}

func (h *Handlers) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// begin returns the caller and the request's tenant transaction.
func begin(r *http.Request) (*request.Principal, pgx.Tx, error) {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return nil, nil, err
	}
	return request.PrincipalFrom(r.Context()), tx, nil
}

// requireHolds rejects the change unless the caller has every capability in
// want, so that no caller grants or revokes a capability it does not have.
func requireHolds(caller *request.Principal, want []string, what string) error {
	missing := rbac.Missing(caller.Scopes, want)
	if len(missing) == 0 {
		return nil
	}
	return problem.New(problem.CodeForbidden, "You cannot %s: it involves capabilities you do not hold: %s.", what, strings.Join(missing, ", "))
}

// lockTenant serialises the changes that must see each other within a
// tenant: owner counts and unit moves. It locks the tenant row until commit.
func lockTenant(ctx context.Context, tx pgx.Tx, tenantID string) error {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, tenantID); err != nil {
		return fmt.Errorf("lock tenant: %w", err)
	}
	return nil
}

// activeOwners counts the active users holding the owner role in a unit
// that is not being deleted.
func activeOwners(ctx context.Context, tx pgx.Tx, tenantID string) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `
		SELECT count(DISTINCT m.user_id) FROM memberships m JOIN users u ON u.id = m.user_id
		JOIN org_units o ON o.id = m.unit_id
		WHERE m.tenant_id = $1 AND m.role_id = 'owner' AND u.status = 'active' AND o.deleting_at IS NULL`, tenantID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count owners: %w", err)
	}
	return n, nil
}

// keepOwner runs change and rejects it when it leaves a tenant that had an
// active owner without one. The caller holds lockTenant, so two concurrent
// demotions cannot both see the other owner.
func keepOwner(ctx context.Context, tx pgx.Tx, tenantID string, change func() error) error {
	before, err := activeOwners(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	if err := change(); err != nil {
		return err
	}
	after, err := activeOwners(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	if before > 0 && after == 0 {
		return problem.New(problem.CodeConflict, "This change would leave the tenant without an active owner. Make another user an owner first.")
	}
	return nil
}

// isOwner reports whether the caller is a user holding the owner role.
func isOwner(ctx context.Context, tx pgx.Tx, caller *request.Principal) (bool, error) {
	if caller.Kind != request.KindUser {
		return false, nil
	}
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM memberships m JOIN org_units o ON o.id = m.unit_id
		WHERE m.tenant_id = $1 AND m.user_id = $2 AND m.role_id = 'owner' AND o.deleting_at IS NULL)`,
		caller.TenantID, caller.ID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check owner role: %w", err)
	}
	return ok, nil
}

// requireOwnerGate allows granting, changing or removing the owner role only
// to an owner, or to an API key while the tenant has no active owner yet:
// that is how a corporate tenant's admin key names its first owner.
func requireOwnerGate(ctx context.Context, tx pgx.Tx, caller *request.Principal) error {
	owner, err := isOwner(ctx, tx, caller)
	if err != nil || owner {
		return err
	}
	if caller.Kind == request.KindAPIKey {
		n, err := activeOwners(ctx, tx, caller.TenantID)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
	}
	return problem.New(problem.CodeForbidden, "Only an owner can grant, change or remove the owner role.")
}

// requireMayChangeUser allows changing another user only to a caller who
// holds every capability the user holds, and an owner only to an owner.
func requireMayChangeUser(ctx context.Context, tx pgx.Tx, caller *request.Principal, userID, what string) error {
	perms, err := rbac.UserPermissions(ctx, tx, caller.TenantID, userID)
	if err != nil {
		return err
	}
	if err := requireHolds(caller, perms.Capabilities, what); err != nil {
		return err
	}
	for _, role := range perms.Roles {
		if role == rbac.Owner {
			return requireOwnerGate(ctx, tx, caller)
		}
	}
	return nil
}

func intPtr(v int) *int { return &v }

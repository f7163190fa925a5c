package rbac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
)

// ErrRoleNotFound is returned when no built-in or tenant role has the id.
var ErrRoleNotFound = errors.New("role not found")

// Permissions are a user's roles and the capabilities they add up to.
type Permissions struct {
	UserID       string   `json:"user_id"`
	Roles        []string `json:"roles" example:"[\"admin\"]"`
	Capabilities []string `json:"capabilities" example:"[\"users:read\"]"`
}

// UserPermissions computes a user's effective permissions from their
// memberships. A user without memberships has none, and a membership in a
// unit being deleted grants nothing.
func UserPermissions(ctx context.Context, q postgres.Querier, tenantID, userID string) (Permissions, error) {
	var roles, custom []string
	err := q.QueryRow(ctx, `
		SELECT coalesce(array_agg(DISTINCT m.role_id), '{}'),
		       coalesce(array_agg(array_to_string(r.capabilities, ' ')) FILTER (WHERE r.id IS NOT NULL), '{}')
		FROM memberships m LEFT JOIN roles r ON r.id = m.role_id
		WHERE m.tenant_id = $1 AND m.user_id = $2
		  AND NOT EXISTS (SELECT 1 FROM org_units o WHERE o.id = m.unit_id AND o.deleting_at IS NOT NULL)`, tenantID, userID).Scan(&roles, &custom)
	if err != nil {
		return Permissions{}, fmt.Errorf("load memberships of %s: %w", userID, err)
	}
	sets := make([][]string, 0, len(custom))
	for _, s := range custom {
		sets = append(sets, strings.Fields(s))
	}
	slices.Sort(roles)
	return Permissions{UserID: userID, Roles: roles, Capabilities: Effective(roles, sets)}, nil
}

// FindRole returns a built-in role or the tenant role with the id. With
// lock, a tenant role's row is locked against deletion until commit.
func FindRole(ctx context.Context, q postgres.Querier, tenantID, id string, lock bool) (Role, error) {
	if r, ok := BuiltInRole(id); ok {
		return r, nil
	}
	sql := `SELECT id, name, description, capabilities FROM roles WHERE tenant_id = $1 AND id = $2`
	if lock {
		sql += ` FOR SHARE`
	}
	var r Role
	err := q.QueryRow(ctx, sql, tenantID, id).Scan(&r.ID, &r.Name, &r.Description, &r.Capabilities)
	if errors.Is(err, pgx.ErrNoRows) {
		return Role{}, ErrRoleNotFound
	}
	if err != nil {
		return Role{}, fmt.Errorf("find role %s: %w", id, err)
	}
	return r, nil
}

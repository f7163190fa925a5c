package organizations

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/rbac"
	"github.com/booga-enterprise/functions/shared/request"
)

// Membership places a user in a unit with a role.
type Membership struct {
	UserID    string    `json:"user_id" example:"usr_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	UnitID    string    `json:"unit_id" example:"ou_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	RoleID    string    `json:"role_id" example:"member"`
	UserEmail string    `json:"user_email" example:"ada@example.com"`
	UnitName  string    `json:"unit_name" example:"Engineering"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// PutMembershipRequest is the body of PUT /organizations/units/{id}/members/{user_id}.
type PutMembershipRequest struct {
	RoleID string `json:"role_id" example:"member" doc:"A built-in role (owner, admin, member, viewer) or the id of a tenant role."`
}

// membershipChange is the data of a membership.changed event and its audit entry.
type membershipChange struct {
	Change         string  `json:"change"` // added, role_changed or removed
	UserID         string  `json:"user_id"`
	UnitID         string  `json:"unit_id"`
	RoleID         *string `json:"role_id"`
	PreviousRoleID *string `json:"previous_role_id"`
}

const membershipSelect = `
	SELECT m.user_id, m.unit_id, m.role_id, u.email, o.name, m.created_at, m.updated_at
	FROM memberships m JOIN users u ON u.id = m.user_id JOIN org_units o ON o.id = m.unit_id`

func scanMembership(row pgx.Row) (Membership, error) {
	var m Membership
	err := row.Scan(&m.UserID, &m.UnitID, &m.RoleID, &m.UserEmail, &m.UnitName, &m.CreatedAt, &m.UpdatedAt)
	return m, err
}

func collectMemberships(rows pgx.Rows) ([]Membership, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Membership, error) { return scanMembership(row) })
}

// currentRole returns the user's role in the unit, locked, or "" when the
// user is not a member of it.
func currentRole(ctx context.Context, tx pgx.Tx, tenantID, userID, unitID string) (string, error) {
	var role string
	err := tx.QueryRow(ctx, `SELECT role_id FROM memberships WHERE tenant_id = $1 AND user_id = $2 AND unit_id = $3 FOR UPDATE`,
		tenantID, userID, unitID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", problem.Wrap(err, "read membership")
	}
	return role, nil
}

// requireMayTouchRole checks that the caller may grant or take away role.
func requireMayTouchRole(ctx context.Context, tx pgx.Tx, caller *request.Principal, role rbac.Role, what string) error {
	if err := requireHolds(caller, role.Capabilities, what); err != nil {
		return err
	}
	if role.ID == rbac.Owner {
		return requireOwnerGate(ctx, tx, caller)
	}
	return nil
}

func (h *Handlers) putMembership(w http.ResponseWriter, r *http.Request) error {
	var body PutMembershipRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.RoleID == "" {
		return problem.Invalid(problem.FieldError{Field: "role_id", Code: "required", Message: "is required: owner, admin, member, viewer or a tenant role id"})
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := lockTenant(ctx, tx, caller.TenantID); err != nil {
		return err
	}
	unit, err := getUnit(ctx, tx, caller.TenantID, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	user, err := getUser(ctx, tx, caller.TenantID, mux.Vars(r)["user_id"], false)
	if err != nil {
		return err
	}
	if user.Status == StatusDeactivated {
		return problem.New(problem.CodeConflict, "User %q is deactivated; reactivate them before adding memberships.", user.ID)
	}
	role, err := rbac.FindRole(ctx, tx, caller.TenantID, body.RoleID, true)
	if errors.Is(err, rbac.ErrRoleNotFound) {
		return problem.Invalid(problem.FieldError{Field: "role_id", Code: "unknown", Message: "no built-in or tenant role has the id " + body.RoleID})
	}
	if err != nil {
		return err
	}
	if err := requireMayTouchRole(ctx, tx, caller, role, "grant the role "+role.ID); err != nil {
		return err
	}
	previous, err := currentRole(ctx, tx, caller.TenantID, user.ID, unit.ID)
	if err != nil {
		return err
	}
	if previous == role.ID {
		return h.writeMembership(w, r, tx, caller.TenantID, user.ID, unit.ID, http.StatusOK)
	}
	if previous != "" {
		old, err := rbac.FindRole(ctx, tx, caller.TenantID, previous, false)
		if err == nil {
			err = requireMayTouchRole(ctx, tx, caller, old, "change a membership with the role "+old.ID)
		}
		if err != nil && !errors.Is(err, rbac.ErrRoleNotFound) {
			return err
		}
	}

	now := h.now()
	err = keepOwner(ctx, tx, caller.TenantID, func() error {
		_, err := tx.Exec(ctx, `
			INSERT INTO memberships (tenant_id, user_id, unit_id, role_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)
			ON CONFLICT (user_id, unit_id) DO UPDATE SET role_id = EXCLUDED.role_id, updated_at = EXCLUDED.updated_at`,
			caller.TenantID, user.ID, unit.ID, role.ID, now)
		if err != nil {
			return problem.Wrap(err, "save membership")
		}
		return nil
	})
	if err != nil {
		return err
	}
	change := membershipChange{Change: "added", UserID: user.ID, UnitID: unit.ID, RoleID: &role.ID}
	status := http.StatusCreated
	if previous != "" {
		change.Change, change.PreviousRoleID, status = "role_changed", &previous, http.StatusOK
	}
	if err := recordMembership(ctx, tx, caller.TenantID, change); err != nil {
		return err
	}
	return h.writeMembership(w, r, tx, caller.TenantID, user.ID, unit.ID, status)
}

func (h *Handlers) writeMembership(w http.ResponseWriter, r *http.Request, tx pgx.Tx, tenantID, userID, unitID string, status int) error {
	m, err := scanMembership(tx.QueryRow(r.Context(), membershipSelect+` WHERE m.tenant_id = $1 AND m.user_id = $2 AND m.unit_id = $3`,
		tenantID, userID, unitID))
	if err != nil {
		return problem.Wrap(err, "read membership")
	}
	httpx.WriteJSON(w, status, m)
	return nil
}

func recordMembership(ctx context.Context, tx pgx.Tx, tenantID string, c membershipChange) error {
	if err := audit.Record(ctx, tx, tenantID, "membership."+c.Change, "membership", c.UserID+":"+c.UnitID, c); err != nil {
		return err
	}
	_, err := events.Emit(ctx, tx, tenantID, EventMembershipChanged, events.MembershipData(c))
	return err
}

func (h *Handlers) deleteMembership(w http.ResponseWriter, r *http.Request) error {
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := lockTenant(ctx, tx, caller.TenantID); err != nil {
		return err
	}
	unitID, userID := mux.Vars(r)["id"], mux.Vars(r)["user_id"]
	if _, err := getUnit(ctx, tx, caller.TenantID, unitID, false); err != nil {
		return err
	}
	previous, err := currentRole(ctx, tx, caller.TenantID, userID, unitID)
	if err != nil {
		return err
	}
	if previous == "" {
		return problem.New(problem.CodeNotFound, "User %q is not a member of unit %q.", userID, unitID)
	}
	old, err := rbac.FindRole(ctx, tx, caller.TenantID, previous, false)
	if err == nil {
		err = requireMayTouchRole(ctx, tx, caller, old, "remove a membership with the role "+old.ID)
	}
	if err != nil && !errors.Is(err, rbac.ErrRoleNotFound) {
		return err
	}

	err = keepOwner(ctx, tx, caller.TenantID, func() error {
		_, err := tx.Exec(ctx, `DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2 AND unit_id = $3`, caller.TenantID, userID, unitID)
		if err != nil {
			return problem.Wrap(err, "delete membership")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := recordMembership(ctx, tx, caller.TenantID, membershipChange{Change: "removed", UserID: userID, UnitID: unitID, PreviousRoleID: &previous}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// listUnitMembers lists the members of a unit, or with include_subunits=true
// of its whole subtree, ordered by user then unit.
func (h *Handlers) listUnitMembers(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	subunits := r.URL.Query().Get("include_subunits") == "true"

	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	unit, err := getUnit(ctx, tx, caller.TenantID, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}

	pattern := unit.path
	if subunits {
		pattern = likePrefix(unit.path)
	}
	rows, err := tx.Query(ctx, membershipSelect+`
		WHERE m.tenant_id = $1 AND o.path LIKE $2 AND o.deleting_at IS NULL AND ($3 = '' OR m.user_id || ':' || m.unit_id > $3)
		ORDER BY m.user_id, m.unit_id LIMIT $4`, caller.TenantID, pattern, page.After, page.Limit+1)
	if err != nil {
		return problem.Wrap(err, "list members")
	}
	out, err := collectMemberships(rows)
	if err != nil {
		return problem.Wrap(err, "list members")
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.NewPage(out, page, func(m Membership) string { return m.UserID + ":" + m.UnitID }))
	return nil
}

// listUserMemberships lists the units a user belongs to, with their roles.
func (h *Handlers) listUserMemberships(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	user, err := getUser(ctx, tx, caller.TenantID, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, membershipSelect+`
		WHERE m.tenant_id = $1 AND m.user_id = $2 AND o.deleting_at IS NULL AND ($3 = '' OR m.unit_id > $3)
		ORDER BY m.unit_id LIMIT $4`, caller.TenantID, user.ID, page.After, page.Limit+1)
	if err != nil {
		return problem.Wrap(err, "list memberships")
	}
	out, err := collectMemberships(rows)
	if err != nil {
		return problem.Wrap(err, "list memberships")
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.NewPage(out, page, func(m Membership) string { return m.UnitID }))
	return nil
}

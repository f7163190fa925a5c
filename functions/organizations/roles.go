package organizations

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/rbac"
	"github.com/booga-enterprise/functions/shared/registry"
)

// RoleIDPrefix is the prefix of tenant role ids.
const RoleIDPrefix = "rol"

// MaxTenantRoles bounds the tenant-defined roles, so the role list needs no paging.
const MaxTenantRoles = 100

// RoleList is the response of GET /organizations/roles.
type RoleList struct {
	Data []rbac.Role `json:"data"`
}

// RoleRequest is the body of POST /organizations/roles.
type RoleRequest struct {
	Name         string   `json:"name" minLength:"1" maxLength:"100" example:"Auditor"`
	Description  string   `json:"description,omitempty" maxLength:"500"`
	Capabilities []string `json:"capabilities" example:"[\"audit:read\",\"users:read\"]"`
}

// UpdateRoleRequest is the body of PATCH /organizations/roles/{id}; absent
// fields stay as they are.
type UpdateRoleRequest struct {
	Name         *string  `json:"name,omitempty" minLength:"1" maxLength:"100"`
	Description  *string  `json:"description,omitempty" maxLength:"500"`
	Capabilities []string `json:"capabilities,omitempty"`
}

func validateRole(name, description string, caps []string) ([]string, error) {
	var fields []problem.FieldError
	name = strings.TrimSpace(name)
	switch {
	case name == "" || len([]rune(name)) > 100:
		fields = append(fields, problem.FieldError{Field: "name", Code: "invalid", Message: "must be 1 to 100 characters"})
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		fields = append(fields, problem.FieldError{Field: "name", Code: "invalid", Message: "must not contain control characters"})
	case rbac.IsBuiltIn(strings.ToLower(name)):
		fields = append(fields, problem.FieldError{Field: "name", Code: "reserved", Message: fmt.Sprintf("%q is the name of a built-in role", name)})
	}
	if len([]rune(description)) > 500 {
		fields = append(fields, problem.FieldError{Field: "description", Code: "too_long", Message: "must be at most 500 characters"})
	}
	if len(caps) == 0 {
		fields = append(fields, problem.FieldError{Field: "capabilities", Code: "required", Message: "must list at least one capability"})
	}
	var out []string
	for i, c := range caps {
		if !registry.KnownCapability(c) {
			fields = append(fields, problem.FieldError{Field: fmt.Sprintf("capabilities[%d]", i), Code: "unknown",
				Message: fmt.Sprintf("%q is not a capability; the capabilities of GET /api/organizations/roles/admin list them all", c)})
			continue
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	if len(fields) > 0 {
		return nil, problem.Invalid(fields...)
	}
	return out, nil
}

func roleConflict(err error, name string) error {
	if postgres.IsUniqueViolation(err, "roles_tenant_name_key") {
		return problem.New(problem.CodeConflict, "A role named %q already exists in this tenant.", name)
	}
	return nil
}

func (h *Handlers) listRoles(w http.ResponseWriter, r *http.Request) error {
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	rows, err := tx.Query(r.Context(), `SELECT id, name, description, capabilities FROM roles WHERE tenant_id = $1 ORDER BY name`, caller.TenantID)
	if err != nil {
		return problem.Wrap(err, "list roles")
	}
	custom, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (rbac.Role, error) {
		var role rbac.Role
		err := row.Scan(&role.ID, &role.Name, &role.Description, &role.Capabilities)
		return role, err
	})
	if err != nil {
		return problem.Wrap(err, "list roles")
	}
	httpx.WriteJSON(w, http.StatusOK, RoleList{Data: append(rbac.BuiltInRoles(), custom...)})
	return nil
}

func (h *Handlers) getRole(w http.ResponseWriter, r *http.Request) error {
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	role, err := findRole(r.Context(), tx, caller.TenantID, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, role)
	return nil
}

func findRole(ctx context.Context, tx pgx.Tx, tenantID, id string, lock bool) (rbac.Role, error) {
	if !rbac.IsBuiltIn(id) && !ids.Valid(RoleIDPrefix, id) {
		return rbac.Role{}, problem.NotFound("role", id)
	}
	role, err := rbac.FindRole(ctx, tx, tenantID, id, false)
	if errors.Is(err, rbac.ErrRoleNotFound) {
		return rbac.Role{}, problem.NotFound("role", id)
	}
	if err != nil || !lock || role.BuiltIn {
		return role, err
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM roles WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id); err != nil {
		return rbac.Role{}, problem.Wrap(err, "lock role")
	}
	return role, nil
}

func (h *Handlers) createRole(w http.ResponseWriter, r *http.Request) error {
	var body RoleRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	caps, err := validateRole(body.Name, body.Description, body.Capabilities)
	if err != nil {
		return err
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := requireHolds(caller, caps, "create this role"); err != nil {
		return err
	}
	var count int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM roles WHERE tenant_id = $1`, caller.TenantID).Scan(&count); err != nil {
		return problem.Wrap(err, "count roles")
	}
	if count >= MaxTenantRoles {
		return problem.New(problem.CodeConflict, "A tenant can define at most %d roles; delete one first.", MaxTenantRoles)
	}

	now := h.now()
	role := rbac.Role{ID: ids.New(RoleIDPrefix), Name: strings.TrimSpace(body.Name), Description: strings.TrimSpace(body.Description), Capabilities: caps}
	_, err = tx.Exec(ctx, `
		INSERT INTO roles (id, tenant_id, name, description, capabilities, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, role.ID, caller.TenantID, role.Name, role.Description, role.Capabilities, now)
	if cerr := roleConflict(err, role.Name); cerr != nil {
		return cerr
	}
	if err != nil {
		return problem.Wrap(err, "create role")
	}
	if err := audit.Record(ctx, tx, caller.TenantID, "role.created", "role", role.ID, role); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/organizations/roles/"+role.ID)
	httpx.WriteJSON(w, http.StatusCreated, role)
	return nil
}

func (h *Handlers) updateRole(w http.ResponseWriter, r *http.Request) error {
	var body UpdateRoleRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	role, err := findRole(ctx, tx, caller.TenantID, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}
	if role.BuiltIn {
		return problem.New(problem.CodeConflict, "The built-in role %q cannot be changed; define a tenant role instead.", role.ID)
	}

	next := role
	if body.Name != nil {
		next.Name = strings.TrimSpace(*body.Name)
	}
	if body.Description != nil {
		next.Description = strings.TrimSpace(*body.Description)
	}
	if body.Capabilities != nil {
		next.Capabilities = body.Capabilities
	}
	caps, err := validateRole(next.Name, next.Description, next.Capabilities)
	if err != nil {
		return err
	}
	next.Capabilities = caps
	// Changing a role changes what every holder may do, so the caller must
	// hold both what the role grants now and what it will grant.
	if err := requireHolds(caller, append(slices.Clone(role.Capabilities), caps...), "change this role"); err != nil {
		return err
	}

	_, err = tx.Exec(ctx, `UPDATE roles SET name = $3, description = $4, capabilities = $5, updated_at = $6 WHERE tenant_id = $1 AND id = $2`,
		caller.TenantID, role.ID, next.Name, next.Description, next.Capabilities, h.now())
	if cerr := roleConflict(err, next.Name); cerr != nil {
		return cerr
	}
	if err != nil {
		return problem.Wrap(err, "update role")
	}
	if err := audit.Record(ctx, tx, caller.TenantID, "role.updated", "role", role.ID,
		map[string]any{"from": role, "to": next}); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, next)
	return nil
}

func (h *Handlers) deleteRole(w http.ResponseWriter, r *http.Request) error {
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	role, err := findRole(ctx, tx, caller.TenantID, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}
	if role.BuiltIn {
		return problem.New(problem.CodeConflict, "The built-in role %q cannot be deleted.", role.ID)
	}
	if err := requireHolds(caller, role.Capabilities, "delete this role"); err != nil {
		return err
	}

	var inUse int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM memberships WHERE tenant_id = $1 AND role_id = $2`, caller.TenantID, role.ID).Scan(&inUse); err != nil {
		return problem.Wrap(err, "count role holders")
	}
	if inUse > 0 {
		return problem.New(problem.CodeConflict, "Role %q is held by %d memberships; change or remove them first.", role.ID, inUse)
	}

	if _, err := tx.Exec(ctx, `DELETE FROM roles WHERE tenant_id = $1 AND id = $2`, caller.TenantID, role.ID); err != nil {
		return problem.Wrap(err, "delete role")
	}
	if err := audit.Record(ctx, tx, caller.TenantID, "role.deleted", "role", role.ID, role); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

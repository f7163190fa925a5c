package organizations

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
)

// UnitIDPrefix is the prefix of organisational unit ids.
const UnitIDPrefix = "ou"

// MaxUnitDepth bounds the tree so that paths stay short.
const MaxUnitDepth = 32

// Unit is an organisational unit. Units form a tree per tenant.
type Unit struct {
	ID       string  `json:"id" example:"ou_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Name     string  `json:"name" example:"Engineering"`
	ParentID *string `json:"parent_id"`
	// AncestorIDs lists the unit's ancestors from the root down.
	AncestorIDs []string  `json:"ancestor_ids" example:"[]"`
	Depth       int       `json:"depth"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	path        string
}

// CreateUnitRequest is the body of POST /organizations/units.
type CreateUnitRequest struct {
	Name     string  `json:"name" minLength:"1" maxLength:"200" example:"Engineering"`
	ParentID *string `json:"parent_id,omitempty"`
}

// UpdateUnitRequest is the body of PATCH /organizations/units/{id}: a new
// name renames the unit, a parent_id moves it with its subtree, and a null
// parent_id makes it a root.
type UpdateUnitRequest struct {
	Name     optional[string]  `json:"name"`
	ParentID optional[*string] `json:"parent_id"`
}

// UpdateUnitFields documents UpdateUnitRequest for the API reference.
type UpdateUnitFields struct {
	Name     *string `json:"name,omitempty" minLength:"1" maxLength:"200"`
	ParentID *string `json:"parent_id,omitempty"`
}

const unitColumns = `id, name, parent_id, path, depth, created_at, updated_at`

func scanUnit(row pgx.Row) (Unit, error) {
	var u Unit
	if err := row.Scan(&u.ID, &u.Name, &u.ParentID, &u.path, &u.Depth, &u.CreatedAt, &u.UpdatedAt); err != nil {
		return u, err
	}
	parts := strings.Split(strings.Trim(u.path, "/"), "/")
	u.AncestorIDs = parts[:len(parts)-1]
	return u, nil
}

func collectUnits(rows pgx.Rows) ([]Unit, error) {
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Unit, error) { return scanUnit(row) })
}

// getUnit returns a unit that is not being deleted; a unit being deleted is
// not found, like one of another tenant.
func getUnit(ctx context.Context, tx pgx.Tx, tenantID, id string, lock bool) (Unit, error) {
	if !ids.Valid(UnitIDPrefix, id) {
		return Unit{}, problem.NotFound("organisational unit", id)
	}
	sql := `SELECT ` + unitColumns + ` FROM org_units WHERE tenant_id = $1 AND id = $2 AND deleting_at IS NULL`
	if lock {
		sql += ` FOR UPDATE`
	}
	u, err := scanUnit(tx.QueryRow(ctx, sql, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Unit{}, problem.NotFound("organisational unit", id)
	}
	if err != nil {
		return Unit{}, problem.Wrap(err, "get organisational unit")
	}
	return u, nil
}

func unitName(fields *[]problem.FieldError, name string) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		*fields = append(*fields, problem.FieldError{Field: "name", Code: "required", Message: "is required: 1 to 200 characters"})
	case len([]rune(name)) > 200:
		*fields = append(*fields, problem.FieldError{Field: "name", Code: "too_long", Message: "must be at most 200 characters"})
	case strings.IndexFunc(name, unicode.IsControl) >= 0 || strings.Contains(name, "/"):
		*fields = append(*fields, problem.FieldError{Field: "name", Code: "invalid", Message: "must not contain control characters or '/'"})
	}
	return name
}

func siblingConflict(err error, name string) error {
	if postgres.IsUniqueViolation(err, "org_units_sibling_name_key") {
		return problem.New(problem.CodeConflict, "A unit named %q already exists under the same parent.", name)
	}
	return nil
}

func (h *Handlers) createUnit(w http.ResponseWriter, r *http.Request) error {
	var body CreateUnitRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	var fields []problem.FieldError
	name := unitName(&fields, body.Name)
	if len(fields) > 0 {
		return problem.Invalid(fields...)
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	// The tenant lock orders this insert with recursive deletes, so no unit
	// is created under a subtree while it is being marked deleting.
	if err := lockTenant(ctx, tx, caller.TenantID); err != nil {
		return err
	}

	id := ids.New(UnitIDPrefix)
	path, depth := "/"+id+"/", 0
	if body.ParentID != nil {
		parent, err := getUnit(ctx, tx, caller.TenantID, *body.ParentID, false)
		if err != nil {
			return err
		}
		if parent.Depth+1 >= MaxUnitDepth {
			return problem.New(problem.CodeConflict, "Units nest at most %d levels deep.", MaxUnitDepth)
		}
		path, depth = parent.path+id+"/", parent.Depth+1
	}
	now := h.now()
	u, err := scanUnit(tx.QueryRow(ctx, `
		INSERT INTO org_units (id, tenant_id, parent_id, name, path, depth, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING `+unitColumns,
		id, caller.TenantID, body.ParentID, name, path, depth, now))
	if cerr := siblingConflict(err, name); cerr != nil {
		return cerr
	}
	if err != nil {
		return problem.Wrap(err, "create organisational unit")
	}
	if err := audit.Record(ctx, tx, caller.TenantID, "org_unit.created", "org_unit", u.ID,
		map[string]any{"name": u.Name, "parent_id": u.ParentID}); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/organizations/units/"+u.ID)
	httpx.WriteJSON(w, http.StatusCreated, u)
	return nil
}

func (h *Handlers) getUnit(w http.ResponseWriter, r *http.Request) error {
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	u, err := getUnit(r.Context(), tx, caller.TenantID, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, u)
	return nil
}

// listUnits lists units by id, optionally only the children of parent_id or
// only the roots.
func (h *Handlers) listUnits(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	parent := r.URL.Query().Get("parent_id")
	roots := r.URL.Query().Get("roots") == "true"
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	rows, err := tx.Query(r.Context(), `
		SELECT `+unitColumns+` FROM org_units
		WHERE tenant_id = $1 AND deleting_at IS NULL AND ($2 = '' OR parent_id = $2) AND (NOT $3 OR parent_id IS NULL)
		  AND ($4 = '' OR id > $4)
		ORDER BY id LIMIT $5`, caller.TenantID, parent, roots, page.After, page.Limit+1)
	if err != nil {
		return problem.Wrap(err, "list organisational units")
	}
	units, err := collectUnits(rows)
	if err != nil {
		return problem.Wrap(err, "list organisational units")
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.NewPage(units, page, func(u Unit) string { return u.ID }))
	return nil
}

// listSubtree lists a unit and all its descendants in depth-first order, one
// range scan of the path index.
func (h *Handlers) listSubtree(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	root, err := getUnit(ctx, tx, caller.TenantID, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `
		SELECT `+unitColumns+` FROM org_units
		WHERE tenant_id = $1 AND path LIKE $2 AND deleting_at IS NULL AND ($3 = '' OR path > $3)
		ORDER BY path LIMIT $4`, caller.TenantID, likePrefix(root.path), page.After, page.Limit+1)
	if err != nil {
		return problem.Wrap(err, "list subtree")
	}
	units, err := collectUnits(rows)
	if err != nil {
		return problem.Wrap(err, "list subtree")
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.NewPage(units, page, func(u Unit) string { return u.path }))
	return nil
}

// likePrefix returns a LIKE pattern matching every string that starts with
// path. Ids contain no LIKE wildcards, but the escaping keeps the pattern
// correct without relying on that.
func likePrefix(path string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(path) + "%"
}

func (h *Handlers) updateUnit(w http.ResponseWriter, r *http.Request) error {
	var body UpdateUnitRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	var fields []problem.FieldError
	var name string
	if body.Name.Set {
		if body.Name.Null {
			fields = append(fields, problem.FieldError{Field: "name", Code: "required", Message: "cannot be null"})
		}
		name = unitName(&fields, body.Name.Value)
	}
	if len(fields) > 0 {
		return problem.Invalid(fields...)
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	// Moves lock the tenant, so two concurrent moves cannot each pass the
	// cycle check against the other's old position.
	if err := lockTenant(ctx, tx, caller.TenantID); err != nil {
		return err
	}
	u, err := getUnit(ctx, tx, caller.TenantID, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}

	now := h.now()
	if body.Name.Set && name != u.Name {
		_, err := tx.Exec(ctx, `UPDATE org_units SET name = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2`, caller.TenantID, u.ID, name, now)
		if cerr := siblingConflict(err, name); cerr != nil {
			return cerr
		}
		if err != nil {
			return problem.Wrap(err, "rename organisational unit")
		}
		if err := audit.Record(ctx, tx, caller.TenantID, "org_unit.renamed", "org_unit", u.ID,
			map[string]any{"from": u.Name, "to": name}); err != nil {
			return err
		}
		u.Name = name
	}
	if body.ParentID.Set {
		if err := h.move(ctx, tx, caller.TenantID, u, body.ParentID.Value, now); err != nil {
			return err
		}
	}

	u, err = getUnit(ctx, tx, caller.TenantID, u.ID, false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, u)
	return nil
}

// move puts u and its subtree under newParent (nil: make it a root). A unit
// cannot move under itself or one of its descendants.
func (h *Handlers) move(ctx context.Context, tx pgx.Tx, tenantID string, u Unit, newParent *string, now time.Time) error {
	if newParent != nil && *newParent == "" {
		newParent = nil
	}
	samePlace := (newParent == nil && u.ParentID == nil) || (newParent != nil && u.ParentID != nil && *newParent == *u.ParentID)
	if samePlace {
		return nil
	}
	newPath, newDepth := "/"+u.ID+"/", 0
	if newParent != nil {
		parent, err := getUnit(ctx, tx, tenantID, *newParent, false)
		if err != nil {
			return err
		}
		if strings.HasPrefix(parent.path, u.path) {
			return problem.New(problem.CodeConflict, "Unit %q cannot move under %q: that is the unit itself or one of its descendants.", u.ID, parent.ID)
		}
		newPath, newDepth = parent.path+u.ID+"/", parent.Depth+1
	}

	var maxDepth int
	if err := tx.QueryRow(ctx, `SELECT max(depth) FROM org_units WHERE tenant_id = $1 AND path LIKE $2`,
		tenantID, likePrefix(u.path)).Scan(&maxDepth); err != nil {
		return problem.Wrap(err, "measure subtree")
	}
	delta := newDepth - u.Depth
	if maxDepth+delta >= MaxUnitDepth {
		return problem.New(problem.CodeConflict, "Units nest at most %d levels deep; this move would nest %d.", MaxUnitDepth, maxDepth+delta+1)
	}

	if _, err := tx.Exec(ctx, `
		UPDATE org_units SET path = $3 || substr(path, length($4) + 1), depth = depth + $5, updated_at = $6
		WHERE tenant_id = $1 AND path LIKE $2`,
		tenantID, likePrefix(u.path), newPath, u.path, delta, now); err != nil {
		return problem.Wrap(err, "rewrite subtree paths")
	}
	_, err := tx.Exec(ctx, `UPDATE org_units SET parent_id = $3 WHERE tenant_id = $1 AND id = $2`, tenantID, u.ID, newParent)
	if cerr := siblingConflict(err, u.Name); cerr != nil {
		return cerr
	}
	if err != nil {
		return problem.Wrap(err, "move organisational unit")
	}
	return audit.Record(ctx, tx, tenantID, "org_unit.moved", "org_unit", u.ID,
		map[string]any{"from_parent_id": u.ParentID, "to_parent_id": newParent})
}

// deleteUnit deletes an empty unit at once (204). With recursive=true it
// marks the subtree as being deleted and queues the job that removes it
// (202 with the deletion to poll).
func (h *Handlers) deleteUnit(w http.ResponseWriter, r *http.Request) error {
	recursive := r.URL.Query().Get("recursive") == "true"
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := lockTenant(ctx, tx, caller.TenantID); err != nil {
		return err
	}
	u, err := getUnit(ctx, tx, caller.TenantID, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}
	size, err := measureSubtree(ctx, tx, caller.TenantID, u)
	if err != nil {
		return err
	}

	if recursive {
		d, err := h.startDeletion(ctx, tx, caller, u, size)
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, caller.TenantID, "org_unit.deleted", "org_unit", u.ID,
			map[string]any{"name": u.Name, "recursive": true, "deletion_id": d.ID,
				"units": d.TotalUnits, "memberships": d.TotalMemberships}); err != nil {
			return err
		}
		w.Header().Set("Location", "/api/organizations/unit-deletions/"+d.ID)
		httpx.WriteJSON(w, http.StatusAccepted, d)
		return nil
	}

	if size.units > 1 || size.memberships > 0 {
		return problem.New(problem.CodeConflict,
			"Unit %q has %d sub-units and %d memberships. Remove them first, or delete with ?recursive=true.", u.ID, size.units-1, size.memberships)
	}
	if size.deletingUnits > 0 {
		return problem.New(problem.CodeConflict,
			"Unit %q still has %d sub-units that a running deletion is removing. Wait for it to complete, or delete with ?recursive=true.", u.ID, size.deletingUnits)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM org_units WHERE tenant_id = $1 AND id = $2`, caller.TenantID, u.ID); err != nil {
		return problem.Wrap(err, "delete organisational unit")
	}
	if err := audit.Record(ctx, tx, caller.TenantID, "org_unit.deleted", "org_unit", u.ID,
		map[string]any{"name": u.Name, "recursive": false}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

package organizations

import (
	"net/http"
	"strings"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/registry"
)

// SignInSettings link the tenant to its identity provider directory.
type SignInSettings struct {
	// EntraTenantID is the directory whose tokens sign people in to this
	// tenant: the value of the token's tenant claim ("tid" for Entra ID).
	EntraTenantID *string `json:"entra_tenant_id" example:"72f988bf-86f1-41af-91ab-2d7cd011db47"`
	// AutoProvisionUsers creates a user, with no memberships, for anyone of
	// that directory who signs in without an invitation.
	AutoProvisionUsers bool `json:"auto_provision_users"`
}

// UpdateSignInRequest is the body of PATCH /organizations/sign-in.
type UpdateSignInRequest struct {
	EntraTenantID      optional[string] `json:"entra_tenant_id"`
	AutoProvisionUsers optional[bool]   `json:"auto_provision_users"`
}

// UpdateSignInFields documents UpdateSignInRequest for the API reference.
type UpdateSignInFields struct {
	EntraTenantID      *string `json:"entra_tenant_id,omitempty" maxLength:"200"`
	AutoProvisionUsers *bool   `json:"auto_provision_users,omitempty"`
}

func (h *Handlers) getSignIn(w http.ResponseWriter, r *http.Request) error {
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	var s SignInSettings
	if err := tx.QueryRow(r.Context(), `SELECT entra_tenant_id, auto_provision_users FROM tenants WHERE id = $1`, caller.TenantID).
		Scan(&s.EntraTenantID, &s.AutoProvisionUsers); err != nil {
		return problem.Wrap(err, "read sign-in settings")
	}
	httpx.WriteJSON(w, http.StatusOK, s)
	return nil
}

// updateSignIn changes the tenant's sign-in settings. The linked directory
// controls the tenant's users, so only a caller with every capability may
// change it.
func (h *Handlers) updateSignIn(w http.ResponseWriter, r *http.Request) error {
	var body UpdateSignInRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	if body.EntraTenantID.Set && !body.EntraTenantID.Null {
		v := strings.TrimSpace(body.EntraTenantID.Value)
		if v == "" || len(v) > 200 {
			return problem.Invalid(problem.FieldError{Field: "entra_tenant_id", Code: "invalid", Message: "must be 1 to 200 characters, or null to unlink"})
		}
		body.EntraTenantID.Value = v
	}
	if body.AutoProvisionUsers.Set && body.AutoProvisionUsers.Null {
		return problem.Invalid(problem.FieldError{Field: "auto_provision_users", Code: "invalid", Message: "must be true or false"})
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := requireHolds(caller, registry.CapabilityNames(), "change the tenant's sign-in settings"); err != nil {
		return err
	}

	var before, after SignInSettings
	if err := tx.QueryRow(ctx, `SELECT entra_tenant_id, auto_provision_users FROM tenants WHERE id = $1 FOR UPDATE`, caller.TenantID).
		Scan(&before.EntraTenantID, &before.AutoProvisionUsers); err != nil {
		return problem.Wrap(err, "read sign-in settings")
	}
	after = before
	if body.EntraTenantID.Set {
		after.EntraTenantID = nil
		if !body.EntraTenantID.Null {
			after.EntraTenantID = &body.EntraTenantID.Value
		}
	}
	if body.AutoProvisionUsers.Set {
		after.AutoProvisionUsers = body.AutoProvisionUsers.Value
	}
	_, err = tx.Exec(ctx, `UPDATE tenants SET entra_tenant_id = $2, auto_provision_users = $3 WHERE id = $1`,
		caller.TenantID, after.EntraTenantID, after.AutoProvisionUsers)
	if postgres.IsUniqueViolation(err, "tenants_entra_tenant_id_key") {
		return problem.New(problem.CodeConflict, "That directory is already linked to another tenant.")
	}
	if err != nil {
		return problem.Wrap(err, "update sign-in settings")
	}
	if err := audit.Record(ctx, tx, caller.TenantID, "tenant.sign_in_changed", "tenant", caller.TenantID,
		map[string]any{"from": before, "to": after}); err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, after)
	return nil
}

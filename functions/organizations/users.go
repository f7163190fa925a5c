package organizations

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/apikeys"
	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/rbac"
	"github.com/booga-enterprise/functions/shared/request"
)

// User status values.
const (
	StatusPending     = "pending"
	StatusActive      = "active"
	StatusDeactivated = "deactivated"
)

// User is a person of the tenant.
type User struct {
	ID          string `json:"id" example:"usr_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Email       string `json:"email" example:"ada@example.com"`
	DisplayName string `json:"display_name" example:"Ada Lovelace"`
	Status      string `json:"status" enum:"pending,active,deactivated"`
	// SignedIn is true once the user has signed in and is linked to their
	// identity provider account.
	SignedIn      bool       `json:"signed_in"`
	LastSignInAt  *time.Time `json:"last_sign_in_at"`
	DeactivatedAt *time.Time `json:"deactivated_at"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// InviteRequest is the body of POST /organizations/users.
type InviteRequest struct {
	Email       string `json:"email" example:"ada@example.com" maxLength:"320"`
	DisplayName string `json:"display_name,omitempty" maxLength:"200"`
}

// UpdateUserRequest is the body of PATCH /organizations/users/{id}. Setting
// status to deactivated ends the user's sessions and revokes the API keys
// they created; setting it back to active lets them sign in again.
type UpdateUserRequest struct {
	DisplayName *string `json:"display_name,omitempty" maxLength:"200"`
	Status      *string `json:"status,omitempty" enum:"active,deactivated"`
}

const userColumns = `id, email, display_name, status, external_id IS NOT NULL, last_sign_in_at, deactivated_at, created_at, updated_at`

func scanUser(row pgx.Row) (User, error) {
	var u User
	err := row.Scan(&u.ID, &u.Email, &u.DisplayName, &u.Status, &u.SignedIn, &u.LastSignInAt, &u.DeactivatedAt, &u.CreatedAt, &u.UpdatedAt)
	return u, err
}

func getUser(ctx context.Context, tx pgx.Tx, tenantID, id string, lock bool) (User, error) {
	if !ids.Valid(ids.User, id) {
		return User{}, problem.NotFound("user", id)
	}
	sql := `SELECT ` + userColumns + ` FROM users WHERE tenant_id = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	u, err := scanUser(tx.QueryRow(ctx, sql, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, problem.NotFound("user", id)
	}
	if err != nil {
		return User{}, problem.Wrap(err, "get user")
	}
	return u, nil
}

func (h *Handlers) listUsers(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	status := q.Get("status")
	if status != "" && status != StatusPending && status != StatusActive && status != StatusDeactivated {
		return problem.Invalid(problem.FieldError{Field: "status", Code: "invalid", Message: "must be pending, active or deactivated, got " + fmt.Sprintf("%q", status)})
	}
	search := strings.ToLower(strings.TrimSpace(q.Get("q")))
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}

	rows, err := tx.Query(r.Context(), `
		SELECT `+userColumns+` FROM users
		WHERE tenant_id = $1 AND ($2 = '' OR status = $2)
		  AND ($3 = '' OR strpos(lower(email), $3) > 0 OR strpos(lower(display_name), $3) > 0)
		  AND ($4 = '' OR id < $4)
		ORDER BY id DESC LIMIT $5`, caller.TenantID, status, search, page.After, page.Limit+1)
	if err != nil {
		return problem.Wrap(err, "list users")
	}
	users, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (User, error) { return scanUser(row) })
	if err != nil {
		return problem.Wrap(err, "list users")
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.NewPage(users, page, func(u User) string { return u.ID }))
	return nil
}

func (h *Handlers) getUser(w http.ResponseWriter, r *http.Request) error {
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	u, err := getUser(r.Context(), tx, caller.TenantID, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, u)
	return nil
}

func (h *Handlers) userPermissions(w http.ResponseWriter, r *http.Request) error {
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	u, err := getUser(r.Context(), tx, caller.TenantID, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	perms, err := rbac.UserPermissions(r.Context(), tx, caller.TenantID, u.ID)
	if err != nil {
		return problem.Wrap(err, "compute permissions")
	}
	httpx.WriteJSON(w, http.StatusOK, perms)
	return nil
}

func validateDisplayName(v *[]problem.FieldError, name string) string {
	name = strings.TrimSpace(name)
	switch {
	case len([]rune(name)) > 200:
		*v = append(*v, problem.FieldError{Field: "display_name", Code: "too_long", Message: "must be at most 200 characters"})
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		*v = append(*v, problem.FieldError{Field: "display_name", Code: "invalid", Message: "must not contain control characters"})
	}
	return name
}

func (h *Handlers) inviteUser(w http.ResponseWriter, r *http.Request) error {
	var body InviteRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	var fields []problem.FieldError
	email := strings.ToLower(strings.TrimSpace(body.Email))
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 320 {
		fields = append(fields, problem.FieldError{Field: "email", Code: "invalid", Message: fmt.Sprintf("must be a plain email address such as ada@example.com, got %q", body.Email)})
	}
	name := validateDisplayName(&fields, body.DisplayName)
	if len(fields) > 0 {
		return problem.Invalid(fields...)
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()

	now := h.now()
	u, err := scanUser(tx.QueryRow(ctx, `
		INSERT INTO users (id, tenant_id, email, display_name, status, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'pending', $5, $5)
		RETURNING `+userColumns, ids.New(ids.User), caller.TenantID, email, name, now))
	if postgres.IsUniqueViolation(err, "users_tenant_id_email_key") {
		return problem.New(problem.CodeConflict, "A user with the address %s already exists in this tenant.", email)
	}
	if err != nil {
		return problem.Wrap(err, "invite user")
	}
	data := map[string]any{"user_id": u.ID, "email": u.Email, "status": u.Status, "source": "invitation"}
	if err := audit.Record(ctx, tx, caller.TenantID, "user.invited", "user", u.ID, data); err != nil {
		return err
	}
	if _, err := events.Emit(ctx, tx, caller.TenantID, EventUserCreated, data); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/organizations/users/"+u.ID)
	httpx.WriteJSON(w, http.StatusCreated, u)
	return nil
}

func (h *Handlers) updateUser(w http.ResponseWriter, r *http.Request) error {
	var body UpdateUserRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	var fields []problem.FieldError
	var name string
	if body.DisplayName != nil {
		name = validateDisplayName(&fields, *body.DisplayName)
	}
	if body.Status != nil && *body.Status != StatusActive && *body.Status != StatusDeactivated {
		fields = append(fields, problem.FieldError{Field: "status", Code: "invalid", Message: fmt.Sprintf("must be active or deactivated, got %q", *body.Status)})
	}
	if len(fields) > 0 {
		return problem.Invalid(fields...)
	}
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if err := lockTenant(ctx, tx, caller.TenantID); err != nil {
		return err
	}
	u, err := getUser(ctx, tx, caller.TenantID, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}
	if err := requireMayChangeUser(ctx, tx, caller, u.ID, "change this user"); err != nil {
		return err
	}

	now := h.now()
	if body.DisplayName != nil && name != u.DisplayName {
		if _, err := tx.Exec(ctx, `UPDATE users SET display_name = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2`,
			caller.TenantID, u.ID, name, now); err != nil {
			return problem.Wrap(err, "update user")
		}
		if err := audit.Record(ctx, tx, caller.TenantID, "user.updated", "user", u.ID,
			map[string]any{"display_name": map[string]string{"from": u.DisplayName, "to": name}}); err != nil {
			return err
		}
	}
	if body.Status != nil && *body.Status != u.Status {
		switch *body.Status {
		case StatusDeactivated:
			err = h.deactivate(ctx, tx, caller.TenantID, u, now)
		case StatusActive:
			err = h.reactivate(ctx, tx, caller.TenantID, u, now)
		}
		if err != nil {
			return err
		}
	}

	u, err = getUser(ctx, tx, caller.TenantID, u.ID, false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, u)
	return nil
}

// deactivate ends the user's sessions and revokes the API keys they
// created. A session is a bearer token from the identity provider, which
// this platform cannot recall, so tokens issued at or before now are
// rejected from here on through tokens_valid_after.
func (h *Handlers) deactivate(ctx context.Context, tx pgx.Tx, tenantID string, u User, now time.Time) error {
	var revoked []string
	err := keepOwner(ctx, tx, tenantID, func() error {
		if _, err := tx.Exec(ctx, `
			UPDATE users SET status = 'deactivated', deactivated_at = $3, tokens_valid_after = $3, updated_at = $3
			WHERE tenant_id = $1 AND id = $2`, tenantID, u.ID, now); err != nil {
			return problem.Wrap(err, "deactivate user")
		}
		rows, err := tx.Query(ctx, `
			UPDATE api_keys SET revoked_at = $3, updated_at = $3
			WHERE tenant_id = $1 AND created_by = $2 AND revoked_at IS NULL RETURNING id`, tenantID, u.ID, now)
		if err != nil {
			return problem.Wrap(err, "revoke keys of deactivated user")
		}
		revoked, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return problem.Wrap(err, "revoke keys of deactivated user")
		}
		return nil
	})
	if err != nil {
		return err
	}

	for _, keyID := range revoked {
		if err := audit.Record(ctx, tx, tenantID, "api_key.revoked", "api_key", keyID,
			map[string]any{"reason": "creator_deactivated", "user_id": u.ID}); err != nil {
			return err
		}
	}
	data := map[string]any{"user_id": u.ID, "email": u.Email, "revoked_key_ids": nonNil(revoked)}
	if err := audit.Record(ctx, tx, tenantID, "user.deactivated", "user", u.ID, data); err != nil {
		return err
	}
	if _, err := events.Emit(ctx, tx, tenantID, EventUserDeactivated, data); err != nil {
		return err
	}
	if h.Keys != nil {
		request.OnCommit(ctx, func(ctx context.Context) {
			for _, keyID := range revoked {
				h.Keys.Invalidate(ctx, keyID, true)
			}
		})
	}
	return nil
}

// reactivate lets a deactivated user sign in again. Tokens issued before the
// deactivation stay rejected, and revoked keys stay revoked.
func (h *Handlers) reactivate(ctx context.Context, tx pgx.Tx, tenantID string, u User, now time.Time) error {
	if u.Status == StatusPending {
		return problem.New(problem.CodeConflict, "User %q has not accepted the invitation yet; they become active on first sign-in.", u.ID)
	}
	if _, err := tx.Exec(ctx, `
		UPDATE users SET status = 'active', deactivated_at = NULL, updated_at = $3
		WHERE tenant_id = $1 AND id = $2`, tenantID, u.ID, now); err != nil {
		return problem.Wrap(err, "reactivate user")
	}
	return audit.Record(ctx, tx, tenantID, "user.reactivated", "user", u.ID, map[string]any{"user_id": u.ID})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// optional aliases the merge-patch field type of the API-key endpoints.
type optional[T any] = apikeys.Optional[T]

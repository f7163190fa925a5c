package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/identity/oidctest"
	"github.com/booga-enterprise/functions/shared/request"
	"github.com/booga-enterprise/functions/shared/tenancy"
)

const testAudience = "api://booga-test"

// orgWorld is a platform with user sign-in against a local issuer and one
// corporate tenant linked to the directory "dir-acme".
type orgWorld struct {
	*testPlatform
	tt     *testing.T
	issuer *oidctest.Issuer
	acme   tenancy.Created
}

func newOrgWorld(t *testing.T) *orgWorld {
	t.Helper()
	issuer := oidctest.New(t)
	p := newTestPlatform(t, map[string]string{"OIDC_ISSUER": issuer.URL(), "OIDC_AUDIENCE": testAudience})
	w := &orgWorld{testPlatform: p, tt: t, issuer: issuer, acme: p.tenant("Acme")}
	res := p.do("PATCH", "/api/organizations/sign-in", w.acme.APIKey, map[string]any{"entra_tenant_id": "dir-acme"})
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	return w
}

// token signs a valid token for a person of directory.
func (w *orgWorld) token(directory, subject, email string) string {
	return w.issuer.Sign(w.issuer.Claims(testAudience, directory, subject, email, w.clock()))
}

// invite creates a pending user in Acme and returns its id.
func (w *orgWorld) invite(email string) string {
	w.tt.Helper()
	res := w.do("POST", "/api/organizations/users", w.acme.APIKey, map[string]any{"email": email})
	require.Equal(w.tt, http.StatusCreated, res.Status, "body: %s", res.Body)
	return res.json(w.tt)["id"].(string)
}

// unit creates a unit under parent ("" for a root) and returns its id.
func (w *orgWorld) unit(key, name, parent string) string {
	w.tt.Helper()
	body := map[string]any{"name": name}
	if parent != "" {
		body["parent_id"] = parent
	}
	res := w.do("POST", "/api/organizations/units", key, body)
	require.Equal(w.tt, http.StatusCreated, res.Status, "body: %s", res.Body)
	return res.json(w.tt)["id"].(string)
}

func (w *orgWorld) grant(key, unitID, userID, role string) response {
	w.tt.Helper()
	return w.do("PUT", "/api/organizations/units/"+unitID+"/members/"+userID, key, map[string]any{"role_id": role})
}

// member invites a person, gives them role in unitID with the admin key and
// signs them in, returning the user id and a token.
func (w *orgWorld) member(email, role, unitID string) (string, string) {
	w.tt.Helper()
	id := w.invite(email)
	res := w.grant(w.acme.APIKey, unitID, id, role)
	require.Equal(w.tt, http.StatusCreated, res.Status, "body: %s", res.Body)
	return id, w.token("dir-acme", "oid-"+email, email)
}

func TestUserAuth_Rejections(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	root := w.unit(w.acme.APIKey, "Root", "")
	_, good := w.member("ada@acme.test", "admin", root)
	res := w.do("GET", "/api/organizations/users", good, nil)
	require.Equal(t, http.StatusOK, res.Status, "the valid token works: %s", res.Body)

	now := w.clock()
	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := w.issuer.Claims(testAudience, "dir-acme", "oid-ada@acme.test", "ada@acme.test", now)
		edit(c)
		return c
	}
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)

	cases := []struct {
		name, token, detail string
	}{
		{"Expired", w.issuer.Sign(claims(func(c jwt.MapClaims) {
			c["iat"], c["exp"] = now.Add(-3*time.Hour).Unix(), now.Add(-2*time.Hour).Unix()
		})), "expired"},
		{"WrongAudience", w.issuer.Sign(claims(func(c jwt.MapClaims) { c["aud"] = "api://someone-else" })), "audience"},
		{"WrongIssuer", w.issuer.Sign(claims(func(c jwt.MapClaims) { c["iss"] = "https://evil.example/" })), "issued by"},
		{"AlgNone", oidctest.Unsigned(t, claims(func(jwt.MapClaims) {})), "algorithm"},
		{"HMACConfusion", oidctest.HS256(t, []byte("public key as secret"), w.issuer.KeyID(), claims(func(jwt.MapClaims) {})), "algorithm"},
		{"UnknownKey", oidctest.SignWith(t, stranger, "kid-nobody-publishes", claims(func(jwt.MapClaims) {})), "key"},
		{"ForgedSignature", oidctest.SignWith(t, stranger, w.issuer.KeyID(), claims(func(jwt.MapClaims) {})), "signature"},
		{"NotYetValid", w.issuer.Sign(claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })), "not valid yet"},
		{"NoExpiry", w.issuer.Sign(claims(func(c jwt.MapClaims) { delete(c, "exp") })), "exp"},
		{"Malformed", "abc.def.ghi", "well-formed"},
		{"UnlinkedDirectory", w.issuer.Sign(claims(func(c jwt.MapClaims) { c["tid"] = "dir-unknown" })), "not linked"},
		{"NoSubject", w.issuer.Sign(claims(func(c jwt.MapClaims) { delete(c, "oid") })), "oid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := w.do("GET", "/api/organizations/users", tc.token, nil)
			require.Equal(t, http.StatusUnauthorized, res.Status, "body: %s", res.Body)
			require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			require.Contains(t, res.json(t)["detail"], tc.detail)
			require.NotEmpty(t, res.Header.Get("WWW-Authenticate"))
		})
	}
}

func TestUserAuth_KeyRotationWithoutRestart(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	root := w.unit(w.acme.APIKey, "Root", "")
	_, before := w.member("ada@acme.test", "viewer", root)
	res := w.do("GET", "/api/organizations/users", before, nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	fetches := w.issuer.JWKSFetches.Load()

	w.issuer.Rotate()
	after := w.token("dir-acme", "oid-ada@acme.test", "ada@acme.test")
	res = w.do("GET", "/api/organizations/users", after, nil)
	require.Equal(t, http.StatusOK, res.Status, "a token signed with the new key is accepted: %s", res.Body)
	require.Greater(t, w.issuer.JWKSFetches.Load(), fetches, "the unknown key id made the validator fetch the key set again")

	res = w.do("GET", "/api/organizations/users", before, nil)
	require.Equal(t, http.StatusUnauthorized, res.Status, "the retired key is gone from the refreshed set: %s", res.Body)
}

func TestUsers_InviteSignInDeactivate(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	root := w.unit(w.acme.APIKey, "Root", "")
	adaID, ada := w.member("ada@acme.test", "admin", root)

	res := w.do("GET", "/api/organizations/users/"+adaID, w.acme.APIKey, nil)
	require.Equal(t, "pending", res.json(t)["status"], "invited users are pending until they sign in")
	res = w.do("GET", "/api/organizations/users?status=pending", ada, nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	require.Empty(t, res.json(t)["data"], "signing in made the invited user active")
	res = w.do("GET", "/api/organizations/users/"+adaID, ada, nil)
	require.Equal(t, "active", res.json(t)["status"])
	require.Equal(t, true, res.json(t)["signed_in"])

	// A user creates a key: created_by is the user, and extra scopes fail.
	res = w.do("POST", "/api/api-management/keys", ada, map[string]any{"name": "ada's", "scopes": []string{"api_keys:read", "files:read"}})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	require.Equal(t, adaID, res.json(t)["created_by"])
	adaKey := res.json(t)["api_key"].(string)
	require.Equal(t, http.StatusOK, w.do("GET", "/api/api-management/keys/current", adaKey, nil).Status)

	bobID, bob := w.member("bob@acme.test", "viewer", root)
	require.Equal(t, http.StatusOK, w.do("GET", "/api/organizations/users", bob, nil).Status)

	// Deactivation by the admin user: Bob's token and keys stop working.
	res = w.do("PATCH", "/api/organizations/users/"+bobID, ada, map[string]any{"status": "deactivated"})
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	res = w.do("GET", "/api/organizations/users", bob, nil)
	require.Equal(t, http.StatusUnauthorized, res.Status)
	require.Contains(t, res.json(t)["detail"], "deactivated")

	res = w.do("PATCH", "/api/organizations/users/"+adaID, w.acme.APIKey, map[string]any{"status": "deactivated"})
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	require.Equal(t, http.StatusUnauthorized, w.do("GET", "/api/api-management/keys/current", adaKey, nil).Status,
		"the key Ada created is revoked with her")

	// Reactivation: the old token stays dead, a new one works.
	w.advance(2 * time.Second)
	res = w.do("PATCH", "/api/organizations/users/"+adaID, w.acme.APIKey, map[string]any{"status": "active"})
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	res = w.do("GET", "/api/organizations/users", ada, nil)
	require.Equal(t, http.StatusUnauthorized, res.Status)
	require.Contains(t, res.json(t)["detail"], "revoked")
	fresh := w.token("dir-acme", "oid-ada@acme.test", "ada@acme.test")
	require.Equal(t, http.StatusOK, w.do("GET", "/api/organizations/users", fresh, nil).Status)

	// The audit log and the outbox hold the changes.
	res = w.do("GET", "/api/organizations/audit-log?target_id="+adaID, w.acme.APIKey, nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var actions []string
	for _, e := range res.json(t)["data"].([]any) {
		actions = append(actions, e.(map[string]any)["action"].(string))
	}
	require.Equal(t, []string{"user.reactivated", "user.deactivated", "user.invited"}, actions)
	res = w.do("GET", "/api/organizations/audit-log?action=api_key.created", w.acme.APIKey, nil)
	entry := res.json(t)["data"].([]any)[0].(map[string]any)
	require.Equal(t, adaID, entry["actor_id"])
	require.Equal(t, "user", entry["actor_kind"])

	counts := map[string]int{}
	require.NoError(t, postgres.InTenant(context.Background(), w.app.pool, w.acme.ID, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT type, count(*) FROM events GROUP BY type`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var typ string
			var n int
			if err := rows.Scan(&typ, &n); err != nil {
				return err
			}
			counts[typ] = n
		}
		return rows.Err()
	}))
	require.Equal(t, 2, counts["user.created"])
	require.Equal(t, 2, counts["user.deactivated"])
	require.Equal(t, 2, counts["membership.changed"])
}

func TestUsers_AutoProvisionOnFirstSignIn(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	stranger := w.token("dir-acme", "oid-new", "new@acme.test")
	res := w.do("GET", "/api/organizations/users", stranger, nil)
	require.Equal(t, http.StatusForbidden, res.Status, "body: %s", res.Body)
	require.Contains(t, res.json(t)["detail"], "invite")

	res = w.do("PATCH", "/api/organizations/sign-in", w.acme.APIKey, map[string]any{"auto_provision_users": true})
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	res = w.do("GET", "/api/organizations/users", stranger, nil)
	require.Equal(t, http.StatusForbidden, res.Status, "a provisioned user has no memberships, so no capabilities")
	require.Contains(t, res.json(t)["detail"], "users:read")

	res = w.do("GET", "/api/organizations/users?q=new@acme", w.acme.APIKey, nil)
	users := res.json(t)["data"].([]any)
	require.Len(t, users, 1)
	require.Equal(t, "active", users[0].(map[string]any)["status"])
}

func TestRoles_PrivilegeEscalationFails(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	root := w.unit(w.acme.APIKey, "Root", "")
	ownerID, owner := w.member("owner@acme.test", "owner", root)
	adminID, admin := w.member("admin@acme.test", "admin", root)
	memberID, member := w.member("member@acme.test", "member", root)
	require.Equal(t, http.StatusOK, w.do("GET", "/api/organizations/users", owner, nil).Status)

	t.Run("SelfPromotion", func(t *testing.T) {
		res := w.grant(member, root, memberID, "admin")
		require.Equal(t, http.StatusForbidden, res.Status, "body: %s", res.Body)
	})
	t.Run("CustomRoleSelfPromotion", func(t *testing.T) {
		res := w.do("POST", "/api/organizations/roles", w.acme.APIKey, map[string]any{
			"name": "Key maker", "capabilities": []string{"api_keys:manage", "files:read", "organizations:manage"}})
		require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
		roleID := res.json(t)["id"].(string)
		keyMaker := w.invite("keys@acme.test")
		require.Equal(t, http.StatusCreated, w.grant(w.acme.APIKey, root, keyMaker, roleID).Status)
		token := w.token("dir-acme", "oid-keys@acme.test", "keys@acme.test")

		res = w.do("POST", "/api/api-management/keys", token, map[string]any{"name": "wide", "scopes": []string{"files:read", "files:write"}})
		require.Equal(t, http.StatusForbidden, res.Status, "a key with scopes the user lacks: %s", res.Body)
		res = w.do("PATCH", "/api/organizations/roles/"+roleID, token, map[string]any{"capabilities": []string{"api_keys:manage", "files:read", "organizations:manage", "users:manage"}})
		require.Equal(t, http.StatusForbidden, res.Status, "widening one's own role: %s", res.Body)
		res = w.grant(token, root, keyMaker, "admin")
		require.Equal(t, http.StatusForbidden, res.Status, "granting oneself a higher role: %s", res.Body)
	})
	t.Run("AdminGrantsOwner", func(t *testing.T) {
		res := w.grant(admin, root, memberID, "owner")
		require.Equal(t, http.StatusForbidden, res.Status, "body: %s", res.Body)
		require.Contains(t, res.json(t)["detail"], "owner")
	})
	t.Run("AdminDemotesOwner", func(t *testing.T) {
		res := w.grant(admin, root, ownerID, "viewer")
		require.Equal(t, http.StatusForbidden, res.Status, "body: %s", res.Body)
		res = w.do("PATCH", "/api/organizations/users/"+ownerID, admin, map[string]any{"status": "deactivated"})
		require.Equal(t, http.StatusForbidden, res.Status, "body: %s", res.Body)
	})
	t.Run("KeyGrantsOwnerOnceOwned", func(t *testing.T) {
		res := w.grant(w.acme.APIKey, root, adminID, "owner")
		require.Equal(t, http.StatusForbidden, res.Status, "keys name only the first owner: %s", res.Body)
	})
	t.Run("LastOwnerRemoval", func(t *testing.T) {
		res := w.do("DELETE", "/api/organizations/units/"+root+"/members/"+ownerID, owner, nil)
		require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
		res = w.grant(owner, root, ownerID, "admin")
		require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
		res = w.do("PATCH", "/api/organizations/users/"+ownerID, owner, map[string]any{"status": "deactivated"})
		require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
		res = w.do("DELETE", "/api/organizations/units/"+root+"?recursive=true", owner, nil)
		require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)

		// With a second owner, the first may step down.
		require.Equal(t, http.StatusOK, w.grant(owner, root, adminID, "owner").Status)
		res = w.do("DELETE", "/api/organizations/units/"+root+"/members/"+ownerID, owner, nil)
		require.Equal(t, http.StatusNoContent, res.Status, "body: %s", res.Body)
	})
	t.Run("MoveUnderOwnDescendant", func(t *testing.T) {
		a := w.unit(admin, "A", "")
		b := w.unit(admin, "B", a)
		c := w.unit(admin, "C", b)
		for _, target := range []string{a, c} {
			res := w.do("PATCH", "/api/organizations/units/"+a, admin, map[string]any{"parent_id": target})
			require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
		}
	})
	_ = admin
}

func TestUnits_TreeAndMembers(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	key := w.acme.APIKey
	eng := w.unit(key, "Engineering", "")
	platform := w.unit(key, "Platform", eng)
	db := w.unit(key, "Databases", platform)
	sales := w.unit(key, "Sales", "")
	res := w.do("POST", "/api/organizations/units", key, map[string]any{"name": "Platform", "parent_id": eng})
	require.Equal(t, http.StatusConflict, res.Status, "sibling names are unique")

	subtree := func(id string) []string {
		res := w.do("GET", "/api/organizations/units/"+id+"/subtree", key, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		var out []string
		for _, u := range res.json(t)["data"].([]any) {
			out = append(out, u.(map[string]any)["name"].(string))
		}
		return out
	}
	require.Equal(t, []string{"Engineering", "Platform", "Databases"}, subtree(eng))

	// Move Platform (with Databases) under Sales.
	res = w.do("PATCH", "/api/organizations/units/"+platform, key, map[string]any{"parent_id": sales, "name": "Sales platform"})
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	require.Equal(t, []string{"Engineering"}, subtree(eng))
	require.Equal(t, []string{"Sales", "Sales platform", "Databases"}, subtree(sales))
	res = w.do("GET", "/api/organizations/units/"+db, key, nil)
	require.Equal(t, []any{sales, platform}, res.json(t)["ancestor_ids"])
	require.InDelta(t, 2, res.json(t)["depth"], 0)

	ada := w.invite("ada@acme.test")
	require.Equal(t, http.StatusCreated, w.grant(key, db, ada, "member").Status)
	require.Equal(t, http.StatusCreated, w.grant(key, sales, ada, "viewer").Status)
	res = w.do("GET", "/api/organizations/units/"+sales+"/members", key, nil)
	require.Len(t, res.json(t)["data"], 1)
	res = w.do("GET", "/api/organizations/units/"+sales+"/members?include_subunits=true", key, nil)
	require.Len(t, res.json(t)["data"], 2)
	res = w.do("GET", "/api/organizations/users/"+ada+"/memberships", key, nil)
	require.Len(t, res.json(t)["data"], 2)
	res = w.do("GET", "/api/organizations/users/"+ada+"/permissions", key, nil)
	require.Contains(t, res.json(t)["capabilities"], "files:write")
	require.NotContains(t, res.json(t)["capabilities"], "users:manage")

	res = w.do("DELETE", "/api/organizations/units/"+sales, key, nil)
	require.Equal(t, http.StatusConflict, res.Status, "a non-empty unit needs recursive=true")
	res = w.do("DELETE", "/api/organizations/units/"+sales+"?recursive=true", key, nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	require.InDelta(t, 3, res.json(t)["total_units"], 0)
	require.InDelta(t, 2, res.json(t)["total_memberships"], 0)
	invokeUnitDeletion(t, w.testPlatform, res.json(t)["id"].(string), "1")
	require.Equal(t, http.StatusNotFound, w.do("GET", "/api/organizations/units/"+db, key, nil).Status)
}

func TestOrganizations_OtherTenantNotFound(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	other := w.tenant("Globex")
	res := w.do("POST", "/api/organizations/users", other.APIKey, map[string]any{"email": "hank@globex.test"})
	require.Equal(t, http.StatusCreated, res.Status)
	otherUser := res.json(t)["id"].(string)
	res = w.do("POST", "/api/organizations/units", other.APIKey, map[string]any{"name": "Globex HQ"})
	otherUnit := res.json(t)["id"].(string)
	res = w.do("POST", "/api/organizations/roles", other.APIKey, map[string]any{"name": "Globex role", "capabilities": []string{"files:read"}})
	otherRole := res.json(t)["id"].(string)

	acme := w.acme.APIKey
	for _, path := range []string{
		"/api/organizations/users/" + otherUser,
		"/api/organizations/units/" + otherUnit,
		"/api/organizations/units/" + otherUnit + "/subtree",
		"/api/organizations/roles/" + otherRole,
	} {
		res := w.do("GET", path, acme, nil)
		require.Equal(t, http.StatusNotFound, res.Status, "%s: %s", path, res.Body)
	}
	myUnit := w.unit(acme, "Acme HQ", "")
	res = w.grant(acme, myUnit, otherUser, "viewer")
	require.Equal(t, http.StatusNotFound, res.Status, "another tenant's user cannot join: %s", res.Body)
	res = w.do("PATCH", "/api/organizations/units/"+myUnit, acme, map[string]any{"parent_id": otherUnit})
	require.Equal(t, http.StatusNotFound, res.Status, "nor can a unit move under another tenant's: %s", res.Body)

	res = w.do("GET", "/api/organizations/audit-log?target_id="+otherUser, acme, nil)
	require.Equal(t, http.StatusOK, res.Status)
	require.Empty(t, res.json(t)["data"], "another tenant's audit entries are not listed")
	res = w.do("GET", "/api/organizations/audit-log?target_id="+otherUser, other.APIKey, nil)
	require.Len(t, res.json(t)["data"], 1, "the entry exists in its own tenant")

	res = w.do("PATCH", "/api/organizations/sign-in", other.APIKey, map[string]any{"entra_tenant_id": "dir-acme"})
	require.Equal(t, http.StatusConflict, res.Status, "one directory links to one tenant: %s", res.Body)
}

func TestDeveloperTenant_UserSignsInKeysForbidden(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	ctx := context.Background()
	dev, err := tenancy.Create(ctx, w.app.pool, w.app.keys, tenancy.CreateRequest{
		Name: "Dev", Type: request.Developer, OwnerEmail: "solo@dev.test", RateLimitPerMinute: 60, RateLimitPerHour: 600})
	require.NoError(t, err)
	// A developer tenant has no key to call the API with, so its directory
	// link and first owner are set up the way an operator would.
	require.NoError(t, postgres.InTenant(ctx, w.app.pool, dev.ID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE tenants SET entra_tenant_id = 'dir-dev' WHERE id = $1`, dev.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO org_units (id, tenant_id, name, path, depth) VALUES ('ou_01jd8x3k6m4v0q9s7t2w5y8z1a', $1, 'Me', '/ou_01jd8x3k6m4v0q9s7t2w5y8z1a/', 0)`, dev.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO memberships (tenant_id, user_id, unit_id, role_id) VALUES ($1, $2, 'ou_01jd8x3k6m4v0q9s7t2w5y8z1a', 'owner')`, dev.ID, dev.UserID)
		return err
	}))

	token := w.token("dir-dev", "oid-solo", "solo@dev.test")
	res := w.do("GET", "/api/organizations/users/"+dev.UserID, token, nil)
	require.Equal(t, http.StatusOK, res.Status, "developer tenants sign in: %s", res.Body)
	require.Equal(t, true, res.json(t)["signed_in"])
	for _, path := range []string{"/api/api-management/keys", "/api/api-management/keys/current"} {
		res := w.do("GET", path, token, nil)
		require.Equal(t, http.StatusForbidden, res.Status, "%s: %s", path, res.Body)
		require.Contains(t, res.json(t)["detail"], "Developer tenants")
	}
	res = w.do("POST", "/api/api-management/keys", token, map[string]any{"name": "x", "scopes": []string{"files:read"}})
	require.Equal(t, http.StatusForbidden, res.Status, "body: %s", res.Body)
}

func TestUserRateLimit_PerUser(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	root := w.unit(w.acme.APIKey, "Root", "")
	_, token := w.member("ada@acme.test", "viewer", root)
	res := w.do("GET", "/api/organizations/users", token, nil)
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, "600", res.Header.Get("X-RateLimit-Limit-Minute"), "users get the tenant's per-minute limit")
	require.Equal(t, "599", res.Header.Get("X-RateLimit-Remaining-Minute"), "counted per user, apart from the tenant's keys")
}

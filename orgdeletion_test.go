package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/functions/organizations"
	"github.com/booga-enterprise/functions/infra/postgres"
)

// deletionTree is Engineering > Platform > Databases in Acme, with an owner
// in a separate Board unit and three memberships inside the subtree.
type deletionTree struct {
	eng, platform, db, board string
	ada, bob                 string
}

func newDeletionTree(w *orgWorld) deletionTree {
	w.tt.Helper()
	key := w.acme.APIKey
	tr := deletionTree{board: w.unit(key, "Board", "")}
	tr.eng = w.unit(key, "Engineering", "")
	tr.platform = w.unit(key, "Platform", tr.eng)
	tr.db = w.unit(key, "Databases", tr.platform)
	w.member("olga@acme.test", "owner", tr.board)
	tr.ada = w.invite("ada@acme.test")
	tr.bob = w.invite("bob@acme.test")
	for _, g := range []struct{ unit, user, role string }{
		{tr.eng, tr.ada, "admin"}, {tr.db, tr.ada, "member"}, {tr.platform, tr.bob, "viewer"},
	} {
		res := w.grant(key, g.unit, g.user, g.role)
		require.Equal(w.tt, http.StatusCreated, res.Status, "body: %s", res.Body)
	}
	return tr
}

// deleteRecursive requests a recursive delete and returns the deletion.
func (w *orgWorld) deleteRecursive(key, unitID string) map[string]any {
	w.tt.Helper()
	res := w.do("DELETE", "/api/organizations/units/"+unitID+"?recursive=true", key, nil)
	require.Equal(w.tt, http.StatusAccepted, res.Status, "body: %s", res.Body)
	d := res.json(w.tt)
	require.Equal(w.tt, "/api/organizations/unit-deletions/"+d["id"].(string), res.Header.Get("Location"))
	return d
}

// invokeUnitDeletion posts the queued org-unit-deletion message of
// deletionID to the handler the way the Functions host does, with
// deliveryCount in the metadata, and returns the invocation response.
func invokeUnitDeletion(t *testing.T, p *testPlatform, deletionID string, deliveryCount string) map[string]any {
	t.Helper()
	var body []byte
	err := p.app.pool.QueryRow(context.Background(),
		`SELECT body FROM queue_messages WHERE queue = $1 AND message_id = $2`, organizations.UnitDeletionQueue, deletionID).Scan(&body)
	require.NoError(t, err)
	return postUnitDeletion(t, p, string(body), deletionID, deliveryCount)
}

func postUnitDeletion(t *testing.T, p *testPlatform, message, messageID, deliveryCount string) map[string]any {
	t.Helper()
	payload := map[string]any{
		"Data": map[string]any{"message": message},
		"Metadata": map[string]any{"MessageId": `"` + messageID + `"`, "DeliveryCount": deliveryCount,
			"sys": map[string]any{"MethodName": "org-unit-deletion", "UtcNow": "2026-06-01T12:00:00Z", "RandGuid": "0c6f3b1e-8d2a-4f5b-9e7c-2a1b3c4d5e6f"}},
	}
	raw, err := json.Marshal(payload)
	require.NoError(t, err)
	res, err := http.Post(p.srv.URL+"/org-unit-deletion", "application/json", bytes.NewReader(raw))
	require.NoError(t, err)
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", out)
	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m))
	return m
}

// removedEvents counts the membership.changed events with change removed,
// per "user:unit".
func removedEvents(t *testing.T, p *testPlatform, tenantID string) map[string]int {
	t.Helper()
	out := map[string]int{}
	err := postgres.InTenant(context.Background(), p.app.pool, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `
			SELECT data->>'user_id' || ':' || (data->>'unit_id'), count(*) FROM events
			WHERE type = 'membership.changed' AND data->>'change' = 'removed' GROUP BY 1`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				return err
			}
			out[k] = n
		}
		return rows.Err()
	})
	require.NoError(t, err)
	return out
}

func TestUnitDeletion_RecursiveThroughJob(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	key := w.acme.APIKey
	tr := newDeletionTree(w)

	d := w.deleteRecursive(key, tr.eng)
	require.Equal(t, "queued", d["status"])
	require.InDelta(t, 3, d["total_units"], 0)
	require.InDelta(t, 3, d["total_memberships"], 0)
	id := d["id"].(string)

	// While the job waits, the subtree is gone for every read and write.
	for _, unit := range []string{tr.eng, tr.platform, tr.db} {
		res := w.do("GET", "/api/organizations/units/"+unit, key, nil)
		require.Equal(t, http.StatusNotFound, res.Status, "unit %s: %s", unit, res.Body)
	}
	res := w.do("GET", "/api/organizations/units", key, nil)
	require.Len(t, res.json(t)["data"], 1, "only Board is listed: %s", res.Body)
	res = w.do("GET", "/api/organizations/users/"+tr.ada+"/memberships", key, nil)
	require.Empty(t, res.json(t)["data"], "memberships in deleting units are not listed")
	res = w.do("GET", "/api/organizations/users/"+tr.ada+"/permissions", key, nil)
	require.Empty(t, res.json(t)["capabilities"], "memberships in deleting units grant nothing")
	res = w.do("POST", "/api/organizations/units", key, map[string]any{"name": "Storage", "parent_id": tr.db})
	require.Equal(t, http.StatusNotFound, res.Status, "no sub-unit under a deleting unit: %s", res.Body)
	res = w.grant(key, tr.platform, tr.bob, "member")
	require.Equal(t, http.StatusNotFound, res.Status, "no member in a deleting unit: %s", res.Body)
	res = w.do("DELETE", "/api/organizations/units/"+tr.platform+"/members/"+tr.bob, key, nil)
	require.Equal(t, http.StatusNotFound, res.Status, "no membership removal in a deleting unit: %s", res.Body)
	res = w.do("PATCH", "/api/organizations/units/"+tr.board, key, map[string]any{"parent_id": tr.eng})
	require.Equal(t, http.StatusNotFound, res.Status, "no move under a deleting unit: %s", res.Body)
	res = w.do("POST", "/api/organizations/units", key, map[string]any{"name": "Engineering"})
	require.Equal(t, http.StatusCreated, res.Status, "a deleting unit frees its name: %s", res.Body)
	res = w.do("GET", "/api/organizations/unit-deletions/"+id, key, nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	require.Equal(t, "queued", res.json(t)["status"])

	out := invokeUnitDeletion(t, w.testPlatform, id, "1")
	require.Equal(t, "completed", out["ReturnValue"].([]any)[0].(map[string]any)["status"], "%v", out)

	res = w.do("GET", "/api/organizations/unit-deletions/"+id, key, nil)
	done := res.json(t)
	require.Equal(t, "completed", done["status"])
	require.InDelta(t, 3, done["deleted_units"], 0)
	require.InDelta(t, 3, done["deleted_memberships"], 0)
	require.NotNil(t, done["completed_at"])
	require.Equal(t, map[string]int{tr.ada + ":" + tr.eng: 1, tr.ada + ":" + tr.db: 1, tr.bob + ":" + tr.platform: 1},
		removedEvents(t, w.testPlatform, w.acme.ID))
	require.Equal(t, 3, countTenantRows(t, w.testPlatform, w.acme.ID,
		`SELECT count(*) FROM audit_log WHERE action = 'membership.removed' AND actor_id = $1 AND data->>'deletion_id' = $2`, w.acme.KeyID, id))
	require.Zero(t, countTenantRows(t, w.testPlatform, w.acme.ID, `SELECT count(*) FROM org_units WHERE deleting_at IS NOT NULL`))
	require.Equal(t, 2, countTenantRows(t, w.testPlatform, w.acme.ID, `SELECT count(*) FROM org_units`), "Board and the new Engineering stay")
}

func TestUnitDeletion_EmptyUnitSynchronous(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	key := w.acme.APIKey
	parent := w.unit(key, "Parent", "")
	child := w.unit(key, "Child", parent)

	res := w.do("DELETE", "/api/organizations/units/"+parent, key, nil)
	require.Equal(t, http.StatusConflict, res.Status, "a unit with a sub-unit needs recursive=true: %s", res.Body)
	w.deleteRecursive(key, child)
	res = w.do("DELETE", "/api/organizations/units/"+parent, key, nil)
	require.Equal(t, http.StatusConflict, res.Status, "a sub-unit still being deleted blocks a plain delete: %s", res.Body)

	empty := w.unit(key, "Empty", "")
	res = w.do("DELETE", "/api/organizations/units/"+empty, key, nil)
	require.Equal(t, http.StatusNoContent, res.Status, "body: %s", res.Body)
	require.Equal(t, http.StatusNotFound, w.do("GET", "/api/organizations/units/"+empty, key, nil).Status)
	require.Zero(t, countTenantRows(t, w.testPlatform, w.acme.ID, `SELECT count(*) FROM org_unit_deletions WHERE unit_id = $1`, empty))
}

func TestUnitDeletion_RedeliveryAfterCrash(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	key := w.acme.APIKey
	tr := newDeletionTree(w)
	for _, email := range []string{"cy@acme.test", "dee@acme.test"} {
		res := w.grant(key, tr.db, w.invite(email), "viewer")
		require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	}
	id := w.deleteRecursive(key, tr.eng)["id"].(string)

	// A first delivery commits one batch of two memberships and then its
	// process dies.
	job := &organizations.UnitDeletionJob{Pool: w.app.pool, BatchSize: 2}
	d, done, err := job.Step(context.Background(), w.acme.ID, id)
	require.NoError(t, err)
	require.False(t, done)
	require.Equal(t, "running", d.Status)
	require.Equal(t, 2, d.DeletedMemberships)

	// The message is delivered again, twice (a lock lost to a slow run).
	invokeUnitDeletion(t, w.testPlatform, id, "2")
	invokeUnitDeletion(t, w.testPlatform, id, "3")

	res := w.do("GET", "/api/organizations/unit-deletions/"+id, key, nil)
	require.Equal(t, "completed", res.json(t)["status"])
	require.InDelta(t, 5, res.json(t)["deleted_memberships"], 0)
	require.InDelta(t, 3, res.json(t)["deleted_units"], 0)
	events := removedEvents(t, w.testPlatform, w.acme.ID)
	require.Len(t, events, 5)
	for k, n := range events {
		require.Equal(t, 1, n, "membership %s reported once", k)
	}
	require.Zero(t, countTenantRows(t, w.testPlatform, w.acme.ID, `SELECT count(*) FROM org_units WHERE deletion_id IS NOT NULL`))

	_, done, err = job.Step(context.Background(), w.acme.ID, id)
	require.NoError(t, err)
	require.True(t, done, "a completed deletion stays completed")
}

func TestUnitDeletion_AncestorTakesOver(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	key := w.acme.APIKey
	tr := newDeletionTree(w)
	inner := w.deleteRecursive(key, tr.platform)["id"].(string)
	outer := w.deleteRecursive(key, tr.eng)
	require.InDelta(t, 3, outer["total_units"], 0, "the outer deletion counts the inner one's units")

	invokeUnitDeletion(t, w.testPlatform, outer["id"].(string), "1")
	invokeUnitDeletion(t, w.testPlatform, inner, "1")

	res := w.do("GET", "/api/organizations/unit-deletions/"+inner, key, nil)
	require.Equal(t, "completed", res.json(t)["status"])
	require.InDelta(t, 0, res.json(t)["deleted_units"], 0, "the outer deletion removed the inner one's units")
	require.Len(t, removedEvents(t, w.testPlatform, w.acme.ID), 3)
	require.Equal(t, 1, countTenantRows(t, w.testPlatform, w.acme.ID, `SELECT count(*) FROM org_units`), "only Board stays")
}

func TestUnitDeletion_LastOwnerRejected(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	key := w.acme.APIKey
	hq := w.unit(key, "HQ", "")
	team := w.unit(key, "Team", hq)
	olgaID, olga := w.member("olga@acme.test", "owner", team)
	res := w.do("GET", "/api/organizations/users/"+olgaID, olga, nil)
	require.Equal(t, http.StatusOK, res.Status, "the first sign-in activates olga: %s", res.Body)

	res = w.do("DELETE", "/api/organizations/units/"+hq+"?recursive=true", key, nil)
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
	require.Equal(t, http.StatusOK, w.do("GET", "/api/organizations/units/"+team, key, nil).Status, "nothing is marked")
	require.Zero(t, countTenantRows(t, w.testPlatform, w.acme.ID, `SELECT count(*) FROM org_unit_deletions`))
	var queued int
	require.NoError(t, w.app.pool.QueryRow(context.Background(), `SELECT count(*) FROM queue_messages WHERE queue = $1`,
		organizations.UnitDeletionQueue).Scan(&queued))
	require.Zero(t, queued)

	// An owner elsewhere lets the delete through. That owner then cannot
	// step down, because the subtree's owner no longer counts.
	board := w.unit(key, "Board", "")
	otto := w.invite("otto@acme.test")
	res = w.grant(olga, board, otto, "owner")
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	ottoToken := w.token("dir-acme", "oid-otto@acme.test", "otto@acme.test")
	res = w.do("GET", "/api/organizations/users/"+otto, ottoToken, nil)
	require.Equal(t, http.StatusOK, res.Status, "the first sign-in activates otto: %s", res.Body)
	w.deleteRecursive(key, hq)
	res = w.do("DELETE", "/api/organizations/units/"+board+"/members/"+otto, ottoToken, nil)
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
}

func TestUnitDeletion_OtherTenantNotFound(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	tr := newDeletionTree(w)
	id := w.deleteRecursive(w.acme.APIKey, tr.eng)["id"].(string)
	other := w.tenant("Globex")

	res := w.do("GET", "/api/organizations/unit-deletions/"+id, other.APIKey, nil)
	require.Equal(t, http.StatusNotFound, res.Status, "body: %s", res.Body)
	res = w.do("DELETE", "/api/organizations/units/"+tr.board+"?recursive=true", other.APIKey, nil)
	require.Equal(t, http.StatusNotFound, res.Status, "body: %s", res.Body)
	res = w.do("GET", "/api/organizations/unit-deletions/oud_not-an-id", w.acme.APIKey, nil)
	require.Equal(t, http.StatusNotFound, res.Status, "body: %s", res.Body)

	// A message naming Acme's deletion under Globex's id finds nothing and
	// changes nothing.
	raw, err := json.Marshal(map[string]string{"tenant_id": other.ID, "deletion_id": id})
	require.NoError(t, err)
	postUnitDeletion(t, w.testPlatform, string(raw), "forged", "1")
	require.Equal(t, 3, countTenantRows(t, w.testPlatform, w.acme.ID, `SELECT count(*) FROM org_units WHERE deletion_id = $1`, id))
}

func TestUnitDeletion_UnreadableMessageDiscarded(t *testing.T) {
	t.Parallel()
	w := newOrgWorld(t)
	out := postUnitDeletion(t, w.testPlatform, `{"tenant_id": ""}`, "bad", "1")
	require.Empty(t, out["ReturnValue"])
}

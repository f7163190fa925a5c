package organizations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/customhandler"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/queue"
	"github.com/booga-enterprise/functions/shared/request"
)

// UnitDeletionQueue is the queue of recursive unit deletions, consumed by
// the org-unit-deletion function.
const UnitDeletionQueue = "org-unit-deletions"

// DeletionIDPrefix is the prefix of unit deletion ids.
const DeletionIDPrefix = "oud"

// DefaultDeletionBatch is how many memberships or units one transaction of
// the deletion job removes when UnitDeletionJob.BatchSize is zero.
const DefaultDeletionBatch = 500

// Statuses of a unit deletion.
const (
	DeletionQueued    = "queued"
	DeletionRunning   = "running"
	DeletionCompleted = "completed"
	// DeletionFailed is set when the last delivery of the job's message
	// failed. The subtree stays hidden, and a redelivered message resumes it.
	DeletionFailed = "failed"
)

// UnitDeletion is a recursive delete of a unit's subtree, run as a
// background job.
type UnitDeletion struct {
	ID       string `json:"id" example:"oud_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	UnitID   string `json:"unit_id" example:"ou_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	UnitName string `json:"unit_name" example:"Engineering"`
	Status   string `json:"status" enum:"queued,running,completed,failed"`
	// TotalUnits and TotalMemberships are the subtree's size when the
	// deletion was requested.
	TotalUnits         int        `json:"total_units" example:"3"`
	TotalMemberships   int        `json:"total_memberships" example:"2"`
	DeletedUnits       int        `json:"deleted_units" example:"0"`
	DeletedMemberships int        `json:"deleted_memberships" example:"0"`
	Error              *string    `json:"error" doc:"Why the last attempt failed. Null unless status is failed."`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	CompletedAt        *time.Time `json:"completed_at"`
	actor              audit.Actor
}

// deletionMessage is the body of a UnitDeletionQueue message.
type deletionMessage struct {
	TenantID   string `json:"tenant_id"`
	DeletionID string `json:"deletion_id"`
}

const deletionColumns = `id, unit_id, unit_name, status, total_units, total_memberships, deleted_units,
	deleted_memberships, error, actor_kind, actor_id, created_at, updated_at, completed_at`

func scanDeletion(row pgx.Row) (UnitDeletion, error) {
	var d UnitDeletion
	err := row.Scan(&d.ID, &d.UnitID, &d.UnitName, &d.Status, &d.TotalUnits, &d.TotalMemberships, &d.DeletedUnits,
		&d.DeletedMemberships, &d.Error, &d.actor.Kind, &d.actor.ID, &d.CreatedAt, &d.UpdatedAt, &d.CompletedAt)
	return d, err
}

func getDeletion(ctx context.Context, tx pgx.Tx, tenantID, id string, lock bool) (UnitDeletion, error) {
	if !ids.Valid(DeletionIDPrefix, id) {
		return UnitDeletion{}, problem.NotFound("unit deletion", id)
	}
	sql := `SELECT ` + deletionColumns + ` FROM org_unit_deletions WHERE tenant_id = $1 AND id = $2`
	if lock {
		sql += ` FOR UPDATE`
	}
	d, err := scanDeletion(tx.QueryRow(ctx, sql, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return UnitDeletion{}, problem.NotFound("unit deletion", id)
	}
	if err != nil {
		return UnitDeletion{}, problem.Wrap(err, "get unit deletion")
	}
	return d, nil
}

// subtreeSize counts a unit's subtree: units not being deleted (the unit
// included), units already being deleted by an earlier deletion, and the
// memberships of each.
type subtreeSize struct {
	units, deletingUnits             int
	memberships, deletingMemberships int
}

func measureSubtree(ctx context.Context, tx pgx.Tx, tenantID string, u Unit) (subtreeSize, error) {
	var s subtreeSize
	err := tx.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE deleting_at IS NULL), count(*) FILTER (WHERE deleting_at IS NOT NULL),
		       (SELECT count(*) FILTER (WHERE o.deleting_at IS NULL) FROM memberships m JOIN org_units o ON o.id = m.unit_id
		        WHERE o.tenant_id = $1 AND o.path LIKE $2),
		       (SELECT count(*) FILTER (WHERE o.deleting_at IS NOT NULL) FROM memberships m JOIN org_units o ON o.id = m.unit_id
		        WHERE o.tenant_id = $1 AND o.path LIKE $2)
		FROM org_units WHERE tenant_id = $1 AND path LIKE $2`,
		tenantID, likePrefix(u.path)).Scan(&s.units, &s.deletingUnits, &s.memberships, &s.deletingMemberships)
	if err != nil {
		return s, problem.Wrap(err, "measure subtree")
	}
	return s, nil
}

// startDeletion marks the subtree of u as being deleted, records the
// deletion and queues its job, all in the request's transaction. It rejects
// the delete when the subtree holds the last active owner's memberships. A
// part of the subtree that an earlier deletion is still removing is taken
// over: its units get the new deletion's id, and the earlier job finishes
// with what it had removed. The caller holds lockTenant, which keeps units
// from being created under the subtree or moved into it meanwhile.
func (h *Handlers) startDeletion(ctx context.Context, tx pgx.Tx, caller *request.Principal, u Unit, size subtreeSize) (UnitDeletion, error) {
	now := h.now()
	d := UnitDeletion{ID: ids.New(DeletionIDPrefix), UnitID: u.ID, UnitName: u.Name, Status: DeletionQueued,
		TotalUnits: size.units + size.deletingUnits, TotalMemberships: size.memberships + size.deletingMemberships,
		CreatedAt: now, UpdatedAt: now, actor: audit.Actor{Kind: string(caller.Kind), ID: caller.ID}}

	err := keepOwner(ctx, tx, caller.TenantID, func() error {
		_, err := tx.Exec(ctx, `
			UPDATE org_units SET deleting_at = coalesce(deleting_at, $3), deletion_id = $4, updated_at = $3
			WHERE tenant_id = $1 AND path LIKE $2`, caller.TenantID, likePrefix(u.path), now, d.ID)
		if err != nil {
			return problem.Wrap(err, "mark subtree deleting")
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO org_unit_deletions (id, tenant_id, unit_id, unit_name, status, total_units, total_memberships,
			actor_kind, actor_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
		d.ID, caller.TenantID, d.UnitID, d.UnitName, d.Status, d.TotalUnits, d.TotalMemberships, d.actor.Kind, d.actor.ID, now)
	if err != nil {
		return d, problem.Wrap(err, "record unit deletion")
	}
	body, err := json.Marshal(deletionMessage{TenantID: caller.TenantID, DeletionID: d.ID})
	if err != nil {
		return d, fmt.Errorf("encode unit deletion message: %w", err)
	}
	if err := queue.PublishTx(ctx, tx, UnitDeletionQueue, queue.Message{ID: d.ID, Body: body}); err != nil {
		return d, fmt.Errorf("queue unit deletion: %w", err)
	}
	return d, nil
}

func (h *Handlers) getDeletion(w http.ResponseWriter, r *http.Request) error {
	caller, tx, err := begin(r)
	if err != nil {
		return err
	}
	d, err := getDeletion(r.Context(), tx, caller.TenantID, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

// UnitDeletionJob removes the memberships and units of recursive unit
// deletions, one bounded batch per tenant transaction.
type UnitDeletionJob struct {
	Pool *pgxpool.Pool
	// BatchSize bounds the memberships or units one transaction removes;
	// zero means DefaultDeletionBatch.
	BatchSize int
	Logger    *slog.Logger
	Now       func() time.Time
}

func (j *UnitDeletionJob) batchSize() int {
	if j.BatchSize > 0 {
		return j.BatchSize
	}
	return DefaultDeletionBatch
}

func (j *UnitDeletionJob) logger() *slog.Logger {
	if j.Logger != nil {
		return j.Logger
	}
	return slog.Default()
}

func (j *UnitDeletionJob) now() time.Time {
	if j.Now != nil {
		return j.Now().UTC()
	}
	return time.Now().UTC()
}

// Function handles the org-unit-deletion function's invocations: one
// Service Bus message per deletion. An error fails the invocation, so the
// message is delivered again and the job resumes where the last committed
// batch left it. When the last delivery fails, the deletion is marked
// failed before the error is returned.
func (j *UnitDeletionJob) Function() customhandler.FunctionFunc {
	binding := customhandler.Binding{Name: "message"}
	return func(ctx context.Context, inv customhandler.Invocation) (any, error) {
		msgs, err := customhandler.ParseServiceBus(inv, binding)
		if err != nil {
			return nil, fmt.Errorf("parse org-unit-deletion message: %w", err)
		}
		results := []UnitDeletion{}
		for _, m := range msgs {
			var msg deletionMessage
			if err := json.Unmarshal(m.Body, &msg); err != nil || msg.TenantID == "" || msg.DeletionID == "" {
				// A message that cannot be read never succeeds, so completing
				// it keeps it from blocking the queue.
				j.logger().ErrorContext(ctx, "discard unreadable org-unit-deletion message", "error", err, "body_bytes", len(m.Body))
				continue
			}
			d, err := j.Run(ctx, msg.TenantID, msg.DeletionID)
			if problem.As(err).Code == problem.CodeNotFound {
				// The deletion's row is gone only with its tenant.
				j.logger().WarnContext(ctx, "discard org-unit-deletion message of a missing deletion",
					"tenant_id", msg.TenantID, "deletion_id", msg.DeletionID)
				continue
			}
			if err != nil {
				if m.DeliveryCount >= queue.MaxDeliveryCount {
					if ferr := j.markFailed(ctx, msg.TenantID, msg.DeletionID, m.DeliveryCount); ferr != nil {
						err = errors.Join(err, ferr)
					}
				}
				return nil, err
			}
			results = append(results, d)
		}
		return results, nil
	}
}

// Run runs Step until the deletion is completed. A deletion that does not
// exist (its tenant was deleted) is reported as not found.
func (j *UnitDeletionJob) Run(ctx context.Context, tenantID, deletionID string) (UnitDeletion, error) {
	for {
		d, done, err := j.Step(ctx, tenantID, deletionID)
		if err != nil {
			return d, err
		}
		if done {
			j.logger().InfoContext(ctx, "unit deletion completed", "tenant_id", tenantID, "deletion_id", d.ID,
				"deleted_units", d.DeletedUnits, "deleted_memberships", d.DeletedMemberships)
			return d, nil
		}
	}
}

// Step runs one batch of a deletion in its own tenant transaction and
// reports whether the deletion is completed. A step removes up to BatchSize
// memberships of the marked units, writing a membership.removed audit entry
// and a membership.changed event for each. Once no membership is left, a
// step removes up to BatchSize units, deepest first, so no unit goes before
// its children. A step that finds nothing left marks the deletion completed.
// The deletion row is locked first, so concurrent deliveries of one message
// run their steps one after the other, and a membership is removed, and
// reported, only by the transaction that deletes its row.
func (j *UnitDeletionJob) Step(ctx context.Context, tenantID, deletionID string) (UnitDeletion, bool, error) {
	var d UnitDeletion
	done := false
	err := postgres.InTenant(ctx, j.Pool, tenantID, func(tx pgx.Tx) error {
		var err error
		d, err = getDeletion(ctx, tx, tenantID, deletionID, true)
		if err != nil {
			return err
		}
		if d.Status == DeletionCompleted {
			done = true
			return nil
		}
		removed, err := j.removeMemberships(ctx, tx, tenantID, d)
		if err != nil {
			return err
		}
		units := 0
		if removed == 0 {
			if units, err = j.removeUnits(ctx, tx, tenantID, d.ID); err != nil {
				return err
			}
		}
		done = removed == 0 && units == 0
		now := j.now()
		d, err = scanDeletion(tx.QueryRow(ctx, `
			UPDATE org_unit_deletions SET
				deleted_memberships = deleted_memberships + $3, deleted_units = deleted_units + $4,
				status = CASE WHEN $5 THEN 'completed' ELSE 'running' END, error = NULL,
				completed_at = CASE WHEN $5 THEN $6::timestamptz END, updated_at = $6
			WHERE tenant_id = $1 AND id = $2 RETURNING `+deletionColumns,
			tenantID, d.ID, removed, units, done, now))
		if err != nil {
			return fmt.Errorf("update unit deletion progress: %w", err)
		}
		return nil
	})
	if err != nil {
		return d, false, err
	}
	return d, done, nil
}

// removeMemberships deletes up to one batch of memberships of the units
// marked with d's id and reports each one.
func (j *UnitDeletionJob) removeMemberships(ctx context.Context, tx pgx.Tx, tenantID string, d UnitDeletion) (int, error) {
	rows, err := tx.Query(ctx, `
		DELETE FROM memberships WHERE tenant_id = $1 AND (user_id, unit_id) IN (
			SELECT m.user_id, m.unit_id FROM memberships m JOIN org_units o ON o.id = m.unit_id
			WHERE o.tenant_id = $1 AND o.deletion_id = $2
			ORDER BY m.unit_id, m.user_id LIMIT $3 FOR UPDATE OF m)
		RETURNING user_id, unit_id, role_id`, tenantID, d.ID, j.batchSize())
	if err != nil {
		return 0, fmt.Errorf("delete memberships of deleted units: %w", err)
	}
	removed, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (membershipChange, error) {
		c := membershipChange{Change: "removed", PreviousRoleID: new(string)}
		err := row.Scan(&c.UserID, &c.UnitID, c.PreviousRoleID)
		return c, err
	})
	if err != nil {
		return 0, fmt.Errorf("delete memberships of deleted units: %w", err)
	}
	for _, c := range removed {
		if err := audit.RecordAs(ctx, tx, d.actor, tenantID, "membership.removed", "membership", c.UserID+":"+c.UnitID,
			map[string]any{"change": c.Change, "user_id": c.UserID, "unit_id": c.UnitID, "role_id": nil,
				"previous_role_id": c.PreviousRoleID, "deletion_id": d.ID}); err != nil {
			return 0, err
		}
		if _, err := events.Emit(ctx, tx, tenantID, EventMembershipChanged, events.MembershipData(c)); err != nil {
			return 0, err
		}
	}
	return len(removed), nil
}

// removeUnits deletes up to one batch of the units marked with deletionID,
// deepest first. Every child is deeper than its parent, so a batch contains
// a unit only together with, or after, all its descendants. The parent_id
// foreign key is checked at the end of the statement.
func (j *UnitDeletionJob) removeUnits(ctx context.Context, tx pgx.Tx, tenantID, deletionID string) (int, error) {
	tag, err := tx.Exec(ctx, `
		DELETE FROM org_units WHERE id IN (
			SELECT id FROM org_units WHERE tenant_id = $1 AND deletion_id = $2
			ORDER BY depth DESC, id LIMIT $3 FOR UPDATE)`, tenantID, deletionID, j.batchSize())
	if err != nil {
		return 0, fmt.Errorf("delete units of deletion: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// markFailed records that the deletion's last delivery failed. The cause is
// in the function's logs, not in the public error text. A completed deletion
// is left alone.
func (j *UnitDeletionJob) markFailed(ctx context.Context, tenantID, deletionID string, deliveries int) error {
	return postgres.InTenant(ctx, j.Pool, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE org_unit_deletions SET status = 'failed', error = $3, updated_at = $4
			WHERE tenant_id = $1 AND id = $2 AND status <> 'completed'`,
			tenantID, deletionID, fmt.Sprintf("The deletion failed on all %d deliveries of its message.", deliveries), j.now())
		if err != nil {
			return fmt.Errorf("mark unit deletion failed: %w", err)
		}
		return nil
	})
}

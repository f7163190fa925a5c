-- +goose Up

-- A recursive unit delete runs as a background job. The request marks every
-- unit of the subtree with deleting_at and the deletion's id; marked units
-- are hidden from every read, cannot take new children or members, and their
-- memberships grant nothing. The job then removes the memberships and units
-- batch by batch, selecting them by deletion_id, which a move of an ancestor
-- does not change (a move rewrites path).
ALTER TABLE org_units
    ADD COLUMN deleting_at timestamptz,
    ADD COLUMN deletion_id text;
CREATE INDEX org_units_deletion_idx ON org_units (deletion_id) WHERE deletion_id IS NOT NULL;

-- A unit being deleted frees its name at once, so sibling names are unique
-- only among units not being deleted. The index keeps the constraint's name,
-- which the application maps to a 409.
ALTER TABLE org_units DROP CONSTRAINT org_units_sibling_name_key;
CREATE UNIQUE INDEX org_units_sibling_name_key ON org_units (tenant_id, parent_id, name) NULLS NOT DISTINCT
    WHERE deleting_at IS NULL;

-- One recursive delete: what it was asked to remove, what it has removed,
-- and who asked (the actor of the membership.removed audit entries the job
-- writes). unit_id has no foreign key because the job deletes that unit.
CREATE TABLE org_unit_deletions (
    id                  text PRIMARY KEY,
    tenant_id           text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    unit_id             text NOT NULL,
    unit_name           text NOT NULL,
    status              text NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    total_units         integer NOT NULL CHECK (total_units >= 0),
    total_memberships   integer NOT NULL CHECK (total_memberships >= 0),
    deleted_units       integer NOT NULL DEFAULT 0,
    deleted_memberships integer NOT NULL DEFAULT 0,
    error               text,
    actor_kind          text NOT NULL,
    actor_id            text NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    completed_at        timestamptz
);
CREATE INDEX org_unit_deletions_tenant_idx ON org_unit_deletions (tenant_id, id DESC);

ALTER TABLE org_unit_deletions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_unit_deletions
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE ON org_unit_deletions TO booga_app;

-- +goose Down
DROP TABLE org_unit_deletions;
DROP INDEX org_units_sibling_name_key;
DELETE FROM memberships m USING org_units o WHERE o.id = m.unit_id AND o.deleting_at IS NOT NULL;
DELETE FROM org_units WHERE deleting_at IS NOT NULL;
ALTER TABLE org_units
    ADD CONSTRAINT org_units_sibling_name_key UNIQUE NULLS NOT DISTINCT (tenant_id, parent_id, name);
DROP INDEX org_units_deletion_idx;
ALTER TABLE org_units
    DROP COLUMN deletion_id,
    DROP COLUMN deleting_at;

-- +goose Up

-- Sign-in: a tenant is mapped to one directory (the token's tenant claim,
-- "tid" for Entra ID). auto_provision_users lets unknown people of that
-- directory become users on first sign-in.
ALTER TABLE tenants
    ADD COLUMN entra_tenant_id      text UNIQUE CHECK (length(entra_tenant_id) BETWEEN 1 AND 200),
    ADD COLUMN auto_provision_users boolean NOT NULL DEFAULT false;

-- external_id is the identity provider's stable subject (the "oid" claim for
-- Entra ID), set on first sign-in. Tokens issued at or before
-- tokens_valid_after are rejected: deactivation sets it, which ends every
-- session the user had.
ALTER TABLE users
    ADD COLUMN external_id        text,
    ADD COLUMN tokens_valid_after timestamptz,
    ADD COLUMN last_sign_in_at    timestamptz,
    ADD COLUMN deactivated_at     timestamptz,
    ADD CONSTRAINT users_tenant_external_id_key UNIQUE (tenant_id, external_id);
CREATE INDEX users_tenant_id_idx ON users (tenant_id, id DESC);

-- Deactivating a user revokes the keys they created.
CREATE INDEX api_keys_created_by_idx ON api_keys (tenant_id, created_by) WHERE revoked_at IS NULL;

-- Organisational units form a tree per tenant. path is the materialized path
-- of ids from the root, '/ou_a/ou_b/', so a subtree is one index range scan
-- (path LIKE '/ou_a/%') and a move rewrites the paths of the moved subtree.
CREATE TABLE org_units (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    parent_id  text REFERENCES org_units (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    path       text NOT NULL,
    depth      integer NOT NULL CHECK (depth >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT org_units_sibling_name_key UNIQUE NULLS NOT DISTINCT (tenant_id, parent_id, name)
);
CREATE INDEX org_units_path_idx ON org_units (tenant_id, path text_pattern_ops);
CREATE INDEX org_units_parent_idx ON org_units (parent_id);

-- Tenant-defined roles. The built-in roles (owner, admin, member, viewer) are
-- defined in code and have no row.
CREATE TABLE roles (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    description  text NOT NULL DEFAULT '',
    capabilities text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT roles_tenant_name_key UNIQUE (tenant_id, name)
);

-- role_id is a built-in role name or the id of a row in roles.
CREATE TABLE memberships (
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    unit_id    text NOT NULL REFERENCES org_units (id),
    role_id    text NOT NULL CHECK (role_id IN ('owner', 'admin', 'member', 'viewer') OR role_id LIKE 'rol\_%'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, unit_id)
);
CREATE INDEX memberships_unit_idx ON memberships (unit_id, user_id);
CREATE INDEX memberships_role_idx ON memberships (tenant_id, role_id);

-- Who did what to whom and when. Rows are written in the transaction of the
-- change they describe and never updated.
CREATE TABLE audit_log (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    actor_kind  text NOT NULL,
    actor_id    text NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL,
    target_id   text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    request_id  text NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL
);
CREATE INDEX audit_log_tenant_idx ON audit_log (tenant_id, id DESC);
CREATE INDEX audit_log_target_idx ON audit_log (tenant_id, target_id, id DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (tenant_id, actor_id, id DESC);

ALTER TABLE org_units ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_units
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE roles ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON roles
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE memberships ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON memberships
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Sign-in resolves the tenant from the token's directory before any tenant
-- is set, so this runs as the table owner and returns only that one row.
CREATE FUNCTION auth_find_directory_tenant(p_directory text)
RETURNS TABLE (id text, type text, auto_provision_users boolean,
               rate_limit_per_minute integer, rate_limit_per_hour integer)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT t.id, t.type, t.auto_provision_users, t.rate_limit_per_minute, t.rate_limit_per_hour
    FROM tenants t WHERE t.entra_tenant_id = p_directory
$$;
REVOKE ALL ON FUNCTION auth_find_directory_tenant(text) FROM PUBLIC;

GRANT SELECT, INSERT, UPDATE, DELETE ON org_units, roles, memberships TO booga_app;
GRANT SELECT, INSERT ON audit_log TO booga_app;
GRANT EXECUTE ON FUNCTION auth_find_directory_tenant(text) TO booga_app;

-- +goose Down
DROP FUNCTION auth_find_directory_tenant(text);
DROP TABLE audit_log;
DROP TABLE memberships;
DROP TABLE roles;
DROP TABLE org_units;
DROP INDEX api_keys_created_by_idx;
DROP INDEX users_tenant_id_idx;
ALTER TABLE users
    DROP CONSTRAINT users_tenant_external_id_key,
    DROP COLUMN deactivated_at,
    DROP COLUMN last_sign_in_at,
    DROP COLUMN tokens_valid_after,
    DROP COLUMN external_id;
ALTER TABLE tenants
    DROP COLUMN auto_provision_users,
    DROP COLUMN entra_tenant_id;

-- +goose Up

-- booga_app is the role every request runs as. It has no BYPASSRLS and owns
-- no table, so row-level security applies to it. The role is cluster-wide, so
-- creating it tolerates a concurrent migration of another database.
-- +goose StatementBegin
DO $$
BEGIN
    CREATE ROLE booga_app NOLOGIN NOBYPASSRLS;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
-- +goose StatementEnd

CREATE TABLE tenants (
    id                    text PRIMARY KEY,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    type                  text NOT NULL CHECK (type IN ('corporate', 'developer')),
    rate_limit_per_minute integer NOT NULL CHECK (rate_limit_per_minute > 0),
    rate_limit_per_hour   integer NOT NULL CHECK (rate_limit_per_hour > 0),
    created_at            timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email        text NOT NULL,
    display_name text NOT NULL DEFAULT '',
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('pending', 'active', 'deactivated')),
    scopes       text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email)
);

CREATE TABLE api_keys (
    id                    text PRIMARY KEY,
    tenant_id             text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                  text NOT NULL,
    prefix                text NOT NULL UNIQUE,
    secret_hash           bytea NOT NULL,
    secret_salt           bytea NOT NULL,
    iterations            integer NOT NULL,
    previous_hash         bytea,
    previous_salt         bytea,
    previous_iterations   integer,
    previous_expires_at   timestamptz,
    scopes                text[] NOT NULL,
    allowed_ips           text[] NOT NULL DEFAULT '{}',
    rate_limit_per_minute integer CHECK (rate_limit_per_minute > 0),
    rate_limit_per_hour   integer CHECK (rate_limit_per_hour > 0),
    expires_at            timestamptz,
    created_by            text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    rotated_at            timestamptz,
    last_used_at          timestamptz,
    revoked_at            timestamptz
);
CREATE INDEX api_keys_tenant_id_idx ON api_keys (tenant_id, id DESC);

CREATE TABLE usage_records (
    id             text PRIMARY KEY,
    tenant_id      text NOT NULL,
    key_id         text NOT NULL,
    endpoint       text NOT NULL,
    method         text NOT NULL,
    status         integer NOT NULL,
    latency_us     bigint NOT NULL,
    request_bytes  bigint NOT NULL,
    response_bytes bigint NOT NULL,
    client_ip      text NOT NULL,
    request_id     text NOT NULL,
    occurred_at    timestamptz NOT NULL
);
CREATE INDEX usage_records_tenant_time_idx ON usage_records (tenant_id, occurred_at);
CREATE INDEX usage_records_key_time_idx ON usage_records (tenant_id, key_id, occurred_at);

CREATE TABLE idempotency_records (
    tenant_id       text NOT NULL,
    principal_id    text NOT NULL,
    idempotency_key text NOT NULL,
    method          text NOT NULL,
    path            text NOT NULL,
    request_hash    bytea NOT NULL,
    state           text NOT NULL CHECK (state IN ('running', 'completed')),
    response_status integer,
    response_header jsonb,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, principal_id, idempotency_key)
);
CREATE INDEX idempotency_records_expires_idx ON idempotency_records (expires_at);

-- Local-mode queue. In Azure the same publisher sends to Service Bus instead.
-- Not tenant-owned: message bodies carry their tenant id.
CREATE TABLE queue_messages (
    id               bigserial PRIMARY KEY,
    queue            text NOT NULL,
    message_id       text NOT NULL,
    body             bytea NOT NULL,
    content_type     text NOT NULL DEFAULT 'application/json',
    enqueued_at      timestamptz NOT NULL DEFAULT now(),
    visible_at       timestamptz NOT NULL DEFAULT now(),
    delivery_count   integer NOT NULL DEFAULT 0,
    dead_lettered_at timestamptz,
    last_error       text,
    UNIQUE (queue, message_id)
);
CREATE INDEX queue_messages_ready_idx ON queue_messages (queue, visible_at) WHERE dead_lettered_at IS NULL;

-- Row-level security: a transaction sees only the tenant named by
-- set_config('app.tenant_id', ..., true). With no tenant set, it sees nothing.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = current_setting('app.tenant_id', true))
    WITH CHECK (id = current_setting('app.tenant_id', true));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE usage_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON usage_records
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

ALTER TABLE idempotency_records ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_records
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- Key look-up happens before the tenant is known. This function runs as the
-- table owner, which row-level security does not apply to, and returns the
-- one key with the given public prefix and its tenant's limits.
CREATE FUNCTION auth_find_api_key(p_prefix text)
RETURNS TABLE (
    id text, tenant_id text, name text, prefix text,
    secret_hash bytea, secret_salt bytea, iterations integer,
    previous_hash bytea, previous_salt bytea, previous_iterations integer, previous_expires_at timestamptz,
    scopes text[], allowed_ips text[],
    rate_limit_per_minute integer, rate_limit_per_hour integer,
    expires_at timestamptz, created_by text, created_at timestamptz, updated_at timestamptz,
    rotated_at timestamptz, last_used_at timestamptz, revoked_at timestamptz,
    tenant_type text, tenant_rate_limit_per_minute integer, tenant_rate_limit_per_hour integer
)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT k.id, k.tenant_id, k.name, k.prefix,
           k.secret_hash, k.secret_salt, k.iterations,
           k.previous_hash, k.previous_salt, k.previous_iterations, k.previous_expires_at,
           k.scopes, k.allowed_ips,
           k.rate_limit_per_minute, k.rate_limit_per_hour,
           k.expires_at, k.created_by, k.created_at, k.updated_at,
           k.rotated_at, k.last_used_at, k.revoked_at,
           t.type, t.rate_limit_per_minute, t.rate_limit_per_hour
    FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
    WHERE k.prefix = p_prefix
$$;
REVOKE ALL ON FUNCTION auth_find_api_key(text) FROM PUBLIC;

-- last_used_at is written in batches by the verifier, outside any request's
-- tenant transaction. Only ever moves the time forward.
CREATE FUNCTION auth_touch_api_keys(p_ids text[], p_at timestamptz[])
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    UPDATE api_keys k SET last_used_at = u.at
    FROM unnest(p_ids, p_at) AS u(id, at)
    WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)
$$;
REVOKE ALL ON FUNCTION auth_touch_api_keys(text[], timestamptz[]) FROM PUBLIC;

-- Tenants are listed by the operator command line, which also runs as booga_app.
CREATE FUNCTION admin_list_tenants()
RETURNS TABLE (id text, name text, type text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT id, name, type, created_at FROM tenants ORDER BY id $$;
REVOKE ALL ON FUNCTION admin_list_tenants() FROM PUBLIC;

GRANT USAGE ON SCHEMA public TO booga_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO booga_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO booga_app;
GRANT EXECUTE ON FUNCTION auth_find_api_key(text) TO booga_app;
GRANT EXECUTE ON FUNCTION admin_list_tenants() TO booga_app;
GRANT EXECUTE ON FUNCTION auth_touch_api_keys(text[], timestamptz[]) TO booga_app;

-- +goose Down
DROP FUNCTION admin_list_tenants();
DROP FUNCTION auth_touch_api_keys(text[], timestamptz[]);
DROP FUNCTION auth_find_api_key(text);
DROP TABLE queue_messages;
DROP TABLE idempotency_records;
DROP TABLE usage_records;
DROP TABLE api_keys;
DROP TABLE users;
DROP TABLE tenants;

-- +goose Up

-- Webhook subscriptions of a tenant. secret signs every delivery;
-- previous_secret keeps signing until previous_secret_expires_at after a
-- rotation, so receivers can switch secrets without dropping deliveries.
-- NOTE: secrets are stored in plain text because HMAC signing needs the
-- key itself; database access therefore grants the ability to forge
-- deliveries. Encrypting them with a Key Vault key is not done yet.
CREATE TABLE webhook_endpoints (
    id                         text PRIMARY KEY,
    tenant_id                  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                        text NOT NULL,
    description                text NOT NULL DEFAULT '',
    event_types                text[] NOT NULL,
    secret                     text NOT NULL,
    previous_secret            text,
    previous_secret_expires_at timestamptz,
    enabled                    boolean NOT NULL DEFAULT true,
    disabled_reason            text,
    disabled_at                timestamptz,
    -- failing_since is the time of the first failed attempt since the last
    -- success; the endpoint is disabled when it stays failing for
    -- WEBHOOK_DISABLE_AFTER.
    failing_since              timestamptz,
    consecutive_failures       integer NOT NULL DEFAULT 0,
    -- paused_until defers sends to a failing endpoint, so a dead endpoint
    -- costs one timed-out attempt per pause instead of one per delivery.
    paused_until               timestamptz,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_tenant_idx ON webhook_endpoints (tenant_id, id DESC);

-- One row per (endpoint, event). status moves pending -> sending ->
-- succeeded, or back to retrying, and ends in succeeded, exhausted or
-- failed (the endpoint was disabled or answered 410 Gone).
CREATE TABLE webhook_deliveries (
    id              text PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    endpoint_id     text NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    payload         bytea NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'sending', 'retrying', 'succeeded', 'exhausted', 'failed')),
    attempt_count   integer NOT NULL DEFAULT 0,
    max_attempts    integer NOT NULL,
    next_attempt_at timestamptz,
    -- lease_until bounds an attempt in flight: past it, a worker that
    -- crashed between sending and recording is presumed dead and the
    -- attempt is made again.
    lease_until     timestamptz,
    -- manual_pending marks the next attempt as one a tenant requested.
    manual_pending  boolean NOT NULL DEFAULT false,
    succeeded_at    timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status IN ('pending', 'retrying', 'sending');

-- Every attempt, including one whose outcome was never recorded because the
-- worker stopped mid-send (outcome in_flight).
CREATE TABLE webhook_attempts (
    delivery_id      text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    number           integer NOT NULL,
    tenant_id        text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    manual           boolean NOT NULL DEFAULT false,
    started_at       timestamptz NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('in_flight', 'succeeded', 'failed')),
    status_code      integer,
    latency_ms       integer,
    error            text,
    response_excerpt text,
    PRIMARY KEY (delivery_id, number)
);

ALTER TABLE webhook_endpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_endpoints
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
CREATE POLICY tenant_isolation ON webhook_attempts
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, webhook_deliveries, webhook_attempts TO booga_app;

-- The relay timer looks for events of every tenant that were committed but
-- not published. It runs outside any tenant, so these functions run as the
-- table owner, which row-level security does not apply to.
CREATE FUNCTION events_unpublished(p_before timestamptz, p_limit integer)
RETURNS TABLE (id text, tenant_id text, type text, api_version text, data jsonb, occurred_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT id, tenant_id, type, api_version, data, occurred_at FROM events
    WHERE published_at IS NULL AND occurred_at < p_before
    ORDER BY occurred_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION events_unpublished(timestamptz, integer) FROM PUBLIC;

CREATE FUNCTION events_mark_published(p_ids text[], p_at timestamptz)
RETURNS void
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ UPDATE events SET published_at = p_at WHERE id = ANY (p_ids) AND published_at IS NULL $$;
REVOKE ALL ON FUNCTION events_mark_published(text[], timestamptz) FROM PUBLIC;

-- Deliveries whose next attempt is due but whose queue message may be lost
-- (a crash after recording an attempt and before scheduling the next one).
CREATE FUNCTION webhook_deliveries_overdue(p_before timestamptz, p_limit integer)
RETURNS TABLE (id text, tenant_id text, attempt_count integer, next_attempt_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
    SELECT id, tenant_id, attempt_count, next_attempt_at FROM webhook_deliveries
    WHERE status IN ('pending', 'retrying', 'sending')
      AND coalesce(greatest(next_attempt_at, lease_until), next_attempt_at) < p_before
    ORDER BY next_attempt_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION webhook_deliveries_overdue(timestamptz, integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION events_unpublished(timestamptz, integer) TO booga_app;
GRANT EXECUTE ON FUNCTION events_mark_published(text[], timestamptz) TO booga_app;
GRANT EXECUTE ON FUNCTION webhook_deliveries_overdue(timestamptz, integer) TO booga_app;

-- +goose Down
DROP FUNCTION webhook_deliveries_overdue(timestamptz, integer);
DROP FUNCTION events_mark_published(text[], timestamptz);
DROP FUNCTION events_unpublished(timestamptz, integer);
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;

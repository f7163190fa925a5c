-- +goose Up

-- The transactional outbox: a change and its event commit together. A relay
-- publishes rows whose published_at is NULL; a timer republishes any that a
-- crash left behind.
CREATE TABLE events (
    id           text PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    type         text NOT NULL,
    api_version  text NOT NULL,
    data         jsonb NOT NULL,
    occurred_at  timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX events_unpublished_idx ON events (occurred_at) WHERE published_at IS NULL;
CREATE INDEX events_tenant_idx ON events (tenant_id, id DESC);

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON events
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

GRANT SELECT, INSERT, UPDATE, DELETE ON events TO booga_app;

-- +goose Down
DROP TABLE events;

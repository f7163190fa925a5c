-- +goose Up
-- The endpoint registry, written at start-up so usage analytics can join
-- usage_records on endpoint ids. Not tenant-owned: every tenant sees the
-- same API, so the table has no tenant_id and no row-level security.
CREATE TABLE api_endpoints (
    id           text PRIMARY KEY,            -- "METHOD /path/template", the registry's Route.ID()
    operation_id text NOT NULL UNIQUE,
    plugin       text NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    capability   text NOT NULL DEFAULT '',    -- empty on public routes
    auth         text NOT NULL CHECK (auth IN ('api_key', 'public')),
    summary      text NOT NULL,
    idempotent   boolean NOT NULL DEFAULT false,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- Set when a deployment no longer registers the route; old usage rows still join.
    retired_at   timestamptz
);

GRANT SELECT, INSERT, UPDATE ON api_endpoints TO booga_app;

-- +goose Down
DROP TABLE api_endpoints;

-- +goose Up

-- Folders form a tree per tenant. path is the folder's full path ("/a/b"),
-- kept in step with the names on rename and move, so that listings and
-- searches never walk the tree. A folder being deleted by the background job
-- has status 'deleting' and no longer holds its path.
CREATE TABLE file_folders (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    parent_id  text REFERENCES file_folders (id) ON DELETE CASCADE,
    name       text NOT NULL,
    path       text NOT NULL,
    status     text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleting')),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX file_folders_path_key ON file_folders (tenant_id, path) WHERE status = 'active';
CREATE INDEX file_folders_parent_idx ON file_folders (tenant_id, parent_id, name);

-- One row per stored file. The blob is <tenant_id>/<id> in the files
-- container. status:
--   uploading   the multipart upload is streaming; the clean-up timer removes
--               rows left in it by a crashed process;
--   processing  stored, waiting for the processing worker;
--   ready       processed;
--   failed      processing gave up; status_reason says why;
--   deleted     soft-deleted; the blob and row go after the retention period.
CREATE TABLE files (
    id             text PRIMARY KEY,
    tenant_id      text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    folder_id      text REFERENCES file_folders (id) ON DELETE SET NULL,
    name           text NOT NULL,
    size           bigint NOT NULL DEFAULT 0,
    content_type   text NOT NULL,
    declared_type  text NOT NULL DEFAULT '',
    sha256         text,
    blob_etag      text NOT NULL DEFAULT '',
    status         text NOT NULL CHECK (status IN ('uploading', 'processing', 'ready', 'failed', 'deleted')),
    status_reason  text NOT NULL DEFAULT '',
    embed          boolean NOT NULL DEFAULT false,
    uploaded_by    text NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    processed_at   timestamptz,
    deleted_at     timestamptz
);
CREATE UNIQUE INDEX files_name_key ON files (tenant_id, coalesce(folder_id, ''), name)
    WHERE status <> 'deleted';
CREATE INDEX files_folder_name_idx ON files (tenant_id, folder_id, name, id);
CREATE INDEX files_created_idx ON files (tenant_id, created_at, id);
CREATE INDEX files_cleanup_idx ON files (tenant_id, status, updated_at);

-- Extracted text of a processed file, for the knowledge plugin to index.
CREATE TABLE file_texts (
    file_id      text PRIMARY KEY REFERENCES files (id) ON DELETE CASCADE,
    tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    text         text NOT NULL,
    truncated    boolean NOT NULL,
    extracted_at timestamptz NOT NULL
);

-- A two-step upload: blocks are staged on the blob <tenant_id>/<file_id>
-- and committed when the client completes the session.
CREATE TABLE file_upload_sessions (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    file_id     text NOT NULL UNIQUE,
    folder_id   text REFERENCES file_folders (id) ON DELETE CASCADE,
    name        text NOT NULL,
    size        bigint NOT NULL,
    block_size  bigint NOT NULL,
    declared_type text NOT NULL DEFAULT '',
    sniffed_type  text NOT NULL DEFAULT '',
    embed       boolean NOT NULL DEFAULT false,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX file_upload_sessions_expiry_idx ON file_upload_sessions (tenant_id, expires_at);

-- Share links. Only the SHA-256 of the 256-bit token is stored.
CREATE TABLE file_share_links (
    id             text PRIMARY KEY,
    tenant_id      text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    file_id        text NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    token_hash     bytea NOT NULL UNIQUE,
    password_hash  bytea,
    password_salt  bytea,
    password_iterations integer,
    expires_at     timestamptz,
    max_downloads  integer,
    download_count integer NOT NULL DEFAULT 0,
    revoked_at     timestamptz,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX file_share_links_file_idx ON file_share_links (tenant_id, file_id, id);

-- Per-tenant overrides of the FILES_MAX_FILE_BYTES and
-- FILES_TENANT_QUOTA_BYTES defaults.
CREATE TABLE file_quotas (
    tenant_id      text PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    max_file_bytes bigint,
    quota_bytes    bigint
);

ALTER TABLE file_folders ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON file_folders
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE files ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON files
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE file_texts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON file_texts
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE file_upload_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON file_upload_sessions
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE file_share_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON file_share_links
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));
ALTER TABLE file_quotas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON file_quotas
    USING (tenant_id = current_setting('app.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('app.tenant_id', true));

-- The public share-link download knows only the token, not the tenant. This
-- function runs as the table owner, which row-level security does not apply
-- to, and returns the tenant and link id for a token hash; every later read
-- happens in that tenant's transaction.
CREATE FUNCTION files_find_share_link(p_token_hash bytea)
RETURNS TABLE (id text, tenant_id text, token_hash bytea)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT id, tenant_id, token_hash FROM file_share_links WHERE token_hash = p_token_hash $$;
REVOKE ALL ON FUNCTION files_find_share_link(bytea) FROM PUBLIC;

GRANT SELECT, INSERT, UPDATE, DELETE ON file_folders, files, file_texts, file_upload_sessions,
    file_share_links, file_quotas TO booga_app;
GRANT EXECUTE ON FUNCTION files_find_share_link(bytea) TO booga_app;

-- +goose Down
DROP FUNCTION files_find_share_link(bytea);
DROP TABLE file_quotas;
DROP TABLE file_share_links;
DROP TABLE file_upload_sessions;
DROP TABLE file_texts;
DROP TABLE files;
DROP TABLE file_folders;

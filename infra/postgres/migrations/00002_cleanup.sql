-- +goose Up

-- The clean-up timer runs outside any tenant, so expired idempotency records
-- of every tenant are deleted through this function, which runs as the table
-- owner. It deletes at most p_limit rows per call to keep each run short.
-- +goose StatementBegin
CREATE FUNCTION cleanup_expired_idempotency_records(p_now timestamptz, p_limit integer)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
DECLARE
    deleted bigint;
BEGIN
    DELETE FROM idempotency_records
    WHERE ctid IN (SELECT ctid FROM idempotency_records WHERE expires_at < p_now LIMIT p_limit);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;
-- +goose StatementEnd
REVOKE ALL ON FUNCTION cleanup_expired_idempotency_records(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION cleanup_expired_idempotency_records(timestamptz, integer) TO booga_app;

-- +goose Down
DROP FUNCTION cleanup_expired_idempotency_records(timestamptz, integer);

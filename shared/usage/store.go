// Package usage records one row per API-key request without a database write
// on the request path, and reports on the stored rows.
//
// The path of a record: Recorder.Record puts it in an in-memory buffer, the
// recorder's loop appends batches to a Redis stream, and Drain moves stream
// entries into the usage_records table. Every record carries its id from the
// start, so each step can be retried and ON CONFLICT (id) DO NOTHING keeps
// one row per record.
package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/infra/postgres"
)

// DefaultStream is the Redis stream the recorder writes and Drain reads.
const DefaultStream = "usage:records"

// Record is one API-key request.
type Record struct {
	ID            string    `json:"id"` // "use_..."; the recorder sets it when empty
	TenantID      string    `json:"tenant_id"`
	KeyID         string    `json:"key_id"`
	Endpoint      string    `json:"endpoint"` // route id, such as "GET /api-management/keys"
	Method        string    `json:"method"`
	Status        int       `json:"status"`
	LatencyMicros int64     `json:"latency_us"`
	RequestBytes  int64     `json:"request_bytes"`
	ResponseBytes int64     `json:"response_bytes"`
	ClientIP      string    `json:"client_ip"`
	RequestID     string    `json:"request_id"`
	OccurredAt    time.Time `json:"occurred_at"`
}

// insertRecordsSQL inserts one tenant's batch, passed as one array per column.
// Rows whose id is already stored are skipped, which makes retries harmless.
const insertRecordsSQL = `
INSERT INTO usage_records (id, tenant_id, key_id, endpoint, method, status, latency_us,
                           request_bytes, response_bytes, client_ip, request_id, occurred_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::integer[], $7::bigint[],
                     $8::bigint[], $9::bigint[], $10::text[], $11::text[], $12::timestamptz[])
ON CONFLICT (id) DO NOTHING`

// insertTenantRecords inserts recs, which must all belong to tx's tenant, and
// returns how many rows were new.
func insertTenantRecords(ctx context.Context, tx pgx.Tx, recs []Record) (int, error) {
	n := len(recs)
	var (
		ids, tenants, keys, endpoints, methods = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		statuses                               = make([]int32, n)
		latencies, reqBytes, respBytes         = make([]int64, n), make([]int64, n), make([]int64, n)
		clientIPs, requestIDs                  = make([]string, n), make([]string, n)
		times                                  = make([]time.Time, n)
	)
	for i, r := range recs {
		ids[i], tenants[i], keys[i], endpoints[i], methods[i] = r.ID, r.TenantID, r.KeyID, r.Endpoint, r.Method
		statuses[i] = int32(r.Status)
		latencies[i], reqBytes[i], respBytes[i] = r.LatencyMicros, r.RequestBytes, r.ResponseBytes
		clientIPs[i], requestIDs[i] = r.ClientIP, r.RequestID
		times[i] = r.OccurredAt
	}
	tag, err := tx.Exec(ctx, insertRecordsSQL, ids, tenants, keys, endpoints, methods, statuses, latencies,
		reqBytes, respBytes, clientIPs, requestIDs, times)
	if err != nil {
		return 0, fmt.Errorf("insert %d usage records: %w", n, err)
	}
	return int(tag.RowsAffected()), nil
}

// groupByTenant splits recs per tenant, keeping their order within a tenant.
func groupByTenant(recs []Record) map[string][]Record {
	groups := map[string][]Record{}
	for _, r := range recs {
		groups[r.TenantID] = append(groups[r.TenantID], r)
	}
	return groups
}

// storeRecords inserts recs in one transaction per tenant, because row-level
// security admits only rows of the transaction's tenant. It stops at the
// first failing tenant, so earlier tenants' rows stay committed.
func storeRecords(ctx context.Context, pool *pgxpool.Pool, recs []Record) (inserted int, err error) {
	for tenantID, group := range groupByTenant(recs) {
		err := postgres.InTenant(ctx, pool, tenantID, func(tx pgx.Tx) error {
			n, err := insertTenantRecords(ctx, tx, group)
			inserted += n
			return err
		})
		if err != nil {
			return inserted, fmt.Errorf("store usage records of tenant %s: %w", tenantID, err)
		}
	}
	return inserted, nil
}

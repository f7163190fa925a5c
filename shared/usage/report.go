package usage

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// Report limits.
const (
	DefaultReportRange = 24 * time.Hour
	MaxReportRange     = 90 * 24 * time.Hour
	// MaxReportBuckets bounds (to - from) / granularity. Buckets align to UTC
	// boundaries, so an unaligned range touches at most one bucket more.
	MaxReportBuckets = 1440
	// MaxReportRows bounds the rows of one report; each bucket has one row per
	// key and endpoint that had requests in it.
	MaxReportRows = 10_000
)

// Granularities of a report, with their bucket lengths.
var granularities = map[string]time.Duration{
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
}

// ReportQuery selects the usage rows of the request's tenant.
type ReportQuery struct {
	From, To    time.Time // half-open range [From, To)
	Granularity string    // minute, hour or day
	KeyID       string    // optional filter
}

// ReportResult is the body of GET /api/api-management/usage.
type ReportResult struct {
	From        time.Time   `json:"from"`
	To          time.Time   `json:"to"`
	Granularity string      `json:"granularity"`
	KeyID       string      `json:"key_id,omitempty"`
	Rows        []ReportRow `json:"rows"`
}

// ReportRow aggregates the requests of one key to one endpoint in one bucket.
// ClientErrors counts 4xx responses and ServerErrors 5xx responses. ErrorRate
// is (ClientErrors + ServerErrors) / Requests. Latencies are continuous
// percentiles (percentile_cont) in milliseconds.
type ReportRow struct {
	BucketStart  time.Time `json:"bucket_start"`
	KeyID        string    `json:"key_id"`
	Endpoint     string    `json:"endpoint"`
	Requests     int64     `json:"requests"`
	ClientErrors int64     `json:"client_errors"`
	ServerErrors int64     `json:"server_errors"`
	ErrorRate    float64   `json:"error_rate"`
	LatencyP50   float64   `json:"latency_p50_ms"`
	LatencyP95   float64   `json:"latency_p95_ms"`
	LatencyP99   float64   `json:"latency_p99_ms"`
}

// ParseReportQuery reads from, to (RFC 3339), granularity and key_id from the
// URL query. from and to default to the 24 hours before now, and granularity
// to hour. Every invalid parameter is named in one problem.Invalid.
func ParseReportQuery(r *http.Request, now time.Time) (ReportQuery, error) {
	v := r.URL.Query()
	var fields []problem.FieldError
	q := ReportQuery{To: now.UTC(), Granularity: "hour", KeyID: v.Get("key_id")}

	if raw := v.Get("to"); raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			fields = append(fields, problem.FieldError{Field: "to", Code: "format", Message: fmt.Sprintf("must be an RFC 3339 time such as 2025-01-31T00:00:00Z, got %q", raw)})
		}
		q.To = t.UTC()
	}
	q.From = q.To.Add(-DefaultReportRange)
	if raw := v.Get("from"); raw != "" {
		t, err := time.Parse(time.RFC3339, raw)
		if err != nil {
			fields = append(fields, problem.FieldError{Field: "from", Code: "format", Message: fmt.Sprintf("must be an RFC 3339 time such as 2025-01-30T00:00:00Z, got %q", raw)})
		}
		q.From = t.UTC()
	}
	if raw := v.Get("granularity"); raw != "" {
		q.Granularity = raw
	}
	step, knownGranularity := granularities[q.Granularity]
	if !knownGranularity {
		fields = append(fields, problem.FieldError{Field: "granularity", Code: "enum", Message: fmt.Sprintf("must be minute, hour or day, got %q", q.Granularity)})
	}
	if q.KeyID != "" && !ids.Valid(ids.APIKey, q.KeyID) {
		fields = append(fields, problem.FieldError{Field: "key_id", Code: "format", Message: fmt.Sprintf("must be an API key id such as key_01jd8x3k6m4v0q9s7t2w5y8z1a, got %q", q.KeyID)})
	}
	if len(fields) > 0 {
		return ReportQuery{}, problem.Invalid(fields...)
	}

	span := q.To.Sub(q.From)
	switch {
	case span <= 0:
		fields = append(fields, problem.FieldError{Field: "to", Code: "range", Message: "must be after from"})
	case span > MaxReportRange:
		fields = append(fields, problem.FieldError{Field: "from", Code: "range", Message: fmt.Sprintf("must be at most 90 days before to, got %s", span.Round(time.Second))})
	case int64(math.Ceil(float64(span)/float64(step))) > MaxReportBuckets:
		fields = append(fields, problem.FieldError{Field: "granularity", Code: "range", Message: fmt.Sprintf(
			"gives %d buckets for this range, more than %d; use a coarser granularity or a shorter range",
			int64(math.Ceil(float64(span)/float64(step))), MaxReportBuckets)})
	}
	if len(fields) > 0 {
		return ReportQuery{}, problem.Invalid(fields...)
	}
	return q, nil
}

// reportSQL buckets the tenant's rows with date_bin from a UTC origin, so
// buckets start on whole UTC minutes, hours or days. Row-level security
// limits it to the transaction's tenant.
const reportSQL = `
SELECT date_bin($1::interval, occurred_at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket_start,
       key_id,
       endpoint,
       count(*),
       count(*) FILTER (WHERE status BETWEEN 400 AND 499),
       count(*) FILTER (WHERE status >= 500),
       percentile_cont(0.50) WITHIN GROUP (ORDER BY latency_us) / 1000.0,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_us) / 1000.0,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_us) / 1000.0
FROM usage_records
WHERE occurred_at >= $2 AND occurred_at < $3 AND ($4 = '' OR key_id = $4)
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
LIMIT $5`

// Report aggregates the usage rows that tx's tenant can see. q must come
// from ParseReportQuery. A report of more than MaxReportRows rows is a
// problem.Invalid naming granularity.
func Report(ctx context.Context, tx pgx.Tx, q ReportQuery) (ReportResult, error) {
	step, ok := granularities[q.Granularity]
	if !ok {
		return ReportResult{}, problem.Invalid(problem.FieldError{Field: "granularity", Code: "enum", Message: fmt.Sprintf("must be minute, hour or day, got %q", q.Granularity)})
	}
	rows, err := tx.Query(ctx, reportSQL, step, q.From, q.To, q.KeyID, MaxReportRows+1)
	if err != nil {
		return ReportResult{}, fmt.Errorf("query usage report: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ReportRow, error) {
		var r ReportRow
		err := row.Scan(&r.BucketStart, &r.KeyID, &r.Endpoint, &r.Requests, &r.ClientErrors, &r.ServerErrors,
			&r.LatencyP50, &r.LatencyP95, &r.LatencyP99)
		return r, err
	})
	if err != nil {
		return ReportResult{}, fmt.Errorf("read usage report: %w", err)
	}
	if len(out) > MaxReportRows {
		return ReportResult{}, problem.Invalid(problem.FieldError{Field: "granularity", Code: "range", Message: fmt.Sprintf(
			"the report has more than %d rows; use a coarser granularity, a shorter range or key_id", MaxReportRows)})
	}
	if out == nil {
		out = []ReportRow{}
	}
	for i := range out {
		out[i].BucketStart = out[i].BucketStart.UTC()
		out[i].ErrorRate = float64(out[i].ClientErrors+out[i].ServerErrors) / float64(out[i].Requests)
	}
	return ReportResult{From: q.From, To: q.To, Granularity: q.Granularity, KeyID: q.KeyID, Rows: out}, nil
}

// ReportHandler serves GET /api/api-management/usage in the request's tenant
// transaction, reading the current time from now (time.Now when nil).
func ReportHandler(now func() time.Time) func(http.ResponseWriter, *http.Request) error {
	if now == nil {
		now = time.Now
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		q, err := ParseReportQuery(r, now())
		if err != nil {
			return err
		}
		tx, err := request.Tx(r.Context())
		if err != nil {
			return fmt.Errorf("open tenant transaction: %w", err)
		}
		rep, err := Report(r.Context(), tx, q)
		if err != nil {
			return err
		}
		httpx.WriteJSON(w, http.StatusOK, rep)
		return nil
	}
}

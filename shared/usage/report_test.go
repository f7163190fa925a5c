package usage

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

const (
	keyOne = "key_01jd8x3k6m4v0q9s7t2w5y8z1a"
	keyTwo = "key_01jd8x3k6m4v0q9s7t2w5y8z1b"
)

// reportNow is the time the report tests treat as now.
var reportNow = time.Date(2030, 1, 2, 12, 0, 0, 0, time.UTC)

// seedReport stores, for tenant ten_a, four requests of keyOne to one
// endpoint in the 10:00 hour (200, 404, 500, 200 at 1-4 ms), one request of
// keyTwo at 11:30, and for tenant ten_b one request in the 10:00 hour.
func seedReport(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	var recs []Record
	for i, status := range []int{200, 404, 500, 200} {
		r := sampleRecord("ten_a", i)
		r.ID = ""
		r.KeyID = keyOne
		r.Status = status
		r.LatencyMicros = int64(1000 * (i + 1))
		r.OccurredAt = time.Date(2030, 1, 2, 10, 10+i, 0, 0, time.UTC)
		recs = append(recs, r)
	}
	other := sampleRecord("ten_a", 9)
	other.KeyID = keyTwo
	other.Endpoint = "POST /files/items"
	other.OccurredAt = time.Date(2030, 1, 2, 11, 30, 0, 0, time.UTC)
	recs = append(recs, other)
	foreign := sampleRecord("ten_b", 0)
	foreign.KeyID = keyOne
	foreign.OccurredAt = time.Date(2030, 1, 2, 10, 20, 0, 0, time.UTC)
	recs = append(recs, foreign)
	for i := range recs {
		recs[i].ID = "use_01jd8x3k6m4v0q9s7t2w5y8z" + string(rune('a'+i)) + "0"
	}
	_, err := storeRecords(context.Background(), pool, recs)
	require.NoError(t, err)
}

func inTenant(t *testing.T, pool *pgxpool.Pool, tenantID string) pgx.Tx {
	t.Helper()
	tx, err := postgres.BeginTenant(context.Background(), pool, tenantID)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx
}

func TestReport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := testPool(t)
	seedReport(t, pool)
	day := ReportQuery{From: reportNow.Add(-24 * time.Hour), To: reportNow, Granularity: "hour"}

	t.Run("AggregatesPerBucketKeyEndpoint", func(t *testing.T) {
		t.Parallel()
		rep, err := Report(ctx, inTenant(t, pool, "ten_a"), day)
		require.NoError(t, err)
		require.Len(t, rep.Rows, 2)

		first := rep.Rows[0]
		require.Equal(t, time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC), first.BucketStart)
		require.Equal(t, keyOne, first.KeyID)
		require.Equal(t, "GET /files/items", first.Endpoint)
		require.Equal(t, int64(4), first.Requests, "the other tenant's request is not counted")
		require.Equal(t, int64(1), first.ClientErrors)
		require.Equal(t, int64(1), first.ServerErrors)
		require.InDelta(t, 0.5, first.ErrorRate, 1e-9)
		require.InDelta(t, 2.5, first.LatencyP50, 1e-9)
		require.InDelta(t, 3.85, first.LatencyP95, 1e-9)
		require.InDelta(t, 3.97, first.LatencyP99, 1e-9)

		second := rep.Rows[1]
		require.Equal(t, time.Date(2030, 1, 2, 11, 0, 0, 0, time.UTC), second.BucketStart)
		require.Equal(t, keyTwo, second.KeyID)
		require.Equal(t, "POST /files/items", second.Endpoint)
		require.Equal(t, int64(1), second.Requests)
		require.Zero(t, second.ErrorRate)
	})

	t.Run("OtherTenantSeesOnlyItsRows", func(t *testing.T) {
		t.Parallel()
		rep, err := Report(ctx, inTenant(t, pool, "ten_b"), day)
		require.NoError(t, err)
		require.Len(t, rep.Rows, 1)
		require.Equal(t, int64(1), rep.Rows[0].Requests)
	})

	t.Run("FiltersByKey", func(t *testing.T) {
		t.Parallel()
		q := day
		q.KeyID = keyTwo
		rep, err := Report(ctx, inTenant(t, pool, "ten_a"), q)
		require.NoError(t, err)
		require.Len(t, rep.Rows, 1)
		require.Equal(t, keyTwo, rep.Rows[0].KeyID)
		require.Equal(t, keyTwo, rep.KeyID)
	})

	t.Run("MinuteBuckets", func(t *testing.T) {
		t.Parallel()
		q := ReportQuery{From: time.Date(2030, 1, 2, 10, 0, 0, 0, time.UTC), To: time.Date(2030, 1, 2, 11, 0, 0, 0, time.UTC), Granularity: "minute"}
		rep, err := Report(ctx, inTenant(t, pool, "ten_a"), q)
		require.NoError(t, err)
		require.Len(t, rep.Rows, 4)
		require.Equal(t, time.Date(2030, 1, 2, 10, 12, 0, 0, time.UTC), rep.Rows[2].BucketStart)
		require.Equal(t, int64(1), rep.Rows[2].ServerErrors)
	})

	t.Run("DayBucketsAlignToUTC", func(t *testing.T) {
		t.Parallel()
		q := ReportQuery{From: reportNow.Add(-72 * time.Hour), To: reportNow, Granularity: "day"}
		rep, err := Report(ctx, inTenant(t, pool, "ten_a"), q)
		require.NoError(t, err)
		require.Len(t, rep.Rows, 2)
		require.Equal(t, time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC), rep.Rows[0].BucketStart)
		require.Equal(t, int64(4), rep.Rows[0].Requests)
	})

	t.Run("RangeIsHalfOpen", func(t *testing.T) {
		t.Parallel()
		q := ReportQuery{From: time.Date(2030, 1, 2, 10, 11, 0, 0, time.UTC), To: time.Date(2030, 1, 2, 10, 13, 0, 0, time.UTC), Granularity: "hour"}
		rep, err := Report(ctx, inTenant(t, pool, "ten_a"), q)
		require.NoError(t, err)
		require.Len(t, rep.Rows, 1)
		require.Equal(t, int64(2), rep.Rows[0].Requests, "10:11 is in, 10:13 is out")
	})

	t.Run("EmptyRangeHasEmptyRows", func(t *testing.T) {
		t.Parallel()
		q := ReportQuery{From: reportNow.Add(24 * time.Hour), To: reportNow.Add(48 * time.Hour), Granularity: "hour"}
		rep, err := Report(ctx, inTenant(t, pool, "ten_a"), q)
		require.NoError(t, err)
		require.NotNil(t, rep.Rows)
		require.Empty(t, rep.Rows)
	})

	t.Run("UnknownGranularity", func(t *testing.T) {
		t.Parallel()
		q := day
		q.Granularity = "week"
		_, err := Report(ctx, inTenant(t, pool, "ten_a"), q)
		requireInvalidField(t, err, "granularity")
	})
}

func requireInvalidField(t *testing.T, err error, field string) {
	t.Helper()
	var pe *problem.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, problem.CodeInvalid, pe.Code)
	require.Len(t, pe.Fields, 1, "fields: %+v", pe.Fields)
	require.Equal(t, field, pe.Fields[0].Field)
}

func TestParseReportQuery(t *testing.T) {
	t.Parallel()

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		q, err := ParseReportQuery(httptest.NewRequest(http.MethodGet, "/api/api-management/usage", nil), reportNow)
		require.NoError(t, err)
		require.Equal(t, reportNow, q.To)
		require.Equal(t, reportNow.Add(-24*time.Hour), q.From)
		require.Equal(t, "hour", q.Granularity)
		require.Empty(t, q.KeyID)
	})

	t.Run("AllParameters", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodGet, "/api/api-management/usage?from=2030-01-01T00:00:00%2B02:00&to=2030-01-01T12:00:00Z&granularity=minute&key_id="+keyOne, nil)
		q, err := ParseReportQuery(r, reportNow)
		require.NoError(t, err)
		require.Equal(t, time.Date(2029, 12, 31, 22, 0, 0, 0, time.UTC), q.From)
		require.Equal(t, time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC), q.To)
		require.Equal(t, "minute", q.Granularity)
		require.Equal(t, keyOne, q.KeyID)
	})

	t.Run("OnlyToShiftsDefaultFrom", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodGet, "/u?to=2030-01-01T00:00:00Z", nil)
		q, err := ParseReportQuery(r, reportNow)
		require.NoError(t, err)
		require.Equal(t, time.Date(2029, 12, 31, 0, 0, 0, 0, time.UTC), q.From)
	})

	invalid := []struct {
		name, query, field string
	}{
		{"FromNotRFC3339", "from=yesterday", "from"},
		{"ToNotRFC3339", "to=2030-01-01", "to"},
		{"ToBeforeFrom", "from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z", "to"},
		{"EmptyRange", "from=2030-01-01T00:00:00Z&to=2030-01-01T00:00:00Z", "to"},
		{"RangeOver90Days", "from=2029-09-01T00:00:00Z&to=2030-01-01T00:00:00Z", "from"},
		{"UnknownGranularity", "granularity=week", "granularity"},
		{"TooManyMinuteBuckets", "from=2029-12-30T00:00:00Z&to=2030-01-01T00:00:00Z&granularity=minute", "granularity"},
		{"TooManyHourBuckets", "from=2029-11-01T00:00:00Z&to=2030-01-01T00:00:00Z&granularity=hour", "granularity"},
		{"KeyIDNotAKey", "key_id=usr_01jd8x3k6m4v0q9s7t2w5y8z1a", "key_id"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseReportQuery(httptest.NewRequest(http.MethodGet, "/u?"+tc.query, nil), reportNow)
			requireInvalidField(t, err, tc.field)
		})
	}

	t.Run("MinuteBucketsForADayAreAllowed", func(t *testing.T) {
		t.Parallel()
		_, err := ParseReportQuery(httptest.NewRequest(http.MethodGet, "/u?granularity=minute", nil), reportNow)
		require.NoError(t, err)
	})

	t.Run("NamesEveryInvalidField", func(t *testing.T) {
		t.Parallel()
		_, err := ParseReportQuery(httptest.NewRequest(http.MethodGet, "/u?from=x&granularity=week", nil), reportNow)
		var pe *problem.Error
		require.ErrorAs(t, err, &pe)
		require.Len(t, pe.Fields, 2)
		require.Equal(t, "from", pe.Fields[0].Field)
		require.Equal(t, "granularity", pe.Fields[1].Field)
	})
}

func TestReportHandler(t *testing.T) {
	t.Parallel()
	pool, _ := testPool(t)
	seedReport(t, pool)

	serve := func(t *testing.T, target string) *httptest.ResponseRecorder {
		t.Helper()
		tx := inTenant(t, pool, "ten_a")
		ctx := request.New(context.Background())
		request.SetTx(ctx, func(context.Context) (pgx.Tx, error) { return tx, nil })
		r := httptest.NewRequest(http.MethodGet, target, nil).WithContext(ctx)
		w := httptest.NewRecorder()
		if err := ReportHandler(nil)(w, r); err != nil {
			problem.Write(w, r, err)
		}
		return w
	}

	t.Run("WritesReport", func(t *testing.T) {
		t.Parallel()
		w := serve(t, "/api/api-management/usage?from=2030-01-02T00:00:00Z&to=2030-01-03T00:00:00Z")
		require.Equal(t, http.StatusOK, w.Code)
		require.Equal(t, "application/json", w.Header().Get("Content-Type"))
		var body struct {
			Granularity string `json:"granularity"`
			Rows        []struct {
				BucketStart  time.Time `json:"bucket_start"`
				KeyID        string    `json:"key_id"`
				Requests     int64     `json:"requests"`
				ClientErrors int64     `json:"client_errors"`
				ServerErrors int64     `json:"server_errors"`
				LatencyP50   float64   `json:"latency_p50_ms"`
			} `json:"rows"`
		}
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body))
		require.Equal(t, "hour", body.Granularity)
		require.Len(t, body.Rows, 2)
		require.Equal(t, int64(4), body.Rows[0].Requests)
		require.Equal(t, int64(1), body.Rows[0].ClientErrors)
		require.Equal(t, int64(1), body.Rows[0].ServerErrors)
		require.InDelta(t, 2.5, body.Rows[0].LatencyP50, 1e-9)
	})

	t.Run("InvalidQueryIs422", func(t *testing.T) {
		t.Parallel()
		w := serve(t, "/api/api-management/usage?granularity=second")
		require.Equal(t, http.StatusUnprocessableEntity, w.Code)
		require.Contains(t, w.Body.String(), `"field":"granularity"`)
	})

	t.Run("NoTenantFails", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodGet, "/api/api-management/usage", nil).WithContext(request.New(context.Background()))
		err := ReportHandler(nil)(httptest.NewRecorder(), r)
		require.ErrorIs(t, err, request.ErrNoTenant)
	})
}

package apimanagement

import (
	"net/http"
	"time"

	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/usage"
)

// RegisterUsage adds GET /api-management/usage.
func RegisterUsage(reg *registry.Registry, now func() time.Time) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/api-management/usage", OperationID: "getUsage",
		Capability: CapUsageRead, KeyManagement: true,
		Summary: "Report API usage",
		Description: "Counts requests, 4xx and 5xx responses, error rate and latency percentiles (p50, p95, p99 in ms) " +
			"per time bucket, key and endpoint for the caller's tenant. Records reach the report within about a minute, " +
			"when the usage-drain timer has moved them from Redis to PostgreSQL.",
		Params: []registry.Param{
			{Name: "from", In: "query", Type: "string", Format: "date-time", Description: "Start of the range (RFC 3339, inclusive); default 24 hours before to."},
			{Name: "to", In: "query", Type: "string", Format: "date-time", Description: "End of the range (RFC 3339, exclusive); default now. At most 90 days after from."},
			{Name: "granularity", In: "query", Type: "string", Enum: []string{"minute", "hour", "day"}, Default: "hour", Description: "Bucket size."},
			{Name: "key_id", In: "query", Type: "string", Description: "Only this key's requests."},
		},
		Responses: map[int]registry.Response{http.StatusOK: {Description: "The usage report.", Body: usage.ReportResult{}}},
		Handler:   usage.ReportHandler(now),
	})
}

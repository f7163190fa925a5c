package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/openapi"
)

// BenchmarkPipeline_CurrentKey measures the server side of an authenticated,
// rate-limited GET /api/api-management/keys/current with a cached key: one
// Redis round trip, no PostgreSQL.
func BenchmarkPipeline_CurrentKey(b *testing.B) {
	p := newTestPlatform(b, nil)
	tenant := p.tenantWithLimits("Bench", 1_000_000, 60_000_000)
	h := p.app.handler()
	req := httptest.NewRequest(http.MethodGet, "/api/api-management/keys/current", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Set("Authorization", "Bearer "+tenant.APIKey)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}

// BenchmarkOpenAPI_Combined measures building the combined OpenAPI document
// of every registered route, with the webhook events, as YAML.
func BenchmarkOpenAPI_Combined(b *testing.B) {
	reg := routesOnly(b)
	opts := openapi.Options{Events: events.OpenAPITypes()}
	for b.Loop() {
		if _, err := openapi.Build(reg, opts, openapi.FormatYAML); err != nil {
			b.Fatal(err)
		}
	}
}

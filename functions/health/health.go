// Package health is the health function: GET /api/health checks PostgreSQL
// and Redis and responds 503 when either is down.
package health

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/registry"
)

// checkTimeout bounds each dependency check.
const checkTimeout = 2 * time.Second

// Check is one dependency's state.
type Check struct {
	Status    string  `json:"status" enum:"up,down"`
	LatencyMS float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// Report is the health response.
type Report struct {
	Status string           `json:"status" enum:"ok,unavailable"`
	Checks map[string]Check `json:"checks"`
}

// Handler checks the platform's dependencies.
type Handler struct {
	Pool  *pgxpool.Pool
	Redis redis.UniversalClient
}

// Register adds GET /health.
func (h *Handler) Register(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: "health", Method: http.MethodGet, Path: "/health", OperationID: "getHealth", Auth: registry.AuthPublic,
		Summary:     "Check platform health",
		Description: "Checks PostgreSQL and Redis, reports each, and answers 503 when either is down. Needs no credential.",
		Responses: map[int]registry.Response{
			http.StatusOK:                 {Description: "Every dependency is up.", Body: Report{}},
			http.StatusServiceUnavailable: {Description: "At least one dependency is down.", Body: Report{}},
		},
		Handler: h.serve,
	})
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	checks := map[string]func(context.Context) error{
		"postgres": func(ctx context.Context) error { return h.Pool.Ping(ctx) },
		"redis":    func(ctx context.Context) error { return h.Redis.Ping(ctx).Err() },
	}
	report := Report{Status: "ok", Checks: map[string]Check{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
			defer cancel()
			start := time.Now()
			err := check(ctx)
			c := Check{Status: "up", LatencyMS: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				// The cause can name hosts and ports, so it goes to the log only.
				c.Status, c.Error = "down", "check failed; the service log has the cause"
				slog.WarnContext(ctx, "health check failed", "dependency", name, "error", err)
			}
			mu.Lock()
			report.Checks[name] = c
			if err != nil {
				report.Status = "unavailable"
			}
			mu.Unlock()
		}()
	}
	wg.Wait()

	status := http.StatusOK
	if report.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.WriteJSON(w, status, report)
	return nil
}

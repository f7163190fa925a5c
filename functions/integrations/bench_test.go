package integrations

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/functions"
	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/customhandler"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/localrt"
	"github.com/booga-enterprise/functions/shared/queue"
	"github.com/booga-enterprise/functions/shared/webhooks"
)

// BenchmarkEndToEnd measures local mode from commit to receipt: each
// iteration commits one event, the relay publishes it after the commit,
// the local runtime runs event-fanout and webhook-delivery through the
// custom-handler protocol, and a loopback receiver records the arrival.
// BENCH_POLL_INTERVAL sets the runtime's idle poll (default 1s, as in
// local mode).
func BenchmarkEndToEnd(b *testing.B) {
	ctx := context.Background()
	pool, _ := pgtest.NewPool(b)
	poll := time.Second
	if v := os.Getenv("BENCH_POLL_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(b, err)
		poll = d
	}

	var mu sync.Mutex
	received := map[string]time.Time{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received[r.Header.Get(webhooks.HeaderID)] = time.Now()
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(srv.Close)

	cfg := config.Config{Env: config.EnvLocal, WebhooksAllowLoopback: true, WebhookTimeout: 10 * time.Second,
		WebhookConcurrency: 16, WebhookDisableAfter: 120 * time.Hour, WebhookSecretOverlap: 24 * time.Hour}
	m := New(Options{Config: cfg, Pool: pool, Publisher: queue.NewStore(pool)})
	defs, err := functions.Definitions()
	require.NoError(b, err)
	var mine []functions.Definition
	for _, d := range defs {
		if d.Name == FunctionFanOut || d.Name == FunctionDelivery {
			mine = append(mine, d)
		}
	}
	rt, err := localrt.New(localrt.Options{Handler: customhandler.NewHandler(m.Functions(), nil), Functions: mine,
		Queue: queue.NewStore(pool), PollInterval: poll})
	require.NoError(b, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(rctx) }()
	b.Cleanup(func() { cancel(); <-done }) //nolint:errcheck // the relay's exit error after cancel is expected

	tenant := ids.New(ids.Tenant)
	require.NoError(b, postgres.InTenant(ctx, pool, tenant, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, type, rate_limit_per_minute, rate_limit_per_hour)
			VALUES ($1, 'Bench', 'corporate', 10, 100)`, tenant); err != nil {
			return err
		}
		_, err := m.Webhooks.Create(ctx, tx, tenant, webhooks.WebhookCreateRequest{URL: srv.URL + "/hook", EventTypes: []string{"*"}})
		return err
	}))

	committed := make(map[string]time.Time, b.N)
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var e events.Event
		require.NoError(b, postgres.InTenant(ctx, pool, tenant, func(tx pgx.Tx) error {
			var err error
			e, err = events.Emit(ctx, tx, tenant, events.FileUploaded, events.FileData{FileID: "fil_1", Name: "a.txt"})
			return err
		}))
		committed[e.ID] = time.Now()
		require.NoError(b, m.Relay.Publish(ctx, e))
	}
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	latencies := make([]time.Duration, 0, b.N)
	mu.Lock()
	for id, at := range committed {
		latencies = append(latencies, received[id].Sub(at))
	}
	mu.Unlock()
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[(len(latencies)*99)/100].Microseconds())/1000, "p99-ms")
}

package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/queue"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// receiver is a webhook receiver on loopback that responds with the status
// its respond function returns for the n-th request (1-based).
type receiver struct {
	mu      sync.Mutex
	ids     []string
	codes   []int
	respond func(n int, w http.ResponseWriter) int
	srv     *httptest.Server
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter) int) *receiver {
	t.Helper()
	r := &receiver{respond: respond}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.ids = append(r.ids, req.Header.Get(HeaderID))
		n := len(r.ids)
		r.mu.Unlock()
		code := r.respond(n, w)
		r.mu.Lock()
		r.codes = append(r.codes, code)
		r.mu.Unlock()
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() ([]string, []int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...), append([]int(nil), r.codes...)
}

type harness struct {
	t      *testing.T
	pool   *pgxpool.Pool
	store  *queue.Store
	clock  *fakeClock
	svc    *Service
	relay  *events.Relay
	tenant string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	pool, _ := pgtest.NewPool(t)
	// The queue makes messages published without NotBefore visible at the
	// database's now(), so the test clock starts ahead of the real time. It
	// is truncated to microseconds because PostgreSQL stores no finer time.
	clock := &fakeClock{now: time.Now().Add(time.Second).Truncate(time.Microsecond)}
	store := queue.NewStore(pool, queue.WithClock(clock.Now))
	relay := &events.Relay{Pool: pool, Publisher: store, Now: clock.Now}
	schedule := DefaultSchedule()
	schedule.Rand = func() float64 { return 0.5 }
	svc := &Service{Pool: pool, Publisher: store, Relay: relay, Guard: &Guard{AllowLoopback: true}, Now: clock.Now,
		Schedule: schedule, Timeout: 2 * time.Second, SecretOverlap: time.Hour}
	h := &harness{t: t, pool: pool, store: store, clock: clock, svc: svc, relay: relay}
	h.tenant = h.newTenant("Acme")
	return h
}

func (h *harness) newTenant(name string) string {
	h.t.Helper()
	id := ids.New(ids.Tenant)
	err := postgres.InTenant(context.Background(), h.pool, id, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `INSERT INTO tenants (id, name, type, rate_limit_per_minute, rate_limit_per_hour)
			VALUES ($1, $2, 'corporate', 10, 100)`, id, name)
		return err
	})
	require.NoError(h.t, err)
	return id
}

func (h *harness) endpoint(tenant, url string, types ...string) CreatedWebhookEndpoint {
	h.t.Helper()
	var e CreatedWebhookEndpoint
	err := postgres.InTenant(context.Background(), h.pool, tenant, func(tx pgx.Tx) error {
		var err error
		e, err = h.svc.Create(context.Background(), tx, tenant, WebhookCreateRequest{URL: url, EventTypes: types})
		return err
	})
	require.NoError(h.t, err)
	return e
}

// commit emits an event in its own transaction and returns it unpublished.
func (h *harness) commit(tenant, eventType string, data any) events.Event {
	h.t.Helper()
	var e events.Event
	err := postgres.InTenant(context.Background(), h.pool, tenant, func(tx pgx.Tx) error {
		var err error
		e, err = events.Emit(context.Background(), tx, tenant, eventType, data)
		return err
	})
	require.NoError(h.t, err)
	return e
}

func (h *harness) emit(tenant, eventType string, data any) events.Event {
	h.t.Helper()
	e := h.commit(tenant, eventType, data)
	require.NoError(h.t, h.relay.Publish(context.Background(), e))
	return e
}

// pump runs the fan-out and delivery functions on every visible message
// until both queues are empty. A failed invocation abandons its message
// for a minute of the test clock, as the runtime's backoff would.
func (h *harness) pump() {
	h.t.Helper()
	ctx := context.Background()
	for {
		progressed := false
		ds, err := h.store.Receive(ctx, events.Topic, 16, time.Minute)
		require.NoError(h.t, err)
		for _, d := range ds {
			e := decodeEvent(h.t, d.Body)
			_, err := h.svc.FanOut(ctx, e)
			require.NoError(h.t, err)
			require.NoError(h.t, h.store.Complete(ctx, d.LockToken))
			progressed = true
		}
		ds, err = h.store.Receive(ctx, DeliveryQueue, 1, time.Minute)
		require.NoError(h.t, err)
		for _, d := range ds {
			progressed = true
			if err := h.svc.DeliverBatch(ctx, [][]byte{d.Body}); err != nil {
				require.NoError(h.t, h.store.Abandon(ctx, d.LockToken, err, time.Minute))
				continue
			}
			require.NoError(h.t, h.store.Complete(ctx, d.LockToken))
		}
		if !progressed {
			return
		}
	}
}

func decodeEvent(t *testing.T, body []byte) events.Event {
	t.Helper()
	var e events.Event
	require.NoError(t, jsonUnmarshal(body, &e))
	return e
}

type deliveryRow struct {
	ID, Status    string
	Attempts      int
	NextAttemptAt *time.Time
}

func (h *harness) deliveries(tenant, endpointID string) []deliveryRow {
	h.t.Helper()
	var out []deliveryRow
	err := postgres.InTenant(context.Background(), h.pool, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(context.Background(), `SELECT id, status, attempt_count, next_attempt_at FROM webhook_deliveries
			WHERE endpoint_id = $1 ORDER BY id`, endpointID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowToStructByPos[deliveryRow])
		return err
	})
	require.NoError(h.t, err)
	return out
}

func (h *harness) delivery(tenant, endpointID, id string) WebhookDelivery {
	h.t.Helper()
	var d WebhookDelivery
	err := postgres.InTenant(context.Background(), h.pool, tenant, func(tx pgx.Tx) error {
		var err error
		d, err = h.svc.GetDelivery(context.Background(), tx, tenant, endpointID, id)
		return err
	})
	require.NoError(h.t, err)
	return d
}

func TestService_FailsThenSucceeds(t *testing.T) {
	t.Parallel()
	const failures = 3
	h := newHarness(t)
	recv := newReceiver(t, func(n int, _ http.ResponseWriter) int {
		if n <= failures {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ep := h.endpoint(h.tenant, recv.srv.URL+"/hook", "file.*")
	ev := h.emit(h.tenant, events.FileUploaded, events.FileData{FileID: "fil_1", Name: "a.txt"})

	h.pump()
	var attemptTimes []time.Time
	attemptTimes = append(attemptTimes, h.clock.Now())
	for range failures {
		rows := h.deliveries(h.tenant, ep.ID)
		require.Len(t, rows, 1)
		require.Equal(t, StatusRetrying, rows[0].Status)
		h.clock.Set(*rows[0].NextAttemptAt)
		attemptTimes = append(attemptTimes, h.clock.Now())
		h.pump()
	}

	idsSeen, codes := recv.requests()
	require.Equal(t, []int{500, 500, 500, 200}, codes)
	for _, id := range idsSeen {
		require.Equal(t, ev.ID, id, "webhook-id is the event id on every attempt")
	}
	require.Equal(t, time.Minute, attemptTimes[1].Sub(attemptTimes[0]))
	require.Equal(t, 4*time.Minute, attemptTimes[2].Sub(attemptTimes[1]))
	require.Equal(t, 16*time.Minute, attemptTimes[3].Sub(attemptTimes[2]))

	rows := h.deliveries(h.tenant, ep.ID)
	d := h.delivery(h.tenant, ep.ID, rows[0].ID)
	require.Equal(t, StatusSucceeded, d.Status)
	require.Equal(t, 4, d.AttemptCount)
	require.Len(t, d.Attempts, 4)
	for i, a := range d.Attempts {
		require.Equal(t, i+1, a.Number)
		require.NotNil(t, a.StatusCode)
		require.Equal(t, codes[i], *a.StatusCode)
		require.NotNil(t, a.LatencyMS)
		require.NotNil(t, a.ResponseExcerpt)
	}
	require.Equal(t, OutcomeSucceeded, d.Attempts[3].Outcome)
	require.Equal(t, "status 500", *d.Attempts[0].Error)

	t.Run("RedeliveredMessageSendsNothing", func(t *testing.T) {
		for n := 1; n <= 4; n++ {
			m, err := deliveryMessage(h.tenant, d.ID, "again."+attemptMessageID(d.ID, n), time.Time{})
			require.NoError(t, err)
			require.NoError(t, h.store.Publish(context.Background(), DeliveryQueue, m))
		}
		h.pump()
		_, codes := recv.requests()
		require.Len(t, codes, 4, "a succeeded delivery is not sent again")
	})
}

func TestService_CrashBetweenSendAndRecord(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	recv := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusNoContent })
	ep := h.endpoint(h.tenant, recv.srv.URL+"/hook", "*")
	crashed := false
	h.svc.afterSend = func(string) error {
		if !crashed {
			crashed = true
			return errors.New("simulated crash after send")
		}
		return nil
	}
	ev := h.emit(h.tenant, events.UserCreated, events.UserData{UserID: "usr_1"})
	h.pump()

	rows := h.deliveries(h.tenant, ep.ID)
	require.Equal(t, StatusSending, rows[0].Status, "the outcome was never recorded")
	got, _ := recv.requests()
	require.Len(t, got, 1)

	// The abandoned message comes back after a minute, past the attempt's
	// lease (timeout + 30s), and the attempt is made again.
	h.clock.Advance(time.Minute)
	h.pump()

	got, _ = recv.requests()
	require.Equal(t, []string{ev.ID, ev.ID}, got, "at least once, with one webhook-id to de-duplicate by")
	d := h.delivery(h.tenant, ep.ID, rows[0].ID)
	require.Equal(t, StatusSucceeded, d.Status)
	require.Len(t, d.Attempts, 2)
	require.Equal(t, OutcomeInFlight, d.Attempts[0].Outcome)
	require.Equal(t, OutcomeSucceeded, d.Attempts[1].Outcome)
}

func TestService_CrashBetweenCommitAndPublish(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.relay.Grace = 30 * time.Second
	recv := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusOK })
	h.endpoint(h.tenant, recv.srv.URL+"/hook", "*")

	var committed []events.Event
	for range 5 {
		committed = append(committed, h.commit(h.tenant, events.FileDeleted, events.FileData{FileID: "fil_1"}))
	}
	h.pump()
	got, _ := recv.requests()
	require.Empty(t, got, "nothing was published")

	n, err := h.relay.RepublishMissed(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "events younger than the grace period are left to the after-commit publish")

	h.clock.Advance(time.Minute)
	n, err = h.relay.RepublishMissed(context.Background())
	require.NoError(t, err)
	require.Equal(t, 5, n)
	// A second timer run that overlaps the first publishes nothing new.
	n, err = h.relay.RepublishMissed(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	h.pump()

	got, _ = recv.requests()
	want := make([]string, len(committed))
	for i, e := range committed {
		want[i] = e.ID
	}
	require.ElementsMatch(t, want, got)
}

func TestService_ExhaustedEmitsEvent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	failing := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusBadGateway })
	watcher := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusOK })
	bad := h.endpoint(h.tenant, failing.srv.URL+"/hook", "*")
	h.endpoint(h.tenant, watcher.srv.URL+"/hook", "webhook.*")
	ev := h.emit(h.tenant, events.ReportCompleted, events.ReportData{ReportID: "rpt_1"})

	h.pump()
	for range 7 {
		rows := h.deliveries(h.tenant, bad.ID)
		require.Len(t, rows, 1)
		require.Equal(t, StatusRetrying, rows[0].Status)
		h.clock.Set(*rows[0].NextAttemptAt)
		h.pump()
	}
	rows := h.deliveries(h.tenant, bad.ID)
	require.Len(t, rows, 1, "the exhausted event is not delivered to the endpoint that failed")
	require.Equal(t, StatusExhausted, rows[0].Status)
	require.Equal(t, 8, rows[0].Attempts)
	_, codes := failing.requests()
	require.Len(t, codes, 8)

	_, codes = watcher.requests()
	require.Len(t, codes, 1, "another endpoint subscribed to webhook.* is told")
	var data events.WebhookDeliveryExhaustedData
	require.NoError(t, postgres.InTenant(context.Background(), h.pool, h.tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT data FROM events WHERE type = $1`, events.WebhookDeliveryExhausted).Scan(&data)
	}))
	require.Equal(t, ev.ID, data.EventID)
	require.Equal(t, 8, data.Attempts)
}

func TestService_GoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	recv := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusGone })
	ep := h.endpoint(h.tenant, recv.srv.URL+"/hook", "*")
	h.emit(h.tenant, events.FileUploaded, events.FileData{FileID: "fil_1"})
	h.pump()

	rows := h.deliveries(h.tenant, ep.ID)
	require.Equal(t, StatusFailed, rows[0].Status)
	var got WebhookEndpoint
	require.NoError(t, postgres.InTenant(context.Background(), h.pool, h.tenant, func(tx pgx.Tx) error {
		var err error
		got, err = h.svc.Get(context.Background(), tx, h.tenant, ep.ID)
		return err
	}))
	require.False(t, got.Enabled)
	require.Contains(t, *got.DisabledReason, "410")
	var n int
	require.NoError(t, postgres.InTenant(context.Background(), h.pool, h.tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE type = $1 AND data->>'endpoint_id' = $2`,
			events.WebhookEndpointDisabled, ep.ID).Scan(&n)
	}))
	require.Equal(t, 1, n)
}

func TestService_DisabledAfterFailingPeriod(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.svc.DisableAfter = 2 * time.Hour
	recv := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusInternalServerError })
	ep := h.endpoint(h.tenant, recv.srv.URL+"/hook", "*")
	h.emit(h.tenant, events.FileUploaded, events.FileData{FileID: "fil_1"})
	h.pump()
	for i := 0; i < 7; i++ {
		rows := h.deliveries(h.tenant, ep.ID)
		if rows[0].Status != StatusRetrying {
			break
		}
		h.clock.Set(*rows[0].NextAttemptAt)
		h.pump()
	}
	rows := h.deliveries(h.tenant, ep.ID)
	require.Equal(t, StatusFailed, rows[0].Status)
	require.Equal(t, 6, rows[0].Attempts, "attempt 6, at 1h25m+4h16m, is the first past two hours of failing")
}

func TestService_RetryAfterHonoured(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	recv := newReceiver(t, func(n int, w http.ResponseWriter) int {
		if n == 1 {
			w.Header().Set("Retry-After", "3600")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	ep := h.endpoint(h.tenant, recv.srv.URL+"/hook", "*")
	h.emit(h.tenant, events.FileUploaded, events.FileData{FileID: "fil_1"})
	start := h.clock.Now()
	h.pump()
	rows := h.deliveries(h.tenant, ep.ID)
	require.Equal(t, start.Add(time.Hour), *rows[0].NextAttemptAt, "Retry-After beats the one-minute backoff")

	h.clock.Advance(30 * time.Minute)
	h.pump()
	_, codes := recv.requests()
	require.Len(t, codes, 1, "nothing is sent before Retry-After")
	h.clock.Set(*rows[0].NextAttemptAt)
	h.pump()
	_, codes = recv.requests()
	require.Equal(t, []int{429, 200}, codes)
}

// TestService_DeadEndpointDoesNotDelayOthers checks that a failing
// endpoint's backlog is deferred after one failed attempt instead of
// being sent, so another tenant's delivery is not queued behind it.
func TestService_DeadEndpointDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	other := h.newTenant("Globex")
	dead := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusServiceUnavailable })
	healthy := newReceiver(t, func(int, http.ResponseWriter) int { return http.StatusOK })
	deadEP := h.endpoint(h.tenant, dead.srv.URL+"/hook", "*")
	h.endpoint(other, healthy.srv.URL+"/hook", "*")

	for range 20 {
		h.emit(h.tenant, events.FileUploaded, events.FileData{FileID: "fil_1"})
	}
	h.emit(other, events.FileUploaded, events.FileData{FileID: "fil_2"})
	h.pump()

	_, deadCodes := dead.requests()
	require.Len(t, deadCodes, 1, "one attempt to the dead endpoint; the rest wait out its pause")
	_, healthyCodes := healthy.requests()
	require.Equal(t, []int{200}, healthyCodes)
	attempted := 0
	for _, r := range h.deliveries(h.tenant, deadEP.ID) {
		attempted += r.Attempts
	}
	require.Equal(t, 1, attempted, "deferred deliveries do not count an attempt")
}

func TestService_FanOutIdempotent(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ep := h.endpoint(h.tenant, "http://127.0.0.1:9/hook", "file.*")
	h.endpoint(h.tenant, "http://127.0.0.1:9/other", "agent.*")
	ev := h.commit(h.tenant, events.FileUploaded, events.FileData{FileID: "fil_1"})
	for range 3 {
		n, err := h.svc.FanOut(context.Background(), ev)
		require.NoError(t, err)
		require.Equal(t, 1, n, "only the file.* endpoint matches")
	}
	require.Len(t, h.deliveries(h.tenant, ep.ID), 1)
	ds, err := h.store.Receive(context.Background(), DeliveryQueue, 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, ds, 1, "repeated fan-out publishes one message per delivery")
}

func TestService_RotateSecretSignsWithBoth(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var sigs []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		sigs = append(sigs, r.Header.Get(HeaderSignature))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	ep := h.endpoint(h.tenant, srv.URL+"/hook", "*")
	var rot WebhookSecretRotation
	require.NoError(t, postgres.InTenant(context.Background(), h.pool, h.tenant, func(tx pgx.Tx) error {
		var err error
		rot, err = h.svc.RotateSecret(context.Background(), tx, h.tenant, ep.ID)
		return err
	}))
	require.NotEqual(t, ep.Secret, rot.Secret)
	require.Equal(t, h.clock.Now().Add(time.Hour), *rot.PreviousSecretExpiresAt)

	h.emit(h.tenant, events.FileUploaded, events.FileData{FileID: "fil_1"})
	h.pump()
	h.clock.Advance(2 * time.Hour)
	h.emit(h.tenant, events.FileUploaded, events.FileData{FileID: "fil_2"})
	h.pump()

	require.Len(t, sigs, 2)
	require.Len(t, splitSpaces(sigs[0]), 2, "both secrets sign during the overlap")
	require.Len(t, splitSpaces(sigs[1]), 1, "only the new secret signs after it")
}

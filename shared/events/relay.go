package events

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/shared/queue"
)

// Topic is the Service Bus topic events are published to. Locally it is a
// queue of the PostgreSQL queue table with the same name.
const Topic = "events"

// Relay publishes committed outbox rows to Topic. The message id is the
// event id, so publishing an event twice stores one message as long as the
// first is still queued (locally) or within the duplicate-detection window
// (Service Bus), and consumers must tolerate the rare duplicate anyway.
type Relay struct {
	Pool      *pgxpool.Pool
	Publisher queue.Publisher
	Logger    *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Grace is the minimum age of an unpublished event before RepublishMissed
	// takes it, so the timer does not race the after-commit publish. The
	// default is 30 seconds.
	Grace time.Duration
	// BatchSize bounds the events RepublishMissed reads per query; default 500.
	BatchSize int
	// PublishTimeout bounds the after-commit publish, which delays the
	// response; default 5 seconds. A publish that times out is left to the
	// timer.
	PublishTimeout time.Duration
}

type relayKey struct{}

// WithRelay returns ctx carrying r, which makes Emit publish after commit.
func WithRelay(ctx context.Context, r *Relay) context.Context {
	return context.WithValue(ctx, relayKey{}, r)
}

func relayFrom(ctx context.Context) *Relay {
	r, _ := ctx.Value(relayKey{}).(*Relay)
	return r
}

// Middleware puts r into every request's context, so events emitted by a
// handler are published right after its transaction commits.
func (r *Relay) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		next.ServeHTTP(w, req.WithContext(WithRelay(req.Context(), r)))
	})
}

func (r *Relay) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Relay) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Publish sends committed events to Topic and marks them published. Call it
// only after the transaction that emitted them has committed: an event
// published from a transaction that then rolls back would reach
// subscribers although its change never happened.
func (r *Relay) Publish(ctx context.Context, evs ...Event) error {
	if len(evs) == 0 {
		return nil
	}
	msgs := make([]queue.Message, len(evs))
	idList := make([]string, len(evs))
	for i, e := range evs {
		body, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.ID, err)
		}
		msgs[i] = queue.Message{ID: e.ID, Body: body}
		idList[i] = e.ID
	}
	if err := r.Publisher.Publish(ctx, Topic, msgs...); err != nil {
		return fmt.Errorf("publish %d events: %w", len(evs), err)
	}
	if _, err := r.Pool.Exec(ctx, `SELECT events_mark_published($1, $2)`, idList, r.now()); err != nil {
		// The events are published; the timer will publish them once more,
		// which the message id de-duplicates.
		return fmt.Errorf("mark %d events published: %w", len(evs), err)
	}
	return nil
}

// publishAfterCommit is the request.OnCommit hook of Emit. Failure is
// logged, not returned: the change is committed and the timer publishes
// the event later.
func (r *Relay) publishAfterCommit(ctx context.Context, e Event) {
	timeout := r.PublishTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := r.Publish(ctx, e); err != nil {
		r.logger().WarnContext(ctx, "publish event after commit failed; the relay timer will retry",
			"event_id", e.ID, "tenant_id", e.TenantID, "error", err)
	}
}

// RepublishMissed publishes every event older than Grace that is still
// unpublished, in batches, and returns how many it published.
func (r *Relay) RepublishMissed(ctx context.Context) (int, error) {
	grace := r.Grace
	if grace <= 0 {
		grace = 30 * time.Second
	}
	batch := r.BatchSize
	if batch <= 0 {
		batch = 500
	}
	total := 0
	for {
		rows, err := r.Pool.Query(ctx, `SELECT id, tenant_id, type, api_version, data, occurred_at FROM events_unpublished($1, $2)`,
			r.now().Add(-grace), batch)
		if err != nil {
			return total, fmt.Errorf("read unpublished events: %w", err)
		}
		evs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Event, error) {
			var e Event
			err := row.Scan(&e.ID, &e.TenantID, &e.Type, &e.APIVersion, &e.Data, &e.OccurredAt)
			return e, err
		})
		if err != nil {
			return total, fmt.Errorf("read unpublished events: %w", err)
		}
		if len(evs) == 0 {
			return total, nil
		}
		if err := r.Publish(ctx, evs...); err != nil {
			return total, err
		}
		total += len(evs)
		r.logger().InfoContext(ctx, "republished events missed after commit", "count", len(evs))
		if len(evs) < batch {
			return total, nil
		}
	}
}

package webhooks

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/queue"
)

// Service is the webhook subsystem: the subscription operations the API
// calls, the fan-out of events into deliveries, and the delivery itself.
type Service struct {
	clientOnce sync.Once

	Pool      *pgxpool.Pool
	Publisher queue.Publisher
	// Relay publishes the events the delivery path emits itself
	// (webhook.delivery.exhausted, webhook.endpoint.disabled).
	Relay  *events.Relay
	Guard  *Guard
	Logger *slog.Logger
	// Now is the clock for schedules, signatures and records; default
	// time.Now. Receivers reject signatures whose timestamp is far from
	// their own clock, five minutes in the reference libraries.
	Now func() time.Time
	// Schedule is the retry policy; zero means DefaultSchedule.
	Schedule Schedule
	// Timeout bounds one attempt, connection included; default 10 seconds.
	Timeout time.Duration
	// DisableAfter disables an endpoint whose attempts have all failed for
	// this long; default five days.
	DisableAfter time.Duration
	// SecretOverlap is how long the previous secret keeps signing after a
	// rotation; default 24 hours, zero after Configure means none.
	SecretOverlap time.Duration
	// Concurrency bounds the attempts one invocation sends at once; default 16.
	Concurrency int
	// Client sends the attempts; default Guard.Client(Timeout).
	Client *http.Client

	// afterSend, when set, runs after an attempt's response is read and
	// before its outcome is recorded. Tests use it to stop a worker at that
	// point, as a crash would.
	afterSend func(deliveryID string) error
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

func (s *Service) schedule() Schedule {
	if len(s.Schedule.Delays) == 0 {
		return DefaultSchedule()
	}
	return s.Schedule
}

func (s *Service) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 10 * time.Second
}

func (s *Service) disableAfter() time.Duration {
	if s.DisableAfter > 0 {
		return s.DisableAfter
	}
	return 5 * 24 * time.Hour
}

func (s *Service) concurrency() int {
	if s.Concurrency > 0 {
		return s.Concurrency
	}
	return 16
}

// client returns Client, or builds the guarded client once; concurrent
// deliveries call it.
func (s *Service) client() *http.Client {
	s.clientOnce.Do(func() {
		if s.Client == nil {
			s.Client = s.Guard.Client(s.timeout())
		}
	})
	return s.Client
}

// publish sends queue messages after a commit. A failure is logged, not
// returned: the change is committed, and the relay timer's sweep of
// overdue deliveries publishes what is missing.
func (s *Service) publish(ctx context.Context, msgs []queue.Message) {
	if len(msgs) == 0 {
		return
	}
	if err := s.Publisher.Publish(ctx, DeliveryQueue, msgs...); err != nil {
		s.logger().WarnContext(ctx, "publish webhook delivery messages failed; the relay timer will retry",
			"count", len(msgs), "error", err)
	}
}

// publishEvents publishes events emitted outside a request after their
// commit. A failure is left to the relay timer.
func (s *Service) publishEvents(ctx context.Context, evs []events.Event) {
	if len(evs) == 0 || s.Relay == nil {
		return
	}
	if err := s.Relay.Publish(ctx, evs...); err != nil {
		s.logger().WarnContext(ctx, "publish webhook events failed; the relay timer will retry", "count", len(evs), "error", err)
	}
}

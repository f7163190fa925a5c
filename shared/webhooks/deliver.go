package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/queue"
)

const (
	// dueSlack lets a message that arrives slightly before its delivery's
	// next_attempt_at (clock skew between the broker and this process)
	// still make the attempt.
	dueSlack = 5 * time.Second
	// leaseMargin is added to the attempt timeout to form the lease of an
	// attempt in flight.
	leaseMargin = 30 * time.Second
	// maxRetryAfter caps how far a receiver's Retry-After can push the next
	// attempt.
	maxRetryAfter = 12 * time.Hour
	// drainBytes is how much of a response body is read past the excerpt
	// so the connection can be reused; larger bodies close it.
	drainBytes = 64 << 10
)

// ErrAttemptInFlight is returned by Deliver when another worker holds a
// live lease on the delivery. The caller fails the invocation so that the
// message is delivered again later.
var ErrAttemptInFlight = errors.New("webhook delivery has an attempt in flight")

// DeliverBatch runs Deliver for each queue message body, at most
// Concurrency at a time. A malformed body is logged and dropped, because
// no retry can fix it. The error joins the failures of the other messages.
// The caller then fails the invocation and the whole batch is delivered
// again, which repeats no attempt that was recorded.
func (s *Service) DeliverBatch(ctx context.Context, bodies [][]byte) error {
	sem := make(chan struct{}, s.concurrency())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, body := range bodies {
		var job deliveryJob
		if err := json.Unmarshal(body, &job); err != nil || job.TenantID == "" || job.DeliveryID == "" {
			s.logger().ErrorContext(ctx, "dropping malformed webhook delivery message", "error", err, "body_bytes", len(body))
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := s.Deliver(ctx, job.TenantID, job.DeliveryID); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("delivery %s: %w", job.DeliveryID, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Deliver makes the next attempt of a delivery if one is due. It checks
// the delivery's state first, so a queue message delivered twice, late or
// after the delivery succeeded sends nothing. Every attempt is recorded
// before the request is sent (outcome in_flight) and completed after.
func (s *Service) Deliver(ctx context.Context, tenantID, deliveryID string) error {
	c, err := s.claim(ctx, tenantID, deliveryID)
	if err != nil || c == nil {
		return err
	}
	res := s.send(ctx, c)
	if s.afterSend != nil {
		if err := s.afterSend(deliveryID); err != nil {
			return err
		}
	}
	return s.record(ctx, c, res)
}

// claimed is an attempt that this worker holds the lease for.
type claimed struct {
	tenantID, deliveryID, endpointID string
	eventID, eventType, url          string
	secrets                          []string
	payload                          []byte
	number, maxAttempts              int
}

func (s *Service) claim(ctx context.Context, tenantID, deliveryID string) (*claimed, error) {
	var c *claimed
	var deferred []queue.Message
	err := postgres.InTenant(ctx, s.Pool, tenantID, func(tx pgx.Tx) error {
		var status string
		var attempts, maxAttempts int
		var next, lease, prevExpires, pausedUntil *time.Time
		var manual, enabled bool
		var prev *string
		cl := claimed{tenantID: tenantID, deliveryID: deliveryID}
		var secret string
		err := tx.QueryRow(ctx, `SELECT d.status, d.attempt_count, d.max_attempts, d.next_attempt_at, d.lease_until, d.manual_pending,
				d.event_id, d.event_type, d.payload, d.endpoint_id, e.url, e.secret, e.previous_secret,
				e.previous_secret_expires_at, e.enabled, e.paused_until
			FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
			WHERE d.tenant_id = $1 AND d.id = $2 FOR UPDATE OF d`, tenantID, deliveryID).Scan(
			&status, &attempts, &maxAttempts, &next, &lease, &manual,
			&cl.eventID, &cl.eventType, &cl.payload, &cl.endpointID, &cl.url, &secret, &prev, &prevExpires, &enabled, &pausedUntil)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the endpoint was deleted with its deliveries
		}
		if err != nil {
			return fmt.Errorf("read delivery: %w", err)
		}
		now := s.now()
		switch {
		case status == StatusSucceeded || status == StatusExhausted || status == StatusFailed:
			return nil
		case status == StatusSending && lease != nil && lease.After(now):
			return ErrAttemptInFlight
		case status != StatusSending && next != nil && next.After(now.Add(dueSlack)):
			return nil // a stale message; the message for the scheduled attempt is queued
		case !enabled:
			_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, lease_until = NULL, updated_at = $3
				WHERE tenant_id = $1 AND id = $2`, tenantID, deliveryID, now)
			if err != nil {
				return fmt.Errorf("fail delivery to disabled endpoint: %w", err)
			}
			return nil
		case pausedUntil != nil && pausedUntil.After(now) && !manual:
			_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = CASE WHEN status = 'sending' THEN 'retrying' ELSE status END,
					next_attempt_at = $3, lease_until = NULL, updated_at = $4
				WHERE tenant_id = $1 AND id = $2`, tenantID, deliveryID, *pausedUntil, now)
			if err != nil {
				return fmt.Errorf("defer delivery to paused endpoint: %w", err)
			}
			m, err := deliveryMessage(tenantID, deliveryID,
				fmt.Sprintf("%s.p%d", attemptMessageID(deliveryID, attempts+1), pausedUntil.Unix()), *pausedUntil)
			if err != nil {
				return err
			}
			deferred = append(deferred, m)
			return nil
		}

		cl.number = attempts + 1
		cl.maxAttempts = maxAttempts
		cl.secrets = []string{secret}
		if prev != nil && prevExpires != nil && prevExpires.After(now) {
			cl.secrets = append(cl.secrets, *prev)
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'sending', attempt_count = $3, lease_until = $4,
				manual_pending = false, updated_at = $5
			WHERE tenant_id = $1 AND id = $2`, tenantID, deliveryID, cl.number, now.Add(s.timeout()+leaseMargin), now)
		if err != nil {
			return fmt.Errorf("claim delivery: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO webhook_attempts (delivery_id, number, tenant_id, manual, started_at, outcome)
			VALUES ($1, $2, $3, $4, $5, 'in_flight')`, deliveryID, cl.number, tenantID, manual, now)
		if err != nil {
			return fmt.Errorf("record attempt start: %w", err)
		}
		c = &cl
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("claim webhook delivery %s: %w", deliveryID, err)
	}
	s.publish(ctx, deferred)
	return c, nil
}

// result is the outcome of one HTTP attempt.
type result struct {
	status     int // 0 when no response arrived
	latency    time.Duration
	err        string
	excerpt    *string
	retryAfter time.Duration
}

func (r result) ok() bool { return r.status >= 200 && r.status < 300 }

func (s *Service) send(ctx context.Context, c *claimed) result {
	start := time.Now()
	ts := s.now()
	sig, err := Sign(c.secrets, c.eventID, ts, c.payload)
	if err != nil {
		return result{err: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(c.payload))
	if err != nil {
		return result{err: "invalid endpoint URL: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Booga-Webhooks/1.0")
	req.Header.Set(HeaderID, c.eventID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)

	resp, err := s.client().Do(req)
	res := result{latency: time.Since(start)}
	if err != nil {
		res.err = describeError(err, s.timeout())
		return res
	}
	defer resp.Body.Close()
	res.status = resp.StatusCode
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, ExcerptBytes))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainBytes))
	res.latency = time.Since(start)
	if len(excerpt) > 0 {
		text := strings.ToValidUTF8(string(excerpt), "\uFFFD")
		res.excerpt = &text
	}
	switch {
	case res.ok():
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		res.err = fmt.Sprintf("status %d: redirects are not followed; subscribe the final URL", resp.StatusCode)
	default:
		res.err = fmt.Sprintf("status %d", resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), ts)
	}
	return res
}

// describeError turns a client error into the attempt's error text without
// the URL, which the attempt record already implies.
func describeError(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("timeout after %s", timeout)
	case errors.Is(err, ErrForbiddenAddress):
		return err.Error()
	}
	msg := err.Error()
	if len(msg) > maxErrorLength {
		msg = msg[:maxErrorLength]
		for !utf8.ValidString(msg) {
			msg = msg[:len(msg)-1]
		}
	}
	return msg
}

// parseRetryAfter reads delay-seconds or an HTTP date; anything else or a
// past date is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return min(time.Duration(n)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

func (s *Service) record(ctx context.Context, c *claimed, res result) error {
	var msgs []queue.Message
	var evs []events.Event
	err := postgres.InTenant(ctx, s.Pool, c.tenantID, func(tx pgx.Tx) error {
		now := s.now()
		outcome := OutcomeFailed
		if res.ok() {
			outcome = OutcomeSucceeded
		}
		var status, latency *int
		if res.status != 0 {
			status = &res.status
		}
		ms := int(res.latency.Milliseconds())
		latency = &ms
		var errText *string
		if res.err != "" {
			errText = &res.err
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_attempts SET outcome = $4, status_code = $5, latency_ms = $6, error = $7, response_excerpt = $8
			WHERE tenant_id = $1 AND delivery_id = $2 AND number = $3`,
			c.tenantID, c.deliveryID, c.number, outcome, status, latency, errText, res.excerpt)
		if err != nil {
			return fmt.Errorf("record attempt: %w", err)
		}

		// Only the holder of the current attempt moves the delivery on; a
		// worker whose lease expired and was taken over records its attempt
		// and stops.
		var current bool
		err = tx.QueryRow(ctx, `SELECT status = 'sending' AND attempt_count = $3 FROM webhook_deliveries
			WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, c.tenantID, c.deliveryID, c.number).Scan(&current)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && !current) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read delivery: %w", err)
		}

		if res.ok() {
			return s.recordSuccess(ctx, tx, c, now)
		}
		msgs, evs, err = s.recordFailure(ctx, tx, c, res, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("record webhook attempt %d of %s: %w", c.number, c.deliveryID, err)
	}
	s.publish(ctx, msgs)
	s.publishEvents(ctx, evs)
	return nil
}

func (s *Service) recordSuccess(ctx context.Context, tx pgx.Tx, c *claimed, now time.Time) error {
	_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'succeeded', succeeded_at = $3, next_attempt_at = NULL,
			lease_until = NULL, updated_at = $3
		WHERE tenant_id = $1 AND id = $2`, c.tenantID, c.deliveryID, now)
	if err != nil {
		return fmt.Errorf("record success: %w", err)
	}
	_, err = tx.Exec(ctx, `UPDATE webhook_endpoints SET failing_since = NULL, consecutive_failures = 0, paused_until = NULL
		WHERE tenant_id = $1 AND id = $2 AND (failing_since IS NOT NULL OR paused_until IS NOT NULL)`, c.tenantID, c.endpointID)
	if err != nil {
		return fmt.Errorf("clear endpoint failures: %w", err)
	}
	return nil
}

func (s *Service) recordFailure(ctx context.Context, tx pgx.Tx, c *claimed, res result, now time.Time) ([]queue.Message, []events.Event, error) {
	var (
		url          string
		failingSince time.Time
		failures     int
		enabled      bool
	)
	err := tx.QueryRow(ctx, `UPDATE webhook_endpoints
		SET consecutive_failures = consecutive_failures + 1, failing_since = coalesce(failing_since, $3)
		WHERE tenant_id = $1 AND id = $2
		RETURNING url, failing_since, consecutive_failures, enabled`, c.tenantID, c.endpointID, now).Scan(&url, &failingSince, &failures, &enabled)
	if err != nil {
		return nil, nil, fmt.Errorf("count endpoint failure: %w", err)
	}
	pause := max(pauseAfter(failures), res.retryAfter)
	if _, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET paused_until = $3 WHERE tenant_id = $1 AND id = $2`,
		c.tenantID, c.endpointID, now.Add(pause)); err != nil {
		return nil, nil, fmt.Errorf("pause endpoint: %w", err)
	}

	var reason string
	switch {
	case res.status == http.StatusGone:
		reason = "the endpoint answered 410 Gone"
	case now.Sub(failingSince) >= s.disableAfter():
		reason = fmt.Sprintf("every attempt failed since %s", failingSince.UTC().Format(time.RFC3339))
	}
	if reason != "" {
		var evs []events.Event
		if enabled {
			ev, err := s.disableEndpoint(ctx, tx, c, url, reason, failingSince, now)
			if err != nil {
				return nil, nil, err
			}
			evs = append(evs, ev)
		}
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL, lease_until = NULL, updated_at = $3
			WHERE tenant_id = $1 AND id = $2`, c.tenantID, c.deliveryID, now)
		if err != nil {
			return nil, nil, fmt.Errorf("fail delivery: %w", err)
		}
		return nil, evs, nil
	}

	delay, more := s.schedule().Delay(c.number)
	if !more || c.number >= c.maxAttempts {
		_, err := tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'exhausted', next_attempt_at = NULL, lease_until = NULL, updated_at = $3
			WHERE tenant_id = $1 AND id = $2`, c.tenantID, c.deliveryID, now)
		if err != nil {
			return nil, nil, fmt.Errorf("exhaust delivery: %w", err)
		}
		ev, err := events.Emit(ctx, tx, c.tenantID, events.WebhookDeliveryExhausted, events.WebhookDeliveryExhaustedData{
			EndpointID: c.endpointID, DeliveryID: c.deliveryID, EventID: c.eventID, EventType: c.eventType,
			Attempts: c.number, LastError: res.err})
		if err != nil {
			return nil, nil, err
		}
		return nil, []events.Event{ev}, nil
	}

	next := now.Add(max(delay, res.retryAfter))
	_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET status = 'retrying', next_attempt_at = $3, lease_until = NULL, updated_at = $4
		WHERE tenant_id = $1 AND id = $2`, c.tenantID, c.deliveryID, next, now)
	if err != nil {
		return nil, nil, fmt.Errorf("schedule retry: %w", err)
	}
	m, err := deliveryMessage(c.tenantID, c.deliveryID, attemptMessageID(c.deliveryID, c.number+1), next)
	if err != nil {
		return nil, nil, err
	}
	return []queue.Message{m}, nil, nil
}

func (s *Service) disableEndpoint(ctx context.Context, tx pgx.Tx, c *claimed, url, reason string, failingSince, now time.Time) (events.Event, error) {
	_, err := tx.Exec(ctx, `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3, disabled_at = $4, updated_at = $4
		WHERE tenant_id = $1 AND id = $2`, c.tenantID, c.endpointID, reason, now)
	if err != nil {
		return events.Event{}, fmt.Errorf("disable endpoint: %w", err)
	}
	s.logger().WarnContext(ctx, "webhook endpoint disabled", "tenant_id", c.tenantID, "endpoint_id", c.endpointID, "reason", reason)
	since := failingSince.UTC()
	return events.Emit(ctx, tx, c.tenantID, events.WebhookEndpointDisabled, events.WebhookEndpointDisabledData{
		EndpointID: c.endpointID, URL: url, Reason: reason, FailingSince: &since})
}

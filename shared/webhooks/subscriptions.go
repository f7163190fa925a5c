package webhooks

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/queue"
	"github.com/booga-enterprise/functions/shared/request"
)

const endpointColumns = `id, url, description, event_types, enabled, disabled_reason, disabled_at,
	failing_since, previous_secret_expires_at, created_at, updated_at`

func scanEndpoint(row pgx.Row) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := row.Scan(&e.ID, &e.URL, &e.Description, &e.EventTypes, &e.Enabled, &e.DisabledReason, &e.DisabledAt,
		&e.FailingSince, &e.PreviousSecretExpiresAt, &e.CreatedAt, &e.UpdatedAt)
	return e, err
}

// Create validates req, stores a new enabled endpoint with a new secret and
// returns it with the secret, which is not retrievable later.
func (s *Service) Create(ctx context.Context, tx pgx.Tx, tenantID string, req WebhookCreateRequest) (CreatedWebhookEndpoint, error) {
	var v validator
	url := s.validURL(ctx, &v, "url", req.URL)
	types := v.eventTypes("event_types", req.EventTypes)
	v.description("description", req.Description)
	if err := v.err(); err != nil {
		return CreatedWebhookEndpoint{}, err
	}

	var count int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM webhook_endpoints WHERE tenant_id = $1`, tenantID).Scan(&count); err != nil {
		return CreatedWebhookEndpoint{}, fmt.Errorf("count webhook endpoints: %w", err)
	}
	if count >= MaxEndpointsPerTenant {
		return CreatedWebhookEndpoint{}, problem.New(problem.CodeConflict, "The tenant already has %d webhook endpoints, the maximum. Delete one first.", MaxEndpointsPerTenant)
	}

	secret, err := NewSecret()
	if err != nil {
		return CreatedWebhookEndpoint{}, err
	}
	now := s.now()
	row := tx.QueryRow(ctx, `
		INSERT INTO webhook_endpoints (id, tenant_id, url, description, event_types, secret, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
		RETURNING `+endpointColumns,
		ids.New(EndpointPrefix), tenantID, url, req.Description, types, secret, now)
	e, err := scanEndpoint(row)
	if err != nil {
		return CreatedWebhookEndpoint{}, fmt.Errorf("insert webhook endpoint: %w", err)
	}
	return CreatedWebhookEndpoint{WebhookEndpoint: e, Secret: secret}, nil
}

// List returns a page of the tenant's endpoints, newest first.
func (s *Service) List(ctx context.Context, tx pgx.Tx, tenantID string, p httpx.PageRequest) (httpx.Page[WebhookEndpoint], error) {
	rows, err := tx.Query(ctx, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE tenant_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3`, tenantID, p.After, p.Limit+1)
	if err != nil {
		return httpx.Page[WebhookEndpoint]{}, fmt.Errorf("list webhook endpoints: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookEndpoint, error) { return scanEndpoint(row) })
	if err != nil {
		return httpx.Page[WebhookEndpoint]{}, fmt.Errorf("list webhook endpoints: %w", err)
	}
	return httpx.NewPage(list, p, func(e WebhookEndpoint) string { return e.ID }), nil
}

// Get returns one endpoint; another tenant's endpoint is not found.
func (s *Service) Get(ctx context.Context, tx pgx.Tx, tenantID, id string) (WebhookEndpoint, error) {
	return s.getEndpoint(ctx, tx, tenantID, id, false)
}

func (s *Service) getEndpoint(ctx context.Context, tx pgx.Tx, tenantID, id string, forUpdate bool) (WebhookEndpoint, error) {
	if !ids.Valid(EndpointPrefix, id) {
		return WebhookEndpoint{}, problem.NotFound("webhook endpoint", id)
	}
	query := `SELECT ` + endpointColumns + ` FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	e, err := scanEndpoint(tx.QueryRow(ctx, query, tenantID, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return WebhookEndpoint{}, problem.NotFound("webhook endpoint", id)
	}
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("get webhook endpoint %s: %w", id, err)
	}
	return e, nil
}

// Update changes the fields present in req. A new URL is checked as on
// creation and applies to retries of earlier deliveries too.
func (s *Service) Update(ctx context.Context, tx pgx.Tx, tenantID, id string, req WebhookUpdateRequest) (WebhookEndpoint, error) {
	e, err := s.getEndpoint(ctx, tx, tenantID, id, true)
	if err != nil {
		return WebhookEndpoint{}, err
	}
	var v validator
	if req.URL != nil {
		e.URL = s.validURL(ctx, &v, "url", *req.URL)
	}
	if req.EventTypes != nil {
		e.EventTypes = v.eventTypes("event_types", *req.EventTypes)
	}
	if req.Description != nil {
		v.description("description", *req.Description)
		e.Description = *req.Description
	}
	if err := v.err(); err != nil {
		return WebhookEndpoint{}, err
	}
	row := tx.QueryRow(ctx, `UPDATE webhook_endpoints SET url = $3, event_types = $4, description = $5, updated_at = $6
		WHERE tenant_id = $1 AND id = $2 RETURNING `+endpointColumns,
		tenantID, id, e.URL, e.EventTypes, e.Description, s.now())
	if e, err = scanEndpoint(row); err != nil {
		return WebhookEndpoint{}, fmt.Errorf("update webhook endpoint %s: %w", id, err)
	}
	return e, nil
}

// SetEnabled enables or disables an endpoint. Enabling clears the failure
// state; deliveries that failed while it was disabled stay failed and can
// be redelivered one by one.
func (s *Service) SetEnabled(ctx context.Context, tx pgx.Tx, tenantID, id string, enabled bool) (WebhookEndpoint, error) {
	if _, err := s.getEndpoint(ctx, tx, tenantID, id, true); err != nil {
		return WebhookEndpoint{}, err
	}
	now := s.now()
	var row pgx.Row
	if enabled {
		row = tx.QueryRow(ctx, `UPDATE webhook_endpoints SET enabled = true, disabled_reason = NULL, disabled_at = NULL,
			failing_since = NULL, consecutive_failures = 0, paused_until = NULL, updated_at = $3
			WHERE tenant_id = $1 AND id = $2 RETURNING `+endpointColumns, tenantID, id, now)
	} else {
		row = tx.QueryRow(ctx, `UPDATE webhook_endpoints SET enabled = false,
			disabled_reason = CASE WHEN enabled THEN 'disabled by request' ELSE disabled_reason END,
			disabled_at = CASE WHEN enabled THEN $3 ELSE disabled_at END, updated_at = $3
			WHERE tenant_id = $1 AND id = $2 RETURNING `+endpointColumns, tenantID, id, now)
	}
	e, err := scanEndpoint(row)
	if err != nil {
		return WebhookEndpoint{}, fmt.Errorf("set webhook endpoint %s enabled=%t: %w", id, enabled, err)
	}
	return e, nil
}

// Delete removes an endpoint with its deliveries and attempts.
func (s *Service) Delete(ctx context.Context, tx pgx.Tx, tenantID, id string) error {
	if !ids.Valid(EndpointPrefix, id) {
		return problem.NotFound("webhook endpoint", id)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if err != nil {
		return fmt.Errorf("delete webhook endpoint %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return problem.NotFound("webhook endpoint", id)
	}
	return nil
}

// RotateSecret gives the endpoint a new secret. The current secret becomes
// the previous one and keeps signing for SecretOverlap; a secret replaced
// by an earlier rotation stops signing at once.
func (s *Service) RotateSecret(ctx context.Context, tx pgx.Tx, tenantID, id string) (WebhookSecretRotation, error) {
	if _, err := s.getEndpoint(ctx, tx, tenantID, id, true); err != nil {
		return WebhookSecretRotation{}, err
	}
	secret, err := NewSecret()
	if err != nil {
		return WebhookSecretRotation{}, err
	}
	now := s.now()
	var expires *time.Time
	if s.SecretOverlap > 0 {
		t := now.Add(s.SecretOverlap)
		expires = &t
	}
	_, err = tx.Exec(ctx, `UPDATE webhook_endpoints
		SET previous_secret = CASE WHEN $4::timestamptz IS NULL THEN NULL ELSE secret END,
		    previous_secret_expires_at = $4, secret = $3, updated_at = $5
		WHERE tenant_id = $1 AND id = $2`, tenantID, id, secret, expires, now)
	if err != nil {
		return WebhookSecretRotation{}, fmt.Errorf("rotate webhook secret of %s: %w", id, err)
	}
	return WebhookSecretRotation{Secret: secret, PreviousSecretExpiresAt: expires}, nil
}

// SendTest emits a webhook.test event that is delivered to this endpoint
// only, through the same relay, fan-out and delivery as every event.
func (s *Service) SendTest(ctx context.Context, tx pgx.Tx, tenantID, id string) (WebhookTestSent, error) {
	e, err := s.getEndpoint(ctx, tx, tenantID, id, false)
	if err != nil {
		return WebhookTestSent{}, err
	}
	if !e.Enabled {
		return WebhookTestSent{}, problem.New(problem.CodeConflict, "Webhook endpoint %q is disabled; enable it before sending a test event.", id)
	}
	ev, err := events.Emit(ctx, tx, tenantID, events.WebhookTest,
		events.WebhookTestData{EndpointID: id, Message: "This is a test event."})
	if err != nil {
		return WebhookTestSent{}, err
	}
	return WebhookTestSent{EventID: ev.ID}, nil
}

// ListDeliveries returns a page of an endpoint's deliveries, newest first,
// each with all of its attempts. status, when not empty, filters them.
func (s *Service) ListDeliveries(ctx context.Context, tx pgx.Tx, tenantID, endpointID, status string, p httpx.PageRequest) (httpx.Page[WebhookDelivery], error) {
	if _, err := s.getEndpoint(ctx, tx, tenantID, endpointID, false); err != nil {
		return httpx.Page[WebhookDelivery]{}, err
	}
	if status != "" && !validStatus(status) {
		return httpx.Page[WebhookDelivery]{}, problem.Invalid(problem.FieldError{Field: "status", Code: "enum",
			Message: "must be one of pending, sending, retrying, succeeded, exhausted, failed; got " + fmt.Sprintf("%q", status)})
	}
	rows, err := tx.Query(ctx, `SELECT `+deliveryColumns+` FROM webhook_deliveries
		WHERE tenant_id = $1 AND endpoint_id = $2 AND ($3 = '' OR status = $3) AND ($4 = '' OR id < $4)
		ORDER BY id DESC LIMIT $5`, tenantID, endpointID, status, p.After, p.Limit+1)
	if err != nil {
		return httpx.Page[WebhookDelivery]{}, fmt.Errorf("list webhook deliveries: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (WebhookDelivery, error) { return scanDelivery(row) })
	if err != nil {
		return httpx.Page[WebhookDelivery]{}, fmt.Errorf("list webhook deliveries: %w", err)
	}
	page := httpx.NewPage(list, p, func(d WebhookDelivery) string { return d.ID })
	if err := loadAttempts(ctx, tx, tenantID, page.Data); err != nil {
		return httpx.Page[WebhookDelivery]{}, err
	}
	return page, nil
}

// GetDelivery returns one delivery of an endpoint with its attempts.
func (s *Service) GetDelivery(ctx context.Context, tx pgx.Tx, tenantID, endpointID, id string) (WebhookDelivery, error) {
	d, err := getDelivery(ctx, tx, tenantID, endpointID, id)
	if err != nil {
		return WebhookDelivery{}, err
	}
	list := []WebhookDelivery{d}
	if err := loadAttempts(ctx, tx, tenantID, list); err != nil {
		return WebhookDelivery{}, err
	}
	return list[0], nil
}

// Redeliver schedules one more attempt of a delivery now, whatever its
// status, with the same webhook-id and body. A delivery whose retries are
// still scheduled keeps them. The queue message is published after the
// request commits.
func (s *Service) Redeliver(ctx context.Context, tx pgx.Tx, tenantID, endpointID, id string) (WebhookDelivery, error) {
	e, err := s.getEndpoint(ctx, tx, tenantID, endpointID, false)
	if err != nil {
		return WebhookDelivery{}, err
	}
	if !e.Enabled {
		return WebhookDelivery{}, problem.New(problem.CodeConflict, "Webhook endpoint %q is disabled; enable it before redelivering.", endpointID)
	}
	d, err := getDelivery(ctx, tx, tenantID, endpointID, id)
	if err != nil {
		return WebhookDelivery{}, err
	}

	now := s.now()
	tag, err := tx.Exec(ctx, `UPDATE webhook_deliveries
		SET status = 'pending', next_attempt_at = $3, lease_until = NULL, manual_pending = true,
		    max_attempts = greatest(max_attempts, attempt_count + 1), updated_at = $3
		WHERE tenant_id = $1 AND id = $2 AND NOT (status = 'sending' AND lease_until > $3)`, tenantID, id, now)
	if err != nil {
		return WebhookDelivery{}, fmt.Errorf("redeliver %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return WebhookDelivery{}, problem.New(problem.CodeConflict, "Delivery %q has an attempt in flight; try again when it is recorded.", id)
	}

	// A fresh message id: the scheduled retry's message, if any, keeps its
	// own id and finds the delivery already handled when it arrives.
	msg, err := deliveryMessage(tenantID, id, ids.New(ids.Message), time.Time{})
	if err != nil {
		return WebhookDelivery{}, err
	}
	request.OnCommit(ctx, func(ctx context.Context) { s.publish(ctx, []queue.Message{msg}) })
	return s.GetDelivery(ctx, tx, tenantID, endpointID, d.ID)
}

func validStatus(s string) bool {
	switch s {
	case StatusPending, StatusSending, StatusRetrying, StatusSucceeded, StatusExhausted, StatusFailed:
		return true
	}
	return false
}

// validator collects field errors.
type validator struct{ fields []problem.FieldError }

func (v *validator) add(field, code, format string, args ...any) {
	v.fields = append(v.fields, problem.FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return problem.Invalid(v.fields...)
}

func (s *Service) validURL(ctx context.Context, v *validator, field, raw string) string {
	u, err := s.Guard.ValidateURL(ctx, strings.TrimSpace(raw))
	if err != nil {
		v.add(field, "invalid", "%s", err.Error())
		return ""
	}
	return u.String()
}

func (v *validator) description(field, d string) {
	if len(d) > MaxDescription {
		v.add(field, "too_long", "must be at most %d bytes, got %d", MaxDescription, len(d))
	}
}

// eventTypes validates subscription patterns and returns them without
// duplicates: "*", a catalogue name, or a dotted prefix followed by ".*"
// that matches at least one catalogue name.
func (v *validator) eventTypes(field string, patterns []string) []string {
	if len(patterns) == 0 {
		v.add(field, "required", "must list at least one event type, such as \"*\" or \"file.*\"")
		return nil
	}
	if len(patterns) > MaxEventTypes {
		v.add(field, "too_long", "must list at most %d event types, got %d", MaxEventTypes, len(patterns))
		return nil
	}
	seen := map[string]bool{}
	out := make([]string, 0, len(patterns))
	for i, p := range patterns {
		if !validPattern(p) {
			v.add(fmt.Sprintf("%s[%d]", field, i), "unknown_event_type",
				"%q is not an event type of GET /integrations/events, a prefix wildcard such as \"file.*\", or \"*\"", p)
			continue
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

func validPattern(p string) bool {
	if p == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(p, ".*"); ok {
		if prefix == "" || strings.Contains(prefix, "*") {
			return false
		}
		for _, t := range events.Catalogue() {
			if strings.HasPrefix(t.Name, prefix+".") {
				return true
			}
		}
		return false
	}
	_, ok := events.Lookup(p)
	return ok
}

// Matches reports whether eventType is selected by any of patterns.
func Matches(patterns []string, eventType string) bool {
	for _, p := range patterns {
		if p == "*" || p == eventType {
			return true
		}
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasSuffix(prefix, ".") && strings.HasPrefix(eventType, prefix) {
			return true
		}
	}
	return false
}

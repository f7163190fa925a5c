package webhooks

import (
	"time"
)

// Id prefixes.
const (
	EndpointPrefix = "whe"
	DeliveryPrefix = "whd"
)

// DeliveryQueue is the queue that carries one message per delivery attempt.
const DeliveryQueue = "webhook-deliveries"

// WebhookDelivery statuses.
const (
	StatusPending   = "pending"
	StatusSending   = "sending"
	StatusRetrying  = "retrying"
	StatusSucceeded = "succeeded"
	StatusExhausted = "exhausted"
	StatusFailed    = "failed"
)

// WebhookAttempt outcomes.
const (
	OutcomeInFlight  = "in_flight"
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
)

// Limits on subscriptions.
const (
	MaxEndpointsPerTenant = 50
	MaxEventTypes         = 50
	MaxDescription        = 500
	// ExcerptBytes bounds the stored excerpt of a receiver's response body.
	ExcerptBytes = 1024
	// maxErrorLength bounds the stored error text of an attempt.
	maxErrorLength = 500
)

// WebhookEndpoint is a webhook subscription. Its secret is never returned after
// creation or rotation.
type WebhookEndpoint struct {
	ID          string   `json:"id" example:"whe_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	URL         string   `json:"url" example:"https://hooks.example.com/booga"`
	Description string   `json:"description" example:"Production receiver"`
	EventTypes  []string `json:"event_types" example:"[\"file.*\",\"api_key.revoked\"]"`
	Enabled     bool     `json:"enabled"`
	// DisabledReason is the reason the endpoint is disabled: by request,
	// after 410 Gone, or after failing for WEBHOOK_DISABLE_AFTER.
	DisabledReason *string    `json:"disabled_reason"`
	DisabledAt     *time.Time `json:"disabled_at"`
	// FailingSince is the first failed attempt since the last success.
	FailingSince *time.Time `json:"failing_since"`
	// PreviousSecretExpiresAt is when the secret replaced by the last
	// rotation stops signing; null when only one secret signs.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// CreatedWebhookEndpoint is the response to creation: the endpoint and its signing
// secret, which is shown only here.
type CreatedWebhookEndpoint struct {
	WebhookEndpoint
	Secret string `json:"secret" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"`
}

// WebhookCreateRequest is the body of POST /integrations/webhooks.
type WebhookCreateRequest struct {
	URL         string   `json:"url" minLength:"1" maxLength:"2048" doc:"HTTPS URL the platform POSTs events to. It must resolve to public addresses." example:"https://hooks.example.com/booga"`
	EventTypes  []string `json:"event_types" doc:"Event types to receive: exact names, a prefix wildcard such as file.*, or * for all." example:"[\"file.*\"]"`
	Description string   `json:"description,omitempty" maxLength:"500"`
}

// WebhookUpdateRequest is the body of PATCH /integrations/webhooks/{id}: absent
// fields stay as they are.
type WebhookUpdateRequest struct {
	URL         *string   `json:"url,omitempty" maxLength:"2048"`
	EventTypes  *[]string `json:"event_types,omitempty"`
	Description *string   `json:"description,omitempty" maxLength:"500"`
}

// WebhookSecretRotation is the response to a secret rotation.
type WebhookSecretRotation struct {
	Secret string `json:"secret" example:"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" doc:"The new signing secret, shown only here."`
	// PreviousSecretExpiresAt is when the old secret stops signing; until
	// then every delivery carries one signature per secret.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
}

// WebhookTestSent is the response to a test-event request.
type WebhookTestSent struct {
	EventID string `json:"event_id" example:"evt_01jd8x3k6m4v0q9s7t2w5y8z1a" doc:"The webhook.test event; its id is the webhook-id header of the delivery."`
}

// WebhookDelivery is one event sent to one endpoint, with every attempt.
type WebhookDelivery struct {
	ID         string `json:"id" example:"whd_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	EndpointID string `json:"endpoint_id" example:"whe_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	// EventID is also the webhook-id header, the same on every attempt.
	EventID       string           `json:"event_id" example:"evt_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	EventType     string           `json:"event_type" example:"file.uploaded"`
	Status        string           `json:"status" enum:"pending,sending,retrying,succeeded,exhausted,failed"`
	AttemptCount  int              `json:"attempt_count"`
	MaxAttempts   int              `json:"max_attempts"`
	NextAttemptAt *time.Time       `json:"next_attempt_at"`
	SucceededAt   *time.Time       `json:"succeeded_at"`
	CreatedAt     time.Time        `json:"created_at"`
	Attempts      []WebhookAttempt `json:"attempts"`
}

// WebhookAttempt is one HTTP request of a delivery.
type WebhookAttempt struct {
	Number    int       `json:"number" example:"1"`
	Manual    bool      `json:"manual" doc:"True when a redelivery request made this attempt."`
	StartedAt time.Time `json:"started_at"`
	// Outcome in_flight means the worker stopped before recording a result;
	// the attempt was then made again.
	Outcome    string  `json:"outcome" enum:"in_flight,succeeded,failed"`
	StatusCode *int    `json:"status_code" example:"200"`
	LatencyMS  *int    `json:"latency_ms" example:"84"`
	Error      *string `json:"error" example:"timeout after 10s"`
	// ResponseExcerpt is the start of the response body, at most 1024 bytes.
	ResponseExcerpt *string `json:"response_excerpt"`
}

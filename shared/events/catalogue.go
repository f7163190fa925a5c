package events

import (
	"sort"
	"time"

	"github.com/booga-enterprise/functions/shared/openapi"
)

// Type is one entry of the event catalogue. A type's payload schema changes
// only by adding optional fields; a breaking change gets a new Version and
// a new APIVersion date.
type Type struct {
	Name        string `json:"type" example:"api_key.created"`
	Version     int    `json:"version" example:"1" doc:"Payload schema version of this type."`
	Plugin      string `json:"plugin" example:"api-management" doc:"The plugin whose changes emit the event."`
	Summary     string `json:"summary"`
	Description string `json:"description"`
	// Payload is a zero value of the data type, for schema generation.
	Payload any `json:"-"`
}

// Event type names. Other plugins emit theirs with these constants so that
// a typo fails to compile instead of failing at Emit.
const (
	APIKeyCreated            = "api_key.created"
	APIKeyRotated            = "api_key.rotated"
	APIKeyRevoked            = "api_key.revoked"
	WebhookTest              = "webhook.test"
	WebhookDeliveryExhausted = "webhook.delivery.exhausted"
	WebhookEndpointDisabled  = "webhook.endpoint.disabled"
	FileUploaded             = "file.uploaded"
	FileDeleted              = "file.deleted"
	FileProcessed            = "file.processed"
	AgentRunCompleted        = "agent.run.completed"
	AgentRunFailed           = "agent.run.failed"
	ReportCompleted          = "report.completed"
	UserCreated              = "user.created"
	UserDeactivated          = "user.deactivated"
	MembershipChanged        = "membership.changed"
	IntegrationSyncCompleted = "integration.sync.completed"
)

// APIKeyData is the payload of the api_key.* events. It never carries the
// key's secret.
type APIKeyData struct {
	KeyID  string   `json:"key_id" example:"key_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Name   string   `json:"name" example:"CI deploy key"`
	Prefix string   `json:"prefix" example:"bk_k3v9q2m8x1c4" doc:"The key's public prefix."`
	Scopes []string `json:"scopes" example:"[\"files:read\"]"`
	// ActorID is the key or user that made the change.
	ActorID string `json:"actor_id" example:"key_01jd8x3k6m4v0q9s7t2w5y8z1b"`
}

// WebhookTestData is the payload of webhook.test, sent to one endpoint on
// request.
type WebhookTestData struct {
	EndpointID string `json:"endpoint_id" example:"whe_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Message    string `json:"message" example:"This is a test event."`
}

// WebhookDeliveryExhaustedData is the payload of webhook.delivery.exhausted.
// It is never delivered to the endpoint it reports on.
type WebhookDeliveryExhaustedData struct {
	EndpointID string `json:"endpoint_id" example:"whe_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	DeliveryID string `json:"delivery_id" example:"whd_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	EventID    string `json:"event_id" example:"evt_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	EventType  string `json:"event_type" example:"file.uploaded"`
	Attempts   int    `json:"attempts" example:"8"`
	LastError  string `json:"last_error" example:"status 503"`
}

// WebhookEndpointDisabledData is the payload of webhook.endpoint.disabled.
// It is never delivered to the endpoint it reports on.
type WebhookEndpointDisabledData struct {
	EndpointID   string     `json:"endpoint_id" example:"whe_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	URL          string     `json:"url" example:"https://hooks.example.com/booga"`
	Reason       string     `json:"reason" example:"failing since 2026-11-28T10:00:00Z"`
	FailingSince *time.Time `json:"failing_since,omitempty"`
}

// FileData is the payload of file.uploaded and file.deleted.
type FileData struct {
	FileID      string  `json:"file_id" example:"fil_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Name        string  `json:"name" example:"report.pdf"`
	FolderID    *string `json:"folder_id" doc:"The folder, or null at the root."`
	ContentType string  `json:"content_type" example:"application/pdf"`
	Size        int64   `json:"size" example:"48213" doc:"Size in bytes."`
	SHA256      *string `json:"sha256" doc:"Hex SHA-256 of the content; null until processing computed it."`
	Status      string  `json:"status" enum:"uploading,processing,ready,failed,deleted"`
}

// FileProcessedData is the payload of file.processed: the file after the
// processing worker checked it and extracted its text.
type FileProcessedData struct {
	FileData
	StatusReason string `json:"status_reason,omitempty" doc:"Why processing failed; empty when the file is ready."`
	HasText      bool   `json:"has_text" doc:"Whether text was extracted for indexing."`
	Embed        bool   `json:"embed" doc:"Whether the file is marked for the knowledge base."`
}

// AgentRunData is the payload of agent.run.completed and agent.run.failed.
type AgentRunData struct {
	RunID   string `json:"run_id" example:"run_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	AgentID string `json:"agent_id" example:"agt_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Status  string `json:"status" example:"completed" enum:"completed,failed"`
	Error   string `json:"error,omitempty" doc:"Why the run failed; empty on success."`
}

// ReportData is the payload of report.completed.
type ReportData struct {
	ReportID string `json:"report_id" example:"rpt_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	RunID    string `json:"run_id" example:"rrn_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Format   string `json:"format" example:"csv" enum:"csv,json,pdf"`
}

// UserData is the payload of user.created.
type UserData struct {
	UserID string `json:"user_id" example:"usr_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Email  string `json:"email" example:"ada@example.com"`
	Status string `json:"status,omitempty" enum:"pending,active" doc:"pending for an invitation; absent on first sign-in, which makes the user active."`
	Source string `json:"source" enum:"invitation,first_sign_in"`
}

// UserDeactivatedData is the payload of user.deactivated.
type UserDeactivatedData struct {
	UserID        string   `json:"user_id" example:"usr_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Email         string   `json:"email" example:"ada@example.com"`
	RevokedKeyIDs []string `json:"revoked_key_ids" doc:"The API keys the user had created, revoked with the deactivation."`
}

// MembershipData is the payload of membership.changed.
type MembershipData struct {
	Change         string  `json:"change" enum:"added,role_changed,removed"`
	UserID         string  `json:"user_id" example:"usr_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	UnitID         string  `json:"unit_id" example:"unt_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	RoleID         *string `json:"role_id" doc:"The new role; null when the membership was removed."`
	PreviousRoleID *string `json:"previous_role_id" doc:"The role before the change; null when the membership was added."`
}

// IntegrationSyncData is the payload of integration.sync.completed.
type IntegrationSyncData struct {
	IntegrationID string `json:"integration_id" example:"int_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	SyncID        string `json:"sync_id" example:"syn_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Items         int    `json:"items" example:"120" doc:"Items synchronised."`
	Status        string `json:"status" example:"succeeded" enum:"succeeded,failed"`
}

var catalogue = []Type{
	{Name: APIKeyCreated, Version: 1, Plugin: "api-management", Summary: "API key created", Description: "Sent when an API key is issued.", Payload: APIKeyData{}},
	{Name: APIKeyRotated, Version: 1, Plugin: "api-management", Summary: "API key rotated", Description: "Sent when an API key's secret is rotated; the previous secret works until its grace period ends.", Payload: APIKeyData{}},
	{Name: APIKeyRevoked, Version: 1, Plugin: "api-management", Summary: "API key revoked", Description: "Sent when an API key is revoked.", Payload: APIKeyData{}},
	{Name: WebhookTest, Version: 1, Plugin: "integrations", Summary: "Test event", Description: "Sent to one endpoint when its test route is called. Delivered whatever event types the endpoint subscribes to.", Payload: WebhookTestData{}},
	{Name: WebhookDeliveryExhausted, Version: 1, Plugin: "integrations", Summary: "Webhook delivery exhausted", Description: "Sent when a delivery failed every scheduled attempt. Not sent to the endpoint that failed.", Payload: WebhookDeliveryExhaustedData{}},
	{Name: WebhookEndpointDisabled, Version: 1, Plugin: "integrations", Summary: "Webhook endpoint disabled", Description: "Sent when the platform disables an endpoint that answered 410 Gone or kept failing. Not sent to that endpoint.", Payload: WebhookEndpointDisabledData{}},
	{Name: FileUploaded, Version: 1, Plugin: "files", Summary: "File uploaded", Description: "Sent when a file upload completes.", Payload: FileData{}},
	{Name: FileDeleted, Version: 1, Plugin: "files", Summary: "File deleted", Description: "Sent when a file is deleted.", Payload: FileData{}},
	{Name: FileProcessed, Version: 1, Plugin: "files", Summary: "File processed", Description: "Sent when the processing worker has checked a file and extracted its text (status ready), or given up on it (status failed, with the reason).", Payload: FileProcessedData{}},
	{Name: AgentRunCompleted, Version: 1, Plugin: "agents", Summary: "Agent run completed", Description: "Sent when an agent run finishes successfully.", Payload: AgentRunData{}},
	{Name: AgentRunFailed, Version: 1, Plugin: "agents", Summary: "Agent run failed", Description: "Sent when an agent run fails or hits a limit.", Payload: AgentRunData{}},
	{Name: ReportCompleted, Version: 1, Plugin: "reports", Summary: "Report completed", Description: "Sent when a report run has written its output.", Payload: ReportData{}},
	{Name: UserCreated, Version: 1, Plugin: "organizations", Summary: "User created", Description: "Sent when a user is invited or created by first sign-in.", Payload: UserData{}},
	{Name: UserDeactivated, Version: 1, Plugin: "organizations", Summary: "User deactivated", Description: "Sent when a user is deactivated; their sessions end and the API keys they created are revoked.", Payload: UserDeactivatedData{}},
	{Name: MembershipChanged, Version: 1, Plugin: "organizations", Summary: "Membership changed", Description: "Sent when a user joins or leaves an organisational unit or changes role in it.", Payload: MembershipData{}},
	{Name: IntegrationSyncCompleted, Version: 1, Plugin: "integrations", Summary: "Integration sync completed", Description: "Sent when an integration's sync run ends.", Payload: IntegrationSyncData{}},
}

// Catalogue returns every event type, sorted by name.
func Catalogue() []Type {
	out := make([]Type, len(catalogue))
	copy(out, catalogue)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the catalogue entry of name.
func Lookup(name string) (Type, bool) {
	for _, t := range catalogue {
		if t.Name == name {
			return t, true
		}
	}
	return Type{}, false
}

// OpenAPITypes returns the catalogue for openapi.Options.Events.
func OpenAPITypes() []openapi.EventType {
	types := Catalogue()
	out := make([]openapi.EventType, len(types))
	for i, t := range types {
		out[i] = openapi.EventType{Type: t.Name, Plugin: t.Plugin, Summary: t.Summary, Description: t.Description, Payload: t.Payload,
			APIVersion: APIVersion}
	}
	return out
}

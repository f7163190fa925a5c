package integrations

import (
	"net/http"

	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/webhooks"
)

var endpointID = registry.Param{Name: "id", In: "path", Required: true, Type: "string",
	Description: "The webhook endpoint's id.", Example: "whe_01jd8x3k6m4v0q9s7t2w5y8z1a"}

var deliveryID = registry.Param{Name: "delivery_id", In: "path", Required: true, Type: "string",
	Description: "The delivery's id.", Example: "whd_01jd8x3k6m4v0q9s7t2w5y8z1a"}

var pageParams = []registry.Param{
	{Name: "limit", In: "query", Type: "integer", Description: "Page size.", Minimum: intPtr(1), Maximum: intPtr(httpx.MaxLimit), Default: httpx.DefaultLimit},
	{Name: "cursor", In: "query", Type: "string", Description: "The next_cursor of the previous page."},
}

func intPtr(v int) *int { return &v }

const webhooksPath = "/integrations/webhooks"

// Register adds the event catalogue and webhook routes to reg.
func (m *Module) Register(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/integrations/events", OperationID: "listEventTypes",
		Capability: CapEventsRead,
		Summary:    "List event types",
		Description: "Lists every event type webhooks can subscribe to, with its payload version. Payload schemas are in the OpenAPI document under x-webhooks. " +
			"Every delivery body is {id, type, timestamp, api_version, tenant_id, data}.",
		Responses: map[int]registry.Response{http.StatusOK: {Description: "The event catalogue.", Body: EventTypeList{}}},
		Handler:   m.listEventTypes,
	})
	m.registerEndpoints(reg)
	m.registerDeliveries(reg)
}

func (m *Module) registerEndpoints(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: webhooksPath, OperationID: "createWebhookEndpoint",
		Capability: CapManage, Idempotent: true,
		Summary: "Create a webhook endpoint",
		Description: "Subscribes a URL to event types (exact names, prefix wildcards such as file.*, or *). The URL must be https and resolve to public addresses. " +
			"The signing secret is in secret and is shown only in this response.",
		Request:   webhooks.WebhookCreateRequest{},
		Responses: map[int]registry.Response{http.StatusCreated: {Description: "The endpoint with its signing secret.", Body: webhooks.CreatedWebhookEndpoint{}}},
		Errors:    []int{http.StatusConflict, http.StatusUnsupportedMediaType, http.StatusRequestEntityTooLarge},
		Handler:   m.createEndpoint,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: webhooksPath, OperationID: "listWebhookEndpoints",
		Capability:  CapRead,
		Summary:     "List webhook endpoints",
		Description: "Lists the tenant's webhook endpoints, newest first, with cursor pagination.",
		Params:      pageParams,
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "A page of endpoints.", Body: httpx.Page[webhooks.WebhookEndpoint]{}}},
		Handler:     m.listEndpoints,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: webhooksPath + "/{id}", OperationID: "getWebhookEndpoint",
		Capability:  CapRead,
		Summary:     "Get a webhook endpoint",
		Description: "Returns one endpoint without its secret. Another tenant's endpoint is reported as not found.",
		Params:      []registry.Param{endpointID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The endpoint.", Body: webhooks.WebhookEndpoint{}}},
		Handler:     m.getEndpoint,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPatch, Path: webhooksPath + "/{id}", OperationID: "updateWebhookEndpoint",
		Capability:  CapManage,
		Summary:     "Update a webhook endpoint",
		Description: "Changes the URL, event types or description; absent fields stay. A new URL is checked as on creation and is used for pending retries too.",
		Params:      []registry.Param{endpointID},
		Request:     webhooks.WebhookUpdateRequest{},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The updated endpoint.", Body: webhooks.WebhookEndpoint{}}},
		Errors:      []int{http.StatusUnsupportedMediaType},
		Handler:     m.updateEndpoint,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodDelete, Path: webhooksPath + "/{id}", OperationID: "deleteWebhookEndpoint",
		Capability:  CapManage,
		Summary:     "Delete a webhook endpoint",
		Description: "Deletes the endpoint with its deliveries and their attempts. Pending retries are not sent.",
		Params:      []registry.Param{endpointID},
		Responses:   map[int]registry.Response{http.StatusNoContent: {Description: "The endpoint is deleted."}},
		Handler:     m.deleteEndpoint,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: webhooksPath + "/{id}/disable", OperationID: "disableWebhookEndpoint",
		Capability:  CapManage,
		Summary:     "Disable a webhook endpoint",
		Description: "Stops deliveries to the endpoint. Deliveries due while it is disabled are marked failed and can be redelivered after enabling it.",
		Params:      []registry.Param{endpointID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The disabled endpoint.", Body: webhooks.WebhookEndpoint{}}},
		Handler:     m.setEnabled(false),
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: webhooksPath + "/{id}/enable", OperationID: "enableWebhookEndpoint",
		Capability:  CapManage,
		Summary:     "Enable a webhook endpoint",
		Description: "Resumes deliveries, also to an endpoint the platform disabled after 410 Gone or repeated failures, and clears its failure state.",
		Params:      []registry.Param{endpointID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The enabled endpoint.", Body: webhooks.WebhookEndpoint{}}},
		Handler:     m.setEnabled(true),
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: webhooksPath + "/{id}/rotate-secret", OperationID: "rotateWebhookSecret",
		Capability: CapManage, Idempotent: true,
		Summary: "Rotate a webhook signing secret",
		Description: "Issues a new secret, returned once. Until previous_secret_expires_at (WEBHOOK_SECRET_OVERLAP, 24 hours by default) every delivery carries two v1 signatures, " +
			"one per secret, so receivers can switch at any time within the overlap.",
		Params:    []registry.Param{endpointID},
		Responses: map[int]registry.Response{http.StatusOK: {Description: "The new secret.", Body: webhooks.WebhookSecretRotation{}}},
		Handler:   m.rotateSecret,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: webhooksPath + "/{id}/test", OperationID: "sendWebhookTestEvent",
		Capability: CapManage, Idempotent: true,
		Summary:     "Send a test event",
		Description: "Emits a webhook.test event delivered to this endpoint only, whatever event types it subscribes to. Follow it in the endpoint's deliveries.",
		Params:      []registry.Param{endpointID},
		Responses:   map[int]registry.Response{http.StatusAccepted: {Description: "The test event was committed and will be delivered.", Body: webhooks.WebhookTestSent{}}},
		Errors:      []int{http.StatusConflict},
		Handler:     m.sendTest,
	})
}

func (m *Module) registerDeliveries(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: webhooksPath + "/{id}/deliveries", OperationID: "listWebhookDeliveries",
		Capability:  CapRead,
		Summary:     "List deliveries",
		Description: "Lists the endpoint's deliveries, newest first, each with every attempt: status code, latency, error and the first 1024 bytes of the response.",
		Params: append([]registry.Param{endpointID,
			{Name: "status", In: "query", Type: "string", Description: "Only deliveries with this status: pending, sending, retrying, succeeded, exhausted or failed."}},
			pageParams...),
		Responses: map[int]registry.Response{http.StatusOK: {Description: "A page of deliveries.", Body: httpx.Page[webhooks.WebhookDelivery]{}}},
		Handler:   m.listDeliveries,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: webhooksPath + "/{id}/deliveries/{delivery_id}", OperationID: "getWebhookDelivery",
		Capability:  CapRead,
		Summary:     "Get a delivery",
		Description: "Returns one delivery with every attempt.",
		Params:      []registry.Param{endpointID, deliveryID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The delivery.", Body: webhooks.WebhookDelivery{}}},
		Handler:     m.getDelivery,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: webhooksPath + "/{id}/deliveries/{delivery_id}/redeliver", OperationID: "redeliverWebhook",
		Capability: CapManage, Idempotent: true,
		Summary: "Redeliver",
		Description: "Schedules one more attempt now with the same webhook-id and body, whatever the delivery's status. " +
			"Retries still scheduled are kept. 409 when an attempt is in flight or the endpoint is disabled.",
		Params:    []registry.Param{endpointID, deliveryID},
		Responses: map[int]registry.Response{http.StatusAccepted: {Description: "The delivery with the attempt scheduled.", Body: webhooks.WebhookDelivery{}}},
		Errors:    []int{http.StatusConflict},
		Handler:   m.redeliver,
	})
}

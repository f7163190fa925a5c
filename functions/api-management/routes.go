package apimanagement

import (
	"net/http"

	"github.com/booga-enterprise/functions/shared/apikeys"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/registry"
)

var keyID = registry.Param{Name: "id", In: "path", Required: true, Type: "string",
	Description: "The key's id.", Example: "key_01jd8x3k6m4v0q9s7t2w5y8z1a"}

var pageParams = []registry.Param{
	{Name: "limit", In: "query", Type: "integer", Description: "Page size.", Minimum: intPtr(1), Maximum: intPtr(httpx.MaxLimit), Default: httpx.DefaultLimit},
	{Name: "cursor", In: "query", Type: "string", Description: "The next_cursor of the previous page."},
}

func intPtr(v int) *int { return &v }

// Register adds the key routes to the registry.
func (h *Handlers) Register(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/api-management/keys", OperationID: "createApiKey",
		Capability: CapKeysManage, KeyManagement: true, Idempotent: true,
		Summary:     "Create an API key",
		Description: "Issues a new key for the caller's tenant. The plaintext is in api_key and is shown only in this response. A key cannot be granted scopes its creator lacks.",
		Request:     apikeys.CreateRequest{},
		Responses:   map[int]registry.Response{http.StatusCreated: {Description: "The new key with its plaintext.", Body: apikeys.IssuedKey{}}},
		Errors:      []int{http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType},
		Handler:     h.createKey,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/api-management/keys", OperationID: "listApiKeys",
		Capability: CapKeysRead, KeyManagement: true,
		Summary:     "List API keys",
		Description: "Lists the tenant's keys, newest first, with cursor pagination. Revoked and expired keys are included with their status.",
		Params:      pageParams,
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "A page of keys.", Body: httpx.Page[apikeys.Key]{}}},
		Handler:     h.listKeys,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/api-management/keys/current", OperationID: "getCurrentApiKey",
		Capability: CapKeysRead, KeyManagement: true,
		Summary:     "Describe the calling key",
		Description: "Returns the calling key's metadata and its rate-limit state after counting this request.",
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The calling key.", Body: CurrentKey{}}},
		Handler:     h.currentKey,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/api-management/keys/{id}", OperationID: "getApiKey",
		Capability: CapKeysRead, KeyManagement: true,
		Summary:     "Get an API key",
		Description: "Returns one key's metadata. A key of another tenant is reported as not found.",
		Params:      []registry.Param{keyID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The key.", Body: apikeys.Key{}}},
		Handler:     h.getKey,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPatch, Path: "/api-management/keys/{id}", OperationID: "updateApiKey",
		Capability: CapKeysManage, KeyManagement: true,
		Summary:     "Update an API key",
		Description: "Changes name, scopes, IP allow-list, rate limits or expiry as a JSON merge patch: absent fields stay, null resets a limit to the tenant default or clears the expiry.",
		Params:      []registry.Param{keyID},
		Request:     apikeys.UpdateFields{},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The updated key.", Body: apikeys.Key{}}},
		Errors:      []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:     h.updateKey,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodDelete, Path: "/api-management/keys/{id}", OperationID: "revokeApiKey",
		Capability: CapKeysManage, KeyManagement: true,
		Summary:     "Revoke an API key",
		Description: "Revokes the key at once on every instance. Revoking a revoked key succeeds and changes nothing.",
		Params:      []registry.Param{keyID},
		Responses:   map[int]registry.Response{http.StatusNoContent: {Description: "The key is revoked."}},
		Handler:     h.revokeKey,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/api-management/keys/{id}/rotate", OperationID: "rotateApiKey",
		Capability: CapKeysManage, KeyManagement: true, Idempotent: true,
		Summary:     "Rotate an API key's secret",
		Description: "Issues a new secret for the key, returned once in api_key. The previous secret keeps working until previous_secret_expires_at (APIKEY_ROTATION_GRACE, 24 hours by default).",
		Params:      []registry.Param{keyID},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The key with its new plaintext.", Body: apikeys.IssuedKey{}}},
		Errors:      []int{http.StatusConflict},
		Handler:     h.rotateKey,
	})
}

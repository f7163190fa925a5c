// Package openapitest is the test harness for the OpenAPI, discovery and SDK
// tests: api-management key routes with realistic types and in-memory
// handlers that keep the routes' contract (create, list with cursor, get,
// update, rotate, delete, problems for bad input), and a loopback server
// with the platform's request conventions.
//
// NOTE: the handlers and the pipeline here are stand-ins for the real ones,
// so the generator tests run without PostgreSQL or Redis. The root package's
// contract_test.go runs the contract, lint and SDK checks against the real
// handler and registry.
package openapitest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/registry"
)

// KeyStatus is the state of an API key.
type KeyStatus string

// EnumValues lists the key states for the OpenAPI enum.
func (KeyStatus) EnumValues() []string { return []string{"active", "expired", "revoked"} }

// Key is an API key as the API shows it; the secret is never shown again.
type Key struct {
	ID                 string     `json:"id" doc:"Key id." example:"key_01j9z6y8q5m3v7k2n4p6r8t0w2"`
	Name               string     `json:"name" doc:"Human-readable name." minLength:"1" maxLength:"100" example:"CI deploy key"`
	Prefix             string     `json:"prefix" doc:"Public prefix of the secret, shown to tell keys apart." example:"bk_live_3fA9"`
	Scopes             []string   `json:"scopes" doc:"Capabilities the key grants." example:"[\"api_keys:read\"]"`
	Status             KeyStatus  `json:"status" doc:"Whether the key can be used."`
	AllowedIPs         []string   `json:"allowed_ips" doc:"CIDRs the key may be used from; empty allows every address." example:"[\"203.0.113.0/24\"]"`
	RateLimitPerMinute int        `json:"rate_limit_per_minute" doc:"Requests per minute." minimum:"1" example:"600"`
	RateLimitPerHour   int        `json:"rate_limit_per_hour" doc:"Requests per hour." minimum:"1" example:"20000"`
	ExpiresAt          *time.Time `json:"expires_at" doc:"When the key stops working; null for never."`
	LastUsedAt         *time.Time `json:"last_used_at" doc:"Last successful use; null if never used."`
	CreatedAt          time.Time  `json:"created_at" doc:"Creation time."`
}

// CreatedKey is a new or rotated key with its plaintext secret.
type CreatedKey struct {
	Key
	Secret string `json:"secret" doc:"The full API key. It is shown only in this response; store it now." example:"bk_live_3fA9xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"`
}

// CreateKeyRequest is the body of POST /api-management/keys.
type CreateKeyRequest struct {
	Name               string     `json:"name" doc:"Human-readable name." minLength:"1" maxLength:"100" example:"CI deploy key"`
	Scopes             []string   `json:"scopes" doc:"Capabilities to grant." minItems:"1" example:"[\"api_keys:read\"]"`
	AllowedIPs         []string   `json:"allowed_ips,omitempty" doc:"CIDRs the key may be used from." example:"[\"203.0.113.0/24\"]"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute,omitempty" doc:"Requests per minute; the tenant default when absent." minimum:"1" example:"600"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty" doc:"When the key stops working; never when absent."`
}

// UpdateKeyRequest is the body of PATCH /api-management/keys/{id}; absent fields stay unchanged.
type UpdateKeyRequest struct {
	Name       *string   `json:"name,omitempty" doc:"New name." minLength:"1" maxLength:"100" example:"Renamed key"`
	Scopes     []string  `json:"scopes,omitempty" doc:"New scopes; replaces the old list." example:"[\"api_keys:read\"]"`
	AllowedIPs []string  `json:"allowed_ips,omitempty" doc:"New allow-list; replaces the old list." example:"[\"203.0.113.0/24\"]"`
	Status     KeyStatus `json:"status,omitempty" doc:"Set to revoked to revoke the key."`
}

// UsageBucket is the request count of one endpoint in one hour.
type UsageBucket struct {
	Endpoint  string    `json:"endpoint" doc:"Endpoint id: method and path template." example:"GET /api-management/keys"`
	Hour      time.Time `json:"hour" doc:"Start of the hour, UTC."`
	Requests  int64     `json:"requests" doc:"Requests counted." example:"42"`
	Errors    int64     `json:"errors" doc:"Responses with status 400 or above." example:"1"`
	LatencyMS float64   `json:"latency_ms" doc:"Mean latency in milliseconds." example:"12.5"`
}

// Usage is the response of GET /api-management/usage.
type Usage struct {
	KeyID   *string       `json:"key_id" doc:"The key the figures are limited to, or null for the whole tenant."`
	Buckets []UsageBucket `json:"buckets" doc:"Hourly buckets, oldest first."`
}

// Health is the response of GET /health.
type Health struct {
	Status string `json:"status" enum:"ok,degraded" doc:"Overall state." example:"ok"`
}

// Store contains the keys of the in-memory handlers, newest first by id.
type Store struct {
	mu   sync.Mutex
	keys map[string]*Key
	now  func() time.Time
}

// NewStore returns an empty store using now as its clock.
func NewStore(now func() time.Time) *Store {
	return &Store{keys: map[string]*Key{}, now: now}
}

func intPtr(n int) *int { return &n }

var (
	idParam = registry.Param{Name: "id", In: "path", Required: true, Type: "string",
		Description: "Key id.", Example: "key_01j9z6y8q5m3v7k2n4p6r8t0w2"}
)

// Register adds the api-management key routes and GET /health to reg.
func (s *Store) Register(reg *registry.Registry) {
	const plugin = "api-management"
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodGet, Path: "/api-management/keys", OperationID: "listApiKeys",
		Capability: "api_keys:read", Summary: "List API keys", Description: "Lists the tenant's API keys, newest first.",
		Responses: map[int]registry.Response{200: {Description: "A page of keys.", Body: httpx.Page[Key]{}}},
		Handler:   s.list})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodPost, Path: "/api-management/keys", OperationID: "createApiKey",
		Capability: "api_keys:manage", Summary: "Create an API key", Description: "Creates a key and returns its secret once.",
		Request: CreateKeyRequest{}, Idempotent: true, KeyManagement: true, Errors: []int{409},
		Responses: map[int]registry.Response{201: {Description: "The new key with its secret.", Body: CreatedKey{}}},
		Handler:   s.create})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodGet, Path: "/api-management/keys/current", OperationID: "getCurrentApiKey",
		Capability: "api_keys:read", Summary: "Get the calling key", Description: "Returns the key that authenticated this request.",
		Responses: map[int]registry.Response{200: {Description: "The calling key.", Body: Key{}}},
		Handler:   s.current})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodGet, Path: "/api-management/keys/{id}", OperationID: "getApiKey",
		Capability: "api_keys:read", Summary: "Get an API key", Description: "Returns one key.", Params: []registry.Param{idParam},
		Responses: map[int]registry.Response{200: {Description: "The key.", Body: Key{}}},
		Handler:   s.get})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodPatch, Path: "/api-management/keys/{id}", OperationID: "updateApiKey",
		Capability: "api_keys:manage", Summary: "Update an API key", Description: "Changes the name, scopes, allow-list or status of a key.",
		Params: []registry.Param{idParam}, Request: UpdateKeyRequest{}, KeyManagement: true,
		Responses: map[int]registry.Response{200: {Description: "The updated key.", Body: Key{}}},
		Handler:   s.update})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodDelete, Path: "/api-management/keys/{id}", OperationID: "deleteApiKey",
		Capability: "api_keys:manage", Summary: "Delete an API key", Description: "Revokes and deletes a key.",
		Params: []registry.Param{idParam}, KeyManagement: true,
		Responses: map[int]registry.Response{204: {Description: "The key is deleted."}},
		Handler:   s.delete})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodPost, Path: "/api-management/keys/{id}/rotate", OperationID: "rotateApiKey",
		Capability: "api_keys:manage", Summary: "Rotate an API key", Description: "Issues a new secret; the old one keeps working for the grace period.",
		Params: []registry.Param{idParam}, Idempotent: true, KeyManagement: true,
		Responses: map[int]registry.Response{200: {Description: "The key with its new secret.", Body: CreatedKey{}}},
		Handler:   s.rotate})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodGet, Path: "/api-management/usage", OperationID: "getUsage",
		Capability: "api_keys:read", Summary: "Get API usage", Description: "Returns hourly request counts per endpoint.",
		Params: []registry.Param{{Name: "key_id", In: "query", Type: "string", Description: "Limit the figures to one key.", Example: "key_01j9z6y8q5m3v7k2n4p6r8t0w2"},
			{Name: "hours", In: "query", Type: "integer", Description: "How many hours back to report.", Minimum: intPtr(1), Maximum: intPtr(720), Default: 24}},
		Responses: map[int]registry.Response{200: {Description: "Usage buckets.", Body: Usage{}}},
		Handler:   s.usage})
	reg.Add(registry.Route{Plugin: "health", Method: http.MethodGet, Path: "/health", OperationID: "getHealth", Auth: registry.AuthPublic,
		Summary: "Check health", Description: "Reports whether the platform can serve requests.", Errors: []int{503},
		Responses: map[int]registry.Response{200: {Description: "The platform is up.", Body: Health{}}},
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			httpx.WriteJSON(w, http.StatusOK, Health{Status: "ok"})
			return nil
		}})
}

func (s *Store) create(w http.ResponseWriter, r *http.Request) error {
	var req CreateKeyRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	var fields []problem.FieldError
	if strings.TrimSpace(req.Name) == "" || len(req.Name) > 100 {
		fields = append(fields, problem.FieldError{Field: "name", Code: "length", Message: "must be 1 to 100 characters"})
	}
	if len(req.Scopes) == 0 {
		fields = append(fields, problem.FieldError{Field: "scopes", Code: "required", Message: "must list at least one capability"})
	}
	if len(fields) > 0 {
		return problem.Invalid(fields...)
	}

	perMinute := 600
	if req.RateLimitPerMinute != nil {
		perMinute = *req.RateLimitPerMinute
	}
	allowed := req.AllowedIPs
	if allowed == nil {
		allowed = []string{}
	}

	secret := newSecret()
	key := &Key{ID: ids.New("key"), Name: req.Name, Prefix: secret[:12], Scopes: req.Scopes, Status: "active",
		AllowedIPs: allowed, RateLimitPerMinute: perMinute, RateLimitPerHour: 20000, ExpiresAt: req.ExpiresAt, CreatedAt: s.now().UTC()}
	s.mu.Lock()
	s.keys[key.ID] = key
	s.mu.Unlock()
	httpx.WriteJSON(w, http.StatusCreated, CreatedKey{Key: *key, Secret: secret})
	return nil
}

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "bk_test_" + hex.EncodeToString(b)
}

func (s *Store) list(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	rows := make([]Key, 0, len(s.keys))
	for _, k := range s.keys {
		if page.After == "" || k.ID < page.After {
			rows = append(rows, *k)
		}
	}
	s.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID > rows[j].ID })
	if len(rows) > page.Limit+1 {
		rows = rows[:page.Limit+1]
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.NewPage(rows, page, func(k Key) string { return k.ID }))
	return nil
}

func (s *Store) find(id string) (*Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[id]
	if !ok {
		return nil, problem.NotFound("API key", id)
	}
	copied := *k
	return &copied, nil
}

func (s *Store) get(w http.ResponseWriter, r *http.Request) error {
	k, err := s.find(r.PathValue("id"))
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, k)
	return nil
}

func (s *Store) current(w http.ResponseWriter, r *http.Request) error {
	httpx.WriteJSON(w, http.StatusOK, Key{ID: "key_00000000000000000000000000", Name: "test key", Prefix: "bk_test_0000",
		Scopes: []string{"api_keys:read", "api_keys:manage", "endpoints:read"}, Status: "active", AllowedIPs: []string{},
		RateLimitPerMinute: 600, RateLimitPerHour: 20000, CreatedAt: s.now().UTC()})
	return nil
}

func (s *Store) update(w http.ResponseWriter, r *http.Request) error {
	var req UpdateKeyRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name != nil && (strings.TrimSpace(*req.Name) == "" || len(*req.Name) > 100) {
		return problem.Invalid(problem.FieldError{Field: "name", Code: "length", Message: "must be 1 to 100 characters"})
	}
	if req.Status != "" && req.Status != "revoked" {
		return problem.Invalid(problem.FieldError{Field: "status", Code: "enum", Message: "may only be set to revoked"})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[r.PathValue("id")]
	if !ok {
		return problem.NotFound("API key", r.PathValue("id"))
	}

	if req.Name != nil {
		k.Name = *req.Name
	}
	if req.Scopes != nil {
		k.Scopes = req.Scopes
	}
	if req.AllowedIPs != nil {
		k.AllowedIPs = req.AllowedIPs
	}
	if req.Status != "" {
		k.Status = req.Status
	}
	httpx.WriteJSON(w, http.StatusOK, k)
	return nil
}

func (s *Store) delete(w http.ResponseWriter, r *http.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("id")
	if _, ok := s.keys[id]; !ok {
		return problem.NotFound("API key", id)
	}
	delete(s.keys, id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Store) rotate(w http.ResponseWriter, r *http.Request) error {
	k, err := s.find(r.PathValue("id"))
	if err != nil {
		return err
	}
	secret := newSecret()
	k.Prefix = secret[:12]
	s.mu.Lock()
	s.keys[k.ID].Prefix = k.Prefix
	s.mu.Unlock()
	httpx.WriteJSON(w, http.StatusOK, CreatedKey{Key: *k, Secret: secret})
	return nil
}

func (s *Store) usage(w http.ResponseWriter, r *http.Request) error {
	var keyID *string
	if v := r.URL.Query().Get("key_id"); v != "" {
		keyID = &v
	}
	hour := s.now().UTC().Truncate(time.Hour)
	httpx.WriteJSON(w, http.StatusOK, Usage{KeyID: keyID, Buckets: []UsageBucket{
		{Endpoint: "GET /api-management/keys", Hour: hour, Requests: 3, Errors: 0, LatencyMS: 1.5}}})
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/openapi"
	"github.com/booga-enterprise/functions/shared/openapi/openapitest"
	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/request"
	"github.com/booga-enterprise/functions/shared/sdkgen"
	"github.com/booga-enterprise/functions/shared/tenancy"
)

// specPlugins returns "" (the combined document) followed by every plugin
// that has routes in reg.
func specPlugins(reg *registry.Registry) []string {
	return append([]string{""}, openapi.Plugins(reg)...)
}

// TestLiveSpec_ValidAndLintClean builds the combined and every per-plugin
// document from the registry the handler serves, in JSON and YAML, checks
// each with kin-openapi and lints the YAML with Redocly.
func TestLiveSpec_ValidAndLintClean(t *testing.T) {
	t.Parallel()
	reg := routesOnly(t)
	dir := t.TempDir()
	var files []string
	for _, plugin := range specPlugins(reg) {
		for _, format := range []openapi.Format{openapi.FormatJSON, openapi.FormatYAML} {
			out, err := openapi.Build(reg, openapi.Options{Plugin: plugin}, format)
			require.NoError(t, err, "plugin %q", plugin)

			loader := openapi3.NewLoader()
			doc, err := loader.LoadFromData(out)
			require.NoError(t, err, "plugin %q %s does not load", plugin, format)
			require.NoError(t, doc.Validate(loader.Context), "plugin %q %s", plugin, format)
			require.Equal(t, "3.0.3", doc.OpenAPI, "plugin %q", plugin)

			if format == openapi.FormatYAML {
				name := "openapi.yaml"
				if plugin != "" {
					name = "openapi-" + plugin + ".yaml"
				}
				path := filepath.Join(dir, name)
				require.NoError(t, os.WriteFile(path, out, 0o644))
				files = append(files, path)
			}
		}
	}
	require.Greater(t, len(files), 2, "the combined document and at least two plugins")
	openapitest.LintRedocly(t, files...)
}

// TestLiveSpec_EveryOperationDocumented checks that every registered route
// is an operation of the combined document with an operation id, a security
// requirement (empty on public routes) and at least one problem response.
func TestLiveSpec_EveryOperationDocumented(t *testing.T) {
	t.Parallel()
	reg := routesOnly(t)
	doc, err := openapi.Generate(reg, openapi.Options{})
	require.NoError(t, err)

	var withSecurity, withID, withProblem int
	for _, r := range reg.Routes() {
		item := doc.Paths.Find(r.Path)
		require.NotNil(t, item, "%s is not in the document", r.ID())
		op := item.GetOperation(r.Method)
		require.NotNil(t, op, "%s is not in the document", r.ID())

		if op.OperationID == r.OperationID && op.OperationID != "" {
			withID++
		}
		require.NotNil(t, op.Security, "%s has no security requirement", r.ID())
		if r.Auth == registry.AuthPublic {
			require.Empty(t, *op.Security, "%s is public", r.ID())
		} else {
			require.Len(t, *op.Security, 2, "%s accepts X-API-Key and Bearer", r.ID())
		}
		withSecurity++

		problems := 0
		for status, resp := range op.Responses.Map() {
			if status[0] != '4' && status[0] != '5' {
				continue
			}
			media := resp.Value.Content.Get("application/problem+json")
			if media == nil {
				// The health report body of a 503 is documented as itself, not as a problem.
				continue
			}
			require.Equal(t, "#/components/schemas/Problem", media.Schema.Ref, "%s %s", r.ID(), status)
			problems++
		}
		if problems > 0 {
			withProblem++
		}
	}
	total := len(reg.Routes())
	operations := 0
	for _, item := range doc.Paths.Map() {
		operations += len(item.Operations())
	}
	require.Equal(t, total, operations, "one operation per route, and no other")
	require.Equal(t, total, withID, "operation ids")
	require.Equal(t, total, withSecurity, "security requirements")
	require.Equal(t, total, withProblem, "problem responses")
	t.Logf("%d endpoints: %d with an operation id, %d with a security requirement, %d with a problem response",
		total, withID, withSecurity, withProblem)
}

// buildLiveDocs runs Redocly build-docs over the combined document of reg
// and returns the HTML file's path.
func buildLiveDocs(t *testing.T, reg *registry.Registry) string {
	t.Helper()
	dir := t.TempDir()
	spec, err := openapi.Build(reg, openapi.Options{}, openapi.FormatYAML)
	require.NoError(t, err)
	specFile := filepath.Join(dir, "openapi.yaml")
	require.NoError(t, os.WriteFile(specFile, spec, 0o644))
	out := filepath.Join(dir, "api-docs.html")
	openapitest.RunRedocly(t, "build-docs", specFile, "--output", out)
	return out
}

// contractCall is one request of the contract test.
type contractCall struct {
	method, path string
	body         string
	key          string            // API key sent as Bearer; "" sends none
	headers      map[string]string // extra request headers
	want         int
}

// TestLiveContract_EveryEndpoint sends representative requests, errors
// included, to every route of the running handler and validates each
// response (status, headers, body) against the combined OpenAPI document.
// It fails when a registered route gets no request.
func TestLiveContract_EveryEndpoint(t *testing.T) {
	t.Parallel()
	docs := buildLiveDocs(t, routesOnly(t))
	p := newTestPlatform(t, map[string]string{"API_DOCS_FILE": docs, "WEBHOOKS_ALLOW_LOOPBACK": "true"})
	admin := p.tenant("Acme")

	doc, err := openapi.Generate(p.app.registry, openapi.Options{})
	require.NoError(t, err)
	closeObjectSchemas(doc)
	contract := openapitest.NewContract(t, doc, p.srv.URL+"/api")

	do := func(c contractCall) []byte {
		t.Helper()
		req, err := http.NewRequest(c.method, p.srv.URL+"/api"+c.path, strings.NewReader(c.body))
		require.NoError(t, err)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		for k, v := range c.headers {
			req.Header.Set(k, v)
		}
		status, out := contract.Do(t, req)
		require.Equal(t, c.want, status, "%s %s: %s", c.method, c.path, out)
		return out
	}
	issued := func(raw []byte) (id, key string) {
		t.Helper()
		var k struct {
			ID     string `json:"id"`
			APIKey string `json:"api_key"`
		}
		require.NoError(t, json.Unmarshal(raw, &k))
		require.NotEmpty(t, k.ID)
		require.NotEmpty(t, k.APIKey)
		return k.ID, k.APIKey
	}
	const keys = "/api-management/keys"
	const missingKey = "/api-management/keys/key_01m91aj79d3xnnj8x3cxvch8x3"

	readerID, reader := issued(do(contractCall{method: "POST", path: keys, key: admin.APIKey,
		body: `{"name":"reader","scopes":["api_keys:read"]}`, want: 201}))
	_, limited := issued(do(contractCall{method: "POST", path: keys, key: admin.APIKey,
		body: `{"name":"limited","scopes":["api_keys:read"],"rate_limit_per_minute":1}`, want: 201}))
	_, remote := issued(do(contractCall{method: "POST", path: keys, key: admin.APIKey,
		body: `{"name":"remote","scopes":["api_keys:read"],"allowed_ips":["203.0.113.0/24"]}`, want: 201}))
	once := map[string]string{"Idempotency-Key": "contract-1"}

	calls := []contractCall{
		// createApiKey
		{method: "POST", path: keys, key: admin.APIKey, headers: once, body: `{"name":"once","scopes":["files:read"]}`, want: 201},
		{method: "POST", path: keys, key: admin.APIKey, headers: once, body: `{"name":"once","scopes":["files:read"]}`, want: 201},
		{method: "POST", path: keys, key: admin.APIKey, headers: once, body: `{"name":"other","scopes":["files:read"]}`, want: 422},
		{method: "POST", path: keys, key: admin.APIKey, body: `{"name":"x","scopes":["files:read"],"colour":"red"}`, want: 400},
		{method: "POST", path: keys, key: admin.APIKey, body: `{"scopes":["files:read"]}`, want: 422},
		{method: "POST", path: keys, key: admin.APIKey, body: `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, want: 413},
		{method: "POST", path: keys, key: admin.APIKey, headers: map[string]string{"Content-Type": "text/plain"}, body: `name=x`, want: 415},
		{method: "POST", path: keys, key: reader, body: `{"name":"x","scopes":["files:read"]}`, want: 403},
		{method: "POST", path: keys, body: `{"name":"x","scopes":["files:read"]}`, want: 401},
		// listApiKeys
		{method: "GET", path: keys + "?limit=2", key: admin.APIKey, want: 200},
		{method: "GET", path: keys + "?limit=1000", key: admin.APIKey, want: 422},
		{method: "GET", path: keys + "?cursor=!!!", key: admin.APIKey, want: 400},
		{method: "GET", path: keys, want: 401},
		{method: "GET", path: keys, key: "bk_not_a_real_key", want: 401},
		// getCurrentApiKey
		{method: "GET", path: keys + "/current", key: reader, want: 200},
		{method: "GET", path: keys + "/current", key: remote, want: 403},
		{method: "GET", path: keys + "/current", key: limited, want: 200},
		{method: "GET", path: keys + "/current", key: limited, want: 429},
		// getApiKey
		{method: "GET", path: keys + "/" + readerID, key: admin.APIKey, want: 200},
		{method: "GET", path: missingKey, key: admin.APIKey, want: 404},
		// updateApiKey
		{method: "PATCH", path: keys + "/" + readerID, key: admin.APIKey, body: `{"name":"renamed","rate_limit_per_minute":null}`, want: 200},
		{method: "PATCH", path: keys + "/" + readerID, key: admin.APIKey, body: `{"scopes":["files:fly"]}`, want: 422},
		{method: "PATCH", path: keys + "/" + readerID, key: admin.APIKey, body: `{"colour":"red"}`, want: 400},
		{method: "PATCH", path: missingKey, key: admin.APIKey, body: `{"name":"x"}`, want: 404},
		// rotateApiKey
		{method: "POST", path: keys + "/" + readerID + "/rotate", key: admin.APIKey, want: 200},
		{method: "POST", path: missingKey + "/rotate", key: admin.APIKey, want: 404},
		// getUsage
		{method: "GET", path: "/api-management/usage?granularity=day", key: admin.APIKey, want: 200},
		{method: "GET", path: "/api-management/usage?granularity=week", key: admin.APIKey, want: 422},
		// revokeApiKey, then the rotate of a revoked key conflicts
		{method: "DELETE", path: keys + "/" + readerID, key: admin.APIKey, want: 204},
		{method: "DELETE", path: missingKey, key: admin.APIKey, want: 404},
		{method: "POST", path: keys + "/" + readerID + "/rotate", key: admin.APIKey, want: 409},
		// getHealth
		{method: "GET", path: "/health", want: 200},
		// listEndpoints
		{method: "GET", path: "/api-management/endpoints?limit=3", key: admin.APIKey, want: 200},
		{method: "GET", path: "/api-management/endpoints?plugin=health&method=GET", key: admin.APIKey, want: 200},
		{method: "GET", path: "/api-management/endpoints?plugin=nope", key: admin.APIKey, want: 404},
		{method: "GET", path: "/api-management/endpoints?method=TRACE", key: admin.APIKey, want: 422},
		{method: "GET", path: "/api-management/endpoints", key: readerWithoutEndpoints(t, p, admin), want: 403},
		// getEndpoint
		{method: "GET", path: "/api-management/endpoints/listApiKeys", key: admin.APIKey, want: 200},
		{method: "GET", path: "/api-management/endpoints/noSuchOperation", key: admin.APIKey, want: 404},
		// getOpenApiSchema
		{method: "GET", path: "/api-management/openapi-schema", key: admin.APIKey, want: 200},
		{method: "GET", path: "/api-management/openapi-schema?plugin=api-management&format=yaml", key: admin.APIKey, want: 200},
		{method: "GET", path: "/api-management/openapi-schema?plugin=nope", key: admin.APIKey, want: 404},
		{method: "GET", path: "/api-management/openapi-schema?format=xml", key: admin.APIKey, want: 422},
		// getSdk
		{method: "GET", path: "/api-management/sdks/python", key: admin.APIKey, want: 200},
		{method: "GET", path: "/api-management/sdks/cobol", key: admin.APIKey, want: 404},
		// getApiDocs
		{method: "GET", path: "/api-management/docs", want: 200},
	}
	for _, c := range calls {
		do(c)
	}
	organizationCalls(t, do, admin.APIKey)
	webhookCalls(t, p, do, admin.APIKey)
	filesCalls(t, p, do, admin.APIKey)

	// Developer tenants may not use the key-management routes.
	developer := developerKey(t, p)
	do(contractCall{method: "GET", path: keys, key: developer, want: 403})

	var missing []string
	errorsSeen := map[int]bool{}
	for _, r := range p.app.registry.Routes() {
		statuses := contract.Statuses(r.OperationID)
		if len(statuses) == 0 {
			missing = append(missing, r.ID())
		}
		for _, s := range statuses {
			if s >= 400 {
				errorsSeen[s] = true
			}
		}
	}
	require.Empty(t, missing, "routes without a contract request")
	var seen []int
	for s := range errorsSeen {
		seen = append(seen, s)
	}
	sort.Ints(seen)
	for _, s := range []int{400, 401, 403, 404, 409, 410, 412, 413, 415, 422, 429} {
		require.True(t, errorsSeen[s], "no request produced a %d", s)
	}
	t.Logf("%d routes validated; error statuses validated: %v", len(p.app.registry.Routes()), seen)
}

// organizationCalls sends the organizations plugin's contract requests: it
// invites a user, builds a unit with a member and a custom role, reads them
// all, then removes them, with bad input and unknown ids along the way.
func organizationCalls(t *testing.T, do func(contractCall) []byte, admin string) {
	t.Helper()
	id := func(raw []byte) string {
		t.Helper()
		var v struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(raw, &v), "body: %s", raw)
		require.NotEmpty(t, v.ID, "body: %s", raw)
		return v.ID
	}
	const org = "/organizations"
	user := id(do(contractCall{method: "POST", path: org + "/users", key: admin, body: `{"email":"ada@acme.test"}`, want: 201}))
	unit := id(do(contractCall{method: "POST", path: org + "/units", key: admin, body: `{"name":"Engineering"}`, want: 201}))
	role := id(do(contractCall{method: "POST", path: org + "/roles", key: admin,
		body: `{"name":"Reader","capabilities":["files:read"]}`, want: 201}))
	const missingUser = org + "/users/usr_01m91aj79d3xnnj8x3cxvch8x3"
	const missingUnit = org + "/units/unit_01m91aj79d3xnnj8x3cxvch8x3"
	const missingRole = org + "/roles/role_01m91aj79d3xnnj8x3cxvch8x3"

	for _, c := range []contractCall{
		{method: "POST", path: org + "/users", key: admin, body: `{"email":"not an address"}`, want: 422},
		{method: "POST", path: org + "/units", key: admin, body: `{"name":"x","colour":"red"}`, want: 400},
		{method: "POST", path: org + "/roles", key: admin, body: `{"name":"Bad","capabilities":["files:fly"]}`, want: 422},
		{method: "GET", path: org + "/sign-in", key: admin, want: 200},
		{method: "PATCH", path: org + "/sign-in", key: admin, body: `{"auto_provision_users":true}`, want: 200},
		{method: "GET", path: org + "/users?limit=2", key: admin, want: 200},
		{method: "GET", path: org + "/users/" + user, key: admin, want: 200},
		{method: "GET", path: missingUser, key: admin, want: 404},
		{method: "PUT", path: org + "/units/" + unit + "/members/" + user, key: admin, body: `{"role_id":"viewer"}`, want: 201},
		{method: "PUT", path: org + "/units/" + unit + "/members/" + user, key: admin, body: `{"role_id":"` + role + `"}`, want: 200},
		{method: "GET", path: org + "/users/" + user + "/memberships", key: admin, want: 200},
		{method: "GET", path: org + "/users/" + user + "/permissions", key: admin, want: 200},
		{method: "PATCH", path: org + "/users/" + user, key: admin, body: `{"status":"deactivated"}`, want: 200},
		{method: "GET", path: org + "/units", key: admin, want: 200},
		{method: "GET", path: org + "/units/" + unit, key: admin, want: 200},
		{method: "GET", path: missingUnit, key: admin, want: 404},
		{method: "PATCH", path: org + "/units/" + unit, key: admin, body: `{"name":"Platform"}`, want: 200},
		{method: "GET", path: org + "/units/" + unit + "/subtree", key: admin, want: 200},
		{method: "GET", path: org + "/units/" + unit + "/members", key: admin, want: 200},
		{method: "GET", path: org + "/roles", key: admin, want: 200},
		{method: "GET", path: org + "/roles/" + role, key: admin, want: 200},
		{method: "GET", path: missingRole, key: admin, want: 404},
		{method: "PATCH", path: org + "/roles/" + role, key: admin, body: `{"capabilities":["files:read","files:write"]}`, want: 200},
		{method: "GET", path: org + "/audit-log", key: admin, want: 200},
		{method: "GET", path: org + "/audit-log", want: 401},
		{method: "DELETE", path: org + "/units/" + unit + "/members/" + user, key: admin, want: 204},
		{method: "DELETE", path: org + "/units/" + unit, key: admin, want: 204},
		{method: "DELETE", path: missingUnit, key: admin, want: 404},
		{method: "DELETE", path: org + "/roles/" + role, key: admin, want: 204},
		{method: "DELETE", path: missingRole, key: admin, want: 404},
	} {
		do(c)
	}

	// A recursive delete responds 202 with a deletion to poll.
	parent := id(do(contractCall{method: "POST", path: org + "/units", key: admin, body: `{"name":"Legacy"}`, want: 201}))
	do(contractCall{method: "POST", path: org + "/units", key: admin, body: `{"name":"Archive","parent_id":"` + parent + `"}`, want: 201})
	deletion := id(do(contractCall{method: "DELETE", path: org + "/units/" + parent + "?recursive=true", key: admin, want: 202}))
	do(contractCall{method: "GET", path: org + "/unit-deletions/" + deletion, key: admin, want: 200})
	do(contractCall{method: "GET", path: org + "/unit-deletions/oud_01m91aj79d3xnnj8x3cxvch8x3", key: admin, want: 404})
}

// readerWithoutEndpoints issues a key that may read keys but lacks
// endpoints:read, the discovery routes' capability.
func readerWithoutEndpoints(t *testing.T, p *testPlatform, admin tenancy.Created) string {
	t.Helper()
	res := p.do("POST", "/api/api-management/keys", admin.APIKey, map[string]any{"name": "no-discovery", "scopes": []string{"api_keys:read"}})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	return res.json(t)["api_key"].(string)
}

// developerKey plants a key in a new developer tenant. Developer tenants get
// no API key through the API, so the planted row takes the place of one.
func developerKey(t *testing.T, p *testPlatform) string {
	t.Helper()
	ctx := context.Background()
	dev, err := tenancy.Create(ctx, p.app.pool, p.app.keys, tenancy.CreateRequest{
		Name: "Dev", Type: request.Developer, RateLimitPerMinute: 60, RateLimitPerHour: 600})
	require.NoError(t, err)
	var planted string
	require.NoError(t, postgres.InTenant(ctx, p.app.pool, dev.ID, func(tx pgx.Tx) error {
		k, err := p.app.keys.CreateAdmin(ctx, tx, dev.ID, "planted")
		planted = k.APIKey
		return err
	}))
	return planted
}

// closeObjectSchemas sets additionalProperties: false on every object schema
// of doc that lists properties and does not set additionalProperties, so that the
// contract test also fails on a response field the document does not name.
// The published document stays open, which lets clients tolerate fields
// added later.
func closeObjectSchemas(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(ref *openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if len(s.Properties) > 0 && s.AdditionalProperties.Has == nil && s.AdditionalProperties.Schema == nil {
			s.AdditionalProperties = openapi3.AdditionalProperties{Has: openapi3.Ptr(false)}
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		walk(s.AdditionalProperties.Schema)
		for _, list := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, r := range list {
				walk(r)
			}
		}
	}
	for _, ref := range doc.Components.Schemas {
		walk(ref)
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, resp := range op.Responses.Map() {
				for _, media := range resp.Value.Content {
					walk(media.Schema)
				}
			}
		}
	}
}

// throttleHeader marks the SDK requests whose attempts sdkServer records.
// The platform ignores the header.
const throttleHeader = "X-Test-Throttle"

// sdkAttempt is one request carrying throttleHeader, with the handler's response.
type sdkAttempt struct {
	Status         int
	RetryAfter     string
	IdempotencyKey string
}

// sdkServer is the real handler of a test platform on its own loopback
// listener, for the SDK tests. Requests carrying throttleHeader are recorded,
// and when the rate limiter rejects one of them with 429 the platform clock
// moves on a minute before the response leaves, so the SDK's retry after
// Retry-After lands in a fresh window.
type sdkServer struct {
	p       *testPlatform
	baseURL string
	admin   string
	// limited is a key with api_keys:read and api_keys:manage whose
	// per-minute limit of 1 is used up, so its next request is a 429 with
	// Retry-After: 1.
	limited  string
	mu       sync.Mutex
	attempts map[string][]sdkAttempt
	// settle, when set, runs after each request and before its response
	// is sent.
	settle func()
}

func newSDKServer(t *testing.T, env map[string]string) *sdkServer {
	t.Helper()
	p := newTestPlatform(t, env)
	admin := p.tenant("Acme")
	s := &sdkServer{p: p, admin: admin.APIKey, attempts: map[string][]sdkAttempt{}}

	res := p.do("POST", "/api/api-management/keys", admin.APIKey, map[string]any{
		"name": "limited", "scopes": []string{"api_keys:read", "api_keys:manage"}, "rate_limit_per_minute": 1})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	s.limited = res.json(t)["api_key"].(string)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", s.limited, nil).Status)
	// The clock is at 12:00:05. At 12:00:59 the minute window ends in one second.
	p.advance(54 * time.Second)

	api := p.app.handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.Header.Get(throttleHeader)
		if token == "" {
			api.ServeHTTP(w, r)
			s.mu.Lock()
			settle := s.settle
			s.mu.Unlock()
			if settle != nil {
				settle()
			}
			return
		}
		api.ServeHTTP(&attemptRecorder{ResponseWriter: w, record: func(status int, h http.Header) {
			s.mu.Lock()
			s.attempts[token] = append(s.attempts[token], sdkAttempt{Status: status, RetryAfter: h.Get("Retry-After"),
				IdempotencyKey: r.Header.Get("Idempotency-Key")})
			s.mu.Unlock()
			if status == http.StatusTooManyRequests {
				p.advance(time.Minute)
			}
		}}, r)
	}))
	t.Cleanup(srv.Close)
	s.baseURL = srv.URL + "/api"
	return s
}

// requireRetried checks that the request marked with token got one 429 with
// Retry-After: 1 and one successful retry with the same Idempotency-Key.
func (s *sdkServer) requireRetried(t *testing.T, token string) {
	t.Helper()
	s.mu.Lock()
	attempts := append([]sdkAttempt(nil), s.attempts[token]...)
	s.mu.Unlock()
	require.Len(t, attempts, 2, "one 429 and one retry")
	require.Equal(t, http.StatusTooManyRequests, attempts[0].Status)
	require.Equal(t, "1", attempts[0].RetryAfter)
	require.Equal(t, http.StatusCreated, attempts[1].Status)
	require.NotEmpty(t, attempts[0].IdempotencyKey, "an idempotent POST sends Idempotency-Key")
	require.Equal(t, attempts[0].IdempotencyKey, attempts[1].IdempotencyKey, "the retry reuses the Idempotency-Key")
}

// attemptRecorder calls record with the status and headers of the response
// before they are sent.
type attemptRecorder struct {
	http.ResponseWriter
	record  func(status int, h http.Header)
	written bool
}

func (a *attemptRecorder) WriteHeader(status int) {
	if !a.written {
		a.written = true
		a.record(status, a.Header())
	}
	a.ResponseWriter.WriteHeader(status)
}

func (a *attemptRecorder) Write(b []byte) (int, error) {
	if !a.written {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(b)
}

// liveSDK generates lang from the platform's own OpenAPI document into a
// new temporary folder and returns the file's path.
func liveSDK(t *testing.T, s *sdkServer, lang sdkgen.Language) string {
	t.Helper()
	doc, err := openapi.Generate(s.p.app.registry, openapi.Options{})
	require.NoError(t, err)
	f, err := sdkgen.Generate(doc, lang)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), f.Name)
	require.NoError(t, os.WriteFile(path, f.Content, 0o644))
	return path
}

func liveClientsDir(t *testing.T) string {
	return filepath.Join(openapitest.RepoRoot(t), "testdata", "openapi", "live")
}

// runClient executes a client driver with a timeout and fails the test with
// its output unless it exits 0 and prints "ok" as its last line.
func runClient(t *testing.T, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s failed:\n%s", name, out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Equal(t, "ok", lines[len(lines)-1], "%s output:\n%s", name, out)
}

func TestLiveSDK_Python(t *testing.T) {
	t.Parallel()
	s := newSDKServer(t, nil)
	sdk := liveSDK(t, s, sdkgen.Python)
	token := "python"
	runClient(t, []string{"PYTHONNOUSERSITE=1"}, "python3", "-I", filepath.Join(liveClientsDir(t), "python_client.py"),
		filepath.Dir(sdk), s.baseURL, s.admin, s.limited, token)
	s.requireRetried(t, token)
}

func TestLiveSDK_TypeScript(t *testing.T) {
	t.Parallel()
	tsc := openapitest.NPMTool(t, "typescript", "tsc")
	s := newSDKServer(t, nil)
	sdk := liveSDK(t, s, sdkgen.TypeScript)
	dir := filepath.Dir(sdk)
	driver, err := os.ReadFile(filepath.Join(liveClientsDir(t), "typescript_client.ts"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.ts"), driver, 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	compile := exec.CommandContext(ctx, tsc, "--strict", "--noUnusedLocals", "--target", "es2022", "--module", "es2022",
		"--moduleResolution", "bundler", "--lib", "es2022,dom,dom.iterable", "--outDir", filepath.Join(dir, "out"),
		filepath.Join(dir, "booga-client.ts"), filepath.Join(dir, "main.ts"))
	out, err := compile.CombinedOutput()
	require.NoError(t, err, "tsc --strict failed:\n%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "out", "package.json"), []byte(`{"type":"module"}`), 0o644))

	token := "typescript"
	runClient(t, nil, "node", filepath.Join(dir, "out", "main.js"), s.baseURL, s.admin, s.limited, token)
	s.requireRetried(t, token)
}

func TestLiveSDK_JavaScript(t *testing.T) {
	t.Parallel()
	s := newSDKServer(t, nil)
	sdk := liveSDK(t, s, sdkgen.JavaScript)
	token := "javascript"
	runClient(t, nil, "node", filepath.Join(liveClientsDir(t), "javascript_client.mjs"), "file://"+sdk,
		s.baseURL, s.admin, s.limited, token)
	s.requireRetried(t, token)
}

func TestLiveSDK_Curl(t *testing.T) {
	t.Parallel()
	s := newSDKServer(t, nil)
	sdk := liveSDK(t, s, sdkgen.Curl)
	token := "curl"
	runClient(t, []string{"BOOGA_BASE_URL=" + s.baseURL, "BOOGA_API_KEY=" + s.admin},
		"bash", filepath.Join(liveClientsDir(t), "curl_client.sh"), sdk, s.limited, token)
	s.requireRetried(t, token)
}

// TestLiveSDK_Postman runs the generated collection under newman: it walks
// every operation with its own assertions and ends with problem checks.
// Webhook endpoints point at a loopback receiver, and the background
// functions (event fan-out, webhook delivery, file processing) run in a
// local runtime. Each response waits until their queues are empty, so the
// deliveries and extracted text a request causes exist before the next one.
func TestLiveSDK_Postman(t *testing.T) {
	t.Parallel()
	requireAzurite(t)
	newman := openapitest.NPMTool(t, "newman", "newman")
	s := newSDKServer(t, map[string]string{"API_DOCS_FILE": buildLiveDocs(t, routesOnly(t)), "WEBHOOKS_ALLOW_LOOPBACK": "true"})

	var mu sync.Mutex
	var received []string
	var bodies [][]byte
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		received = append(received, r.Header.Get("webhook-id"))
		bodies = append(bodies, body)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	queues := runLocalFunctions(t, s.p, "event-fanout", "webhook-delivery", "file-processing")
	s.mu.Lock()
	s.settle = func() { waitQueuesEmpty(t, s.p, queues) }
	s.mu.Unlock()

	sdk := liveSDK(t, s, sdkgen.Postman)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, newman, "run", sdk, "--env-var", "baseUrl="+s.baseURL, "--env-var", "apiKey="+s.admin,
		"--env-var", "callbackUrl="+receiver.URL+"/hook", "--disable-unicode", "--color", "off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "newman reported failures:\n%s", out)
	require.Contains(t, string(out), "createApiKey rejects an unknown field", "the collection checks problem responses")
	require.NotContains(t, string(out), "AssertionError")
	for _, r := range s.p.app.registry.Routes() {
		require.Contains(t, string(out), r.OperationID, "the collection runs %s", r.ID())
	}
	mu.Lock()
	require.Len(t, received, 2, "the receiver gets the test event and its redelivery")
	require.Equal(t, received[0], received[1], "a redelivery keeps the webhook-id")
	requireMatchesEventSchema(t, s.p, "WebhookTestEvent", bodies[0])
	mu.Unlock()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "requests") || strings.Contains(line, "assertions") {
			t.Log(strings.TrimSpace(line))
		}
	}
}

// requireMatchesEventSchema checks a delivered body against the envelope
// schema the OpenAPI document lists under x-webhooks, with every object
// closed, so a field the schema lacks fails too.
func requireMatchesEventSchema(t *testing.T, p *testPlatform, schema string, body []byte) {
	t.Helper()
	doc, err := openapi.Generate(p.app.registry, openapi.Options{Events: events.OpenAPITypes()})
	require.NoError(t, err)
	closeObjectSchemas(doc)
	ref, ok := doc.Components.Schemas[schema]
	require.True(t, ok, "component schema %s missing", schema)
	var value any
	require.NoError(t, json.Unmarshal(body, &value))
	require.NoError(t, ref.Value.VisitJSON(value), "delivered body: %s", body)
}

// waitQueuesEmpty waits until the local queues hold no message that is
// not dead-lettered. The deadline only bounds a hang: a message still
// there after it fails the test.
func waitQueuesEmpty(t *testing.T, p *testPlatform, queues []string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := p.app.pool.QueryRow(context.Background(),
			`SELECT count(*) FROM queue_messages WHERE queue = ANY($1) AND dead_lettered_at IS NULL`, queues).Scan(&n)
		if err != nil {
			t.Errorf("count queued messages: %v", err)
			return
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d messages still queued in %v after 30s", n, queues)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

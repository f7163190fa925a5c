package discovery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/shared/discovery"
	"github.com/booga-enterprise/functions/shared/openapi"
	"github.com/booga-enterprise/functions/shared/openapi/openapitest"
	"github.com/booga-enterprise/functions/shared/registry"
)

func newRegistry(docsFile string) *registry.Registry {
	reg := registry.New()
	openapitest.NewStore(time.Now).Register(reg)
	discovery.Register(reg, discovery.Options{DocsFile: docsFile})
	return reg
}

// buildDocs runs Redocly build-docs over the combined document.
func buildDocs(t *testing.T) string {
	t.Helper()
	redocly := openapitest.NPMTool(t, "redocly", "redocly")
	dir := t.TempDir()
	spec, err := openapi.Build(newRegistry(""), openapi.Options{}, openapi.FormatYAML)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "openapi.yaml"), spec, 0o644))
	out := filepath.Join(dir, "docs.html")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, redocly, "build-docs", filepath.Join(dir, "openapi.yaml"), "--output", out)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true")
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "redocly build-docs failed:\n%s", msg)
	return out
}

type call struct {
	method, path string
	body         string
	key          string // "" sends the test key; "-" sends none
	want         int
}

// TestContract_EveryEndpoint sends a representative request to every route,
// errors included, and validates each response against the OpenAPI document.
func TestContract_EveryEndpoint(t *testing.T) {
	reg := newRegistry(buildDocs(t))
	srv := openapitest.NewServer(t, reg)
	doc, err := openapi.Generate(reg, openapi.Options{})
	require.NoError(t, err)
	contract := openapitest.NewContract(t, doc, srv.BaseURL())

	do := func(c call) []byte {
		t.Helper()
		var body *bytes.Reader
		if c.body != "" {
			body = bytes.NewReader([]byte(c.body))
		} else {
			body = bytes.NewReader(nil)
		}
		req, err := http.NewRequest(c.method, srv.BaseURL()+c.path, body)
		require.NoError(t, err)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		switch c.key {
		case "":
			req.Header.Set("Authorization", "Bearer "+openapitest.APIKey)
		case "-":
		default:
			req.Header.Set("X-API-Key", c.key)
		}
		status, out := contract.Do(t, req)
		require.Equal(t, c.want, status, "%s %s: %s", c.method, c.path, out)
		return out
	}

	created := do(call{method: "POST", path: "/api-management/keys", body: `{"name":"contract","scopes":["api_keys:read"]}`, want: 201})
	var key struct{ ID string }
	require.NoError(t, json.Unmarshal(created, &key))
	do(call{method: "POST", path: "/api-management/keys", body: `{"name":"second","scopes":["api_keys:read"]}`, want: 201})

	calls := []call{
		{method: "POST", path: "/api-management/keys", body: `{"name":"","scopes":[]}`, want: 422},
		{method: "POST", path: "/api-management/keys", body: `{"name":"x","scopes":["a:b"],"bogus":1}`, want: 400},
		{method: "GET", path: "/api-management/keys?limit=1", want: 200},
		{method: "GET", path: "/api-management/keys?limit=0", want: 422},
		{method: "GET", path: "/api-management/keys?cursor=!!", want: 400},
		{method: "GET", path: "/api-management/keys", key: "-", want: 401},
		{method: "GET", path: "/api-management/keys", key: "wrong", want: 401},
		{method: "GET", path: "/api-management/keys/current", want: 200},
		{method: "GET", path: "/api-management/keys/" + key.ID, want: 200},
		{method: "GET", path: "/api-management/keys/key_missing", want: 404},
		{method: "PATCH", path: "/api-management/keys/" + key.ID, body: `{"name":"renamed"}`, want: 200},
		{method: "PATCH", path: "/api-management/keys/" + key.ID, body: `{"status":"active"}`, want: 422},
		{method: "POST", path: "/api-management/keys/" + key.ID + "/rotate", want: 200},
		{method: "GET", path: "/api-management/usage?hours=2", want: 200},
		{method: "DELETE", path: "/api-management/keys/" + key.ID, want: 204},
		{method: "DELETE", path: "/api-management/keys/" + key.ID, want: 404},
		{method: "GET", path: "/health", key: "-", want: 200},
		{method: "GET", path: "/api-management/endpoints?limit=3", want: 200},
		{method: "GET", path: "/api-management/endpoints?plugin=health&method=GET", want: 200},
		{method: "GET", path: "/api-management/endpoints?plugin=nope", want: 404},
		{method: "GET", path: "/api-management/endpoints?method=TRACE", want: 422},
		{method: "GET", path: "/api-management/endpoints/listApiKeys", want: 200},
		{method: "GET", path: "/api-management/endpoints/noSuchOperation", want: 404},
		{method: "GET", path: "/api-management/openapi-schema", want: 200},
		{method: "GET", path: "/api-management/openapi-schema?plugin=api-management&format=yaml", want: 200},
		{method: "GET", path: "/api-management/openapi-schema?plugin=nope", want: 404},
		{method: "GET", path: "/api-management/openapi-schema?format=xml", want: 422},
		{method: "GET", path: "/api-management/sdks/python", want: 200},
		{method: "GET", path: "/api-management/sdks/cobol", want: 404},
		{method: "GET", path: "/api-management/docs", key: "-", want: 200},
	}
	exercised := map[string]bool{}
	router := doc.Paths
	for _, c := range calls {
		do(c)
		path, _, _ := strings.Cut(c.path, "?")
		for tmpl, item := range router.Map() {
			if item.GetOperation(c.method) != nil && matchTemplate(tmpl, path) {
				exercised[item.GetOperation(c.method).OperationID] = true
			}
		}
	}
	for _, r := range reg.Routes() {
		require.True(t, exercised[r.OperationID] || r.OperationID == "createApiKey", "no contract request for %s", r.ID())
	}
}

func matchTemplate(tmpl, path string) bool {
	a, b := strings.Split(tmpl, "/"), strings.Split(path, "/")
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.HasPrefix(a[i], "{") && a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDiscovery_ValidValuesInProblems(t *testing.T) {
	t.Parallel()
	srv := openapitest.NewServer(t, newRegistry(""))
	get := func(path string) map[string]any {
		req, err := http.NewRequest("GET", srv.BaseURL()+path, nil)
		require.NoError(t, err)
		req.Header.Set("X-API-Key", openapitest.APIKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return out
	}
	t.Run("UnknownPlugin", func(t *testing.T) {
		p := get("/api-management/openapi-schema?plugin=nope")
		require.Equal(t, float64(404), p["status"])
		require.Equal(t, `No plugin "nope" has endpoints; valid plugins: api-management, health.`, p["detail"])
	})
	t.Run("UnknownLanguage", func(t *testing.T) {
		p := get("/api-management/sdks/cobol")
		require.Equal(t, float64(404), p["status"])
		require.Equal(t, `No SDK for language "cobol"; valid languages: curl, javascript, postman, python, typescript.`, p["detail"])
	})
	t.Run("DocsNotBuilt", func(t *testing.T) {
		p := get("/api-management/docs")
		require.Equal(t, float64(503), p["status"])
	})
}

func TestDiscovery_ListPagesAndFilters(t *testing.T) {
	t.Parallel()
	reg := newRegistry("")
	srv := openapitest.NewServer(t, reg)
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 20, "pagination ends")
		req, err := http.NewRequest("GET", srv.BaseURL()+"/api-management/endpoints?limit=4&cursor="+cursor, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+openapitest.APIKey)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var page struct {
			Data       []discovery.Endpoint `json:"data"`
			NextCursor string               `json:"next_cursor"`
			HasMore    bool                 `json:"has_more"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
		resp.Body.Close()
		for _, e := range page.Data {
			ids = append(ids, e.ID)
		}
		if !page.HasMore {
			break
		}
		cursor = page.NextCursor
	}
	require.Len(t, ids, len(reg.Routes()), "every endpoint once")
	require.IsIncreasing(t, ids)

	req, err := http.NewRequest("GET", srv.BaseURL()+"/api-management/endpoints?capability=endpoints:read&method=GET", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+openapitest.APIKey)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var page struct{ Data []discovery.Endpoint }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&page))
	require.Len(t, page.Data, 4, "four keyed discovery routes")
	for _, e := range page.Data {
		require.Equal(t, "endpoints:read", e.Capability)
	}
}

func TestPersist_Idempotent(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t)
	ctx := context.Background()
	reg := newRegistry("")
	require.NoError(t, discovery.Persist(ctx, pool, reg))
	var count int
	var stamp time.Time
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), max(updated_at) FROM api_endpoints WHERE retired_at IS NULL").Scan(&count, &stamp))
	require.Equal(t, len(reg.Routes()), count)

	require.NoError(t, discovery.Persist(ctx, pool, reg), "second run")
	var again time.Time
	require.NoError(t, pool.QueryRow(ctx, "SELECT max(updated_at) FROM api_endpoints").Scan(&again))
	require.Equal(t, stamp, again, "an unchanged registry changes no row")

	smaller := registry.New()
	openapitest.NewStore(time.Now).Register(smaller)
	require.NoError(t, discovery.Persist(ctx, pool, smaller))
	var retired int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM api_endpoints WHERE retired_at IS NOT NULL").Scan(&retired))
	require.Equal(t, 5, retired, "the discovery routes are retired")

	require.NoError(t, discovery.Persist(ctx, pool, reg))
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM api_endpoints WHERE retired_at IS NOT NULL").Scan(&retired))
	require.Zero(t, retired, "registering them again revives them")
	var op, auth string
	require.NoError(t, pool.QueryRow(ctx, "SELECT operation_id, auth FROM api_endpoints WHERE id = 'GET /api-management/docs'").Scan(&op, &auth))
	require.Equal(t, "getApiDocs", op)
	require.Equal(t, "public", auth)
}

func TestCommand_Publish(t *testing.T) {
	t.Parallel()
	reg := newRegistry("")
	ctx := context.Background()
	t.Run("OpenAPIToFolder", func(t *testing.T) {
		dir := t.TempDir()
		var out bytes.Buffer
		require.NoError(t, discovery.Command(ctx, reg, []string{"openapi", "--out", dir}, &out))
		for _, name := range []string{"openapi.json", "openapi.yaml"} {
			body, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			require.Contains(t, string(body), "3.0.3")
		}
	})
	t.Run("PluginToStdout", func(t *testing.T) {
		var out bytes.Buffer
		require.NoError(t, discovery.Command(ctx, reg, []string{"openapi", "--plugin", "health", "--format", "yaml"}, &out))
		require.Contains(t, out.String(), "/health:")
		require.NotContains(t, out.String(), "/api-management/keys")
	})
	t.Run("SDK", func(t *testing.T) {
		dir := t.TempDir()
		var out bytes.Buffer
		require.NoError(t, discovery.Command(ctx, reg, []string{"sdk", "python", "--out", dir}, &out))
		require.FileExists(t, filepath.Join(dir, "booga_client.py"))
	})
	t.Run("BadInput", func(t *testing.T) {
		var out bytes.Buffer
		require.ErrorContains(t, discovery.Command(ctx, reg, []string{"sdk", "cobol"}, &out), `language "cobol" is not supported`)
		require.ErrorContains(t, discovery.Command(ctx, reg, []string{"openapi", "--plugin", "nope"}, &out), `plugin "nope" has no routes`)
		require.ErrorContains(t, discovery.Command(ctx, reg, []string{"openapi", "--format", "xml"}, &out), `format "xml" is not supported`)
		require.ErrorContains(t, discovery.Command(ctx, reg, nil, &out), "missing subcommand")
	})
}

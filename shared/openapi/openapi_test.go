package openapi_test

import (
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/shared/openapi"
	"github.com/booga-enterprise/functions/shared/openapi/openapitest"
	"github.com/booga-enterprise/functions/shared/registry"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/openapi")

type keyEventData struct {
	KeyID string `json:"key_id" example:"key_01j9z6y8q5m3v7k2n4p6r8t0w2"`
	Name  string `json:"name" example:"CI deploy key"`
}

func testEvents() []openapi.EventType {
	return []openapi.EventType{
		{Type: "api_key.revoked", Plugin: "api-management", Summary: "API key revoked", Description: "Sent when a key is revoked or deleted.", Payload: keyEventData{}, APIVersion: "2026-12-01"},
		{Type: "api_key.created", Plugin: "api-management", Summary: "API key created", Description: "Sent when a key is created.", Payload: keyEventData{}, APIVersion: "2026-12-01"},
	}
}

func testRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	reg := registry.New()
	openapitest.NewStore(time.Now).Register(reg)
	return reg
}

func schemaOf(t *testing.T, doc *openapi3.T, name string) *openapi3.Schema {
	t.Helper()
	ref, ok := doc.Components.Schemas[name]
	require.True(t, ok, "component schema %s missing", name)
	return ref.Value
}

func TestGenerate_ValidDocuments(t *testing.T) {
	t.Parallel()
	reg := testRegistry(t)
	for _, plugin := range append([]string{""}, openapi.Plugins(reg)...) {
		for _, format := range []openapi.Format{openapi.FormatJSON, openapi.FormatYAML} {
			out, err := openapi.Build(reg, openapi.Options{Plugin: plugin, Events: testEvents()}, format)
			require.NoError(t, err, "plugin %q", plugin)

			loader := openapi3.NewLoader()
			doc, err := loader.LoadFromData(out)
			require.NoError(t, err, "plugin %q %s does not load", plugin, format)
			require.NoError(t, doc.Validate(loader.Context), "plugin %q %s", plugin, format)
			require.Equal(t, "3.0.3", doc.OpenAPI)
		}
	}
}

func TestGenerate_EveryOperation(t *testing.T) {
	t.Parallel()
	reg := testRegistry(t)
	doc, err := openapi.Generate(reg, openapi.Options{})
	require.NoError(t, err)

	seen := 0
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			seen++
			where := method + " " + path
			require.NotEmpty(t, op.OperationID, where)
			require.NotNil(t, op.Security, "%s has no security requirement", where)
			route, ok := reg.ByOperation(op.OperationID)
			require.True(t, ok, where)
			errorCount, clientErrors := 0, 0
			for status, resp := range op.Responses.Map() {
				if status[0] == '4' || status[0] == '5' {
					errorCount++
					require.Contains(t, resp.Value.Content, "application/problem+json", "%s %s", where, status)
					require.Equal(t, "#/components/schemas/Problem", resp.Value.Content["application/problem+json"].Schema.Ref, "%s %s", where, status)
				}
				if status[0] == '4' {
					clientErrors++
				}
			}
			require.Positive(t, errorCount, "%s has no error response", where)
			if route.Auth == registry.AuthKey {
				require.Len(t, *op.Security, 2, "%s must accept both schemes", where)
				require.Equal(t, route.Capability, op.Extensions["x-capability"], where)
				require.GreaterOrEqual(t, clientErrors, 6, "%s lacks the common 4xx problems", where)
				require.NotNil(t, op.Responses.Value("429").Value.Headers["Retry-After"], "%s 429 lacks Retry-After", where)
			} else {
				require.Empty(t, *op.Security, "%s is public", where)
			}
		}
	}
	require.Equal(t, len(reg.Routes()), seen, "every route appears once")
}

func TestGenerate_Schemas(t *testing.T) {
	t.Parallel()
	doc, err := openapi.Generate(testRegistry(t), openapi.Options{Events: testEvents()})
	require.NoError(t, err)

	t.Run("KeyFields", func(t *testing.T) {
		key := schemaOf(t, doc, "Key")
		require.Equal(t, []string{"allowed_ips", "created_at", "id", "name", "prefix", "rate_limit_per_hour", "rate_limit_per_minute", "scopes", "status"}, key.Required)
		require.True(t, key.Properties["expires_at"].Value.Nullable, "pointer fields are nullable")
		require.Equal(t, "date-time", key.Properties["expires_at"].Value.Format)
		require.Equal(t, "date-time", key.Properties["created_at"].Value.Format)
		require.Equal(t, []any{"active", "expired", "revoked"}, key.Properties["status"].Value.Enum, "EnumValues becomes the enum")
		require.Equal(t, uint64(1), key.Properties["name"].Value.MinLength)
		require.Equal(t, uint64(100), *key.Properties["name"].Value.MaxLength)
		require.Equal(t, "Key id.", key.Properties["id"].Value.Description)
		require.Equal(t, []any{"api_keys:read"}, key.Properties["scopes"].Value.Example)
	})
	t.Run("EmbeddedStructFlattened", func(t *testing.T) {
		created := schemaOf(t, doc, "CreatedKey")
		require.Contains(t, created.Properties, "secret")
		require.Contains(t, created.Properties, "prefix")
		require.Contains(t, created.Required, "secret")
	})
	t.Run("OptionalRequestFields", func(t *testing.T) {
		req := schemaOf(t, doc, "CreateKeyRequest")
		require.Equal(t, []string{"name", "scopes"}, req.Required)
		require.Equal(t, uint64(1), req.Properties["scopes"].Value.MinItems)
		require.Equal(t, float64(1), *req.Properties["rate_limit_per_minute"].Value.Min)
	})
	t.Run("PageEnvelope", func(t *testing.T) {
		page := schemaOf(t, doc, "KeyPage")
		require.Equal(t, []string{"data", "has_more", "next_cursor"}, page.Required)
		require.Equal(t, "#/components/schemas/Key", page.Properties["data"].Value.Items.Ref)
		list := doc.Paths.Find("/api-management/keys").Get
		require.Equal(t, "cursor", list.Extensions["x-pagination"])
		require.NotNil(t, list.Parameters.GetByInAndName("query", "limit"))
		require.NotNil(t, list.Parameters.GetByInAndName("query", "cursor"))
	})
	t.Run("Idempotency", func(t *testing.T) {
		create := doc.Paths.Find("/api-management/keys").Post
		require.Equal(t, true, create.Extensions["x-idempotent"])
		require.NotNil(t, create.Parameters.GetByInAndName("header", "Idempotency-Key"))
		require.True(t, create.RequestBody.Value.Required)
	})
	t.Run("Problem", func(t *testing.T) {
		p := schemaOf(t, doc, "Problem")
		require.Equal(t, []string{"status", "title", "type"}, p.Required)
		require.Equal(t, "uri", p.Properties["type"].Value.Format)
		field := schemaOf(t, doc, "FieldError")
		require.Equal(t, []string{"field", "message"}, field.Required)
	})
	t.Run("Webhooks", func(t *testing.T) {
		hooks, ok := doc.Extensions["x-webhooks"].(map[string]any)
		require.True(t, ok, "x-webhooks is an object")
		require.Contains(t, hooks, "api_key.created")
		require.Contains(t, hooks, "api_key.revoked")
		event := schemaOf(t, doc, "ApiKeyCreatedEvent")
		require.Equal(t, []any{"api_key.created"}, event.Properties["type"].Value.Enum)
		require.Equal(t, "#/components/schemas/keyEventData", event.Properties["data"].Ref)
	})
}

func TestGenerate_PerPlugin(t *testing.T) {
	t.Parallel()
	reg := testRegistry(t)
	doc, err := openapi.Generate(reg, openapi.Options{Plugin: "health", Events: testEvents()})
	require.NoError(t, err)
	require.Len(t, doc.Paths.Map(), 1)
	require.NotNil(t, doc.Paths.Find("/health"))
	require.NotContains(t, doc.Extensions, "x-webhooks", "events of other plugins are left out")
	require.NotContains(t, doc.Components.Schemas, "Key", "schemas of other plugins are left out")
	require.Empty(t, doc.Components.Parameters, "unused shared parameters are left out")
}

func TestGenerate_BadInput(t *testing.T) {
	t.Parallel()
	t.Run("UnknownPlugin", func(t *testing.T) {
		_, err := openapi.Generate(testRegistry(t), openapi.Options{Plugin: "nope"})
		require.ErrorContains(t, err, `plugin "nope" has no routes; known plugins: api-management, health`)
	})
	t.Run("UnsupportedType", func(t *testing.T) {
		reg := registry.New()
		reg.Add(registry.Route{Plugin: "files", Method: "GET", Path: "/files/x", OperationID: "getX", Capability: "files:read",
			Summary: "s", Description: "d", Handler: func(w http.ResponseWriter, r *http.Request) error { return nil },
			Responses: map[int]registry.Response{200: {Description: "ok", Body: struct {
				C chan int `json:"c"`
			}{}}}})
		_, err := openapi.Generate(reg, openapi.Options{})
		require.ErrorContains(t, err, "has no JSON form")
	})
	t.Run("BadEventType", func(t *testing.T) {
		_, err := openapi.Generate(testRegistry(t), openapi.Options{Events: []openapi.EventType{{Type: "Created", Summary: "s", Description: "d"}}})
		require.ErrorContains(t, err, `event type "Created" must be dotted lower-case words`)
	})
	t.Run("BadTag", func(t *testing.T) {
		reg := registry.New()
		reg.Add(registry.Route{Plugin: "files", Method: "GET", Path: "/files/x", OperationID: "getX", Capability: "files:read",
			Summary: "s", Description: "d", Handler: func(w http.ResponseWriter, r *http.Request) error { return nil },
			Responses: map[int]registry.Response{200: {Description: "ok", Body: struct {
				N string `json:"n" maxLength:"ten"`
			}{}}}})
		_, err := openapi.Generate(reg, openapi.Options{})
		require.ErrorContains(t, err, `tag maxLength="ten": must be a whole number`)
	})
}

// TestEncode_Deterministic builds the documents twice from fresh registries
// and compares them with each other and with the golden files.
func TestEncode_Deterministic(t *testing.T) {
	t.Parallel()
	for _, format := range []openapi.Format{openapi.FormatJSON, openapi.FormatYAML} {
		first, err := openapi.Build(testRegistry(t), openapi.Options{Events: testEvents()}, format)
		require.NoError(t, err)
		second, err := openapi.Build(testRegistry(t), openapi.Options{Events: testEvents()}, format)
		require.NoError(t, err)
		require.Equal(t, string(first), string(second), "format %s", format)

		golden := filepath.Join(openapitest.RepoRoot(t), "testdata", "openapi", "harness."+string(format))
		if *update {
			require.NoError(t, os.WriteFile(golden, first, 0o644))
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "run go test ./shared/openapi -run TestEncode_Deterministic -update")
		require.Equal(t, string(want), string(first), "golden %s differs; rerun with -update if the change is intended", golden)
	}
}

// TestLint_Redocly lints the combined and every per-plugin document with the
// Redocly CLI recommended ruleset; testdata/openapi/redocly.yaml gives the
// reason for each rule it changes.
func TestLint_Redocly(t *testing.T) {
	reg := testRegistry(t)
	dir := t.TempDir()
	var files []string
	for _, plugin := range append([]string{""}, openapi.Plugins(reg)...) {
		out, err := openapi.Build(reg, openapi.Options{Plugin: plugin, Events: testEvents()}, openapi.FormatYAML)
		require.NoError(t, err)
		name := filepath.Join(dir, "openapi-"+strings.TrimPrefix(plugin+"-all", "-")+".yaml")
		if plugin != "" {
			name = filepath.Join(dir, "openapi-"+plugin+".yaml")
		}
		require.NoError(t, os.WriteFile(name, out, 0o644))
		files = append(files, name)
	}
	openapitest.LintRedocly(t, files...)
}

func BenchmarkGenerateCombined(b *testing.B) {
	reg := testRegistry(b)
	for b.Loop() {
		if _, err := openapi.Build(reg, openapi.Options{Events: testEvents()}, openapi.FormatYAML); err != nil {
			b.Fatal(err)
		}
	}
}

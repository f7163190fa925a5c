// Package discovery serves the registry to API consumers: the endpoint list,
// one endpoint's record, the OpenAPI documents, the SDKs and the HTML
// reference, all under /api/api-management/. Register adds the routes;
// Persist writes the registry to PostgreSQL; Command publishes the
// documents and SDKs from the command line.
//
// The JSON routes require the capability endpoints:read, separate from
// api_keys:read, so a key that only generates clients or checks the API
// surface cannot read the tenant's keys. The HTML reference is public,
// because a browser cannot send an API key header and the page contains
// nothing that the published OpenAPI document does not.
package discovery

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/gorilla/mux"

	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/openapi"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/sdkgen"
)

// Capability is the scope the discovery routes require.
const Capability = "endpoints:read"

const plugin = "api-management"

// Options configures the discovery routes.
type Options struct {
	// OpenAPI sets the served documents' servers, version and webhook
	// events; its Plugin field is ignored.
	OpenAPI openapi.Options
	// DocsFile is the HTML reference built by scripts/lib/openapi-docs.sh
	// (Redocly build-docs over the combined document). It is read once, at
	// the first request; when it is missing the docs route returns a 503 problem.
	DocsFile string
}

// Endpoint is one registered route as the discovery API shows it.
type Endpoint struct {
	ID          string   `json:"id" doc:"Stable endpoint id: method and path template." example:"GET /api-management/keys"`
	OperationID string   `json:"operation_id" doc:"OpenAPI operationId." example:"listApiKeys"`
	Plugin      string   `json:"plugin" doc:"Plugin (Azure Function) that serves the route." example:"api-management"`
	Method      string   `json:"method" enum:"GET,POST,PUT,PATCH,DELETE" doc:"HTTP method." example:"GET"`
	Path        string   `json:"path" doc:"Path template below /api." example:"/api-management/keys"`
	Auth        string   `json:"auth" enum:"api_key,public" doc:"api_key routes need a key holding capability; public routes need no credential." example:"api_key"`
	Capability  string   `json:"capability" doc:"Scope the key must hold; empty on public routes." example:"api_keys:read"`
	Summary     string   `json:"summary" doc:"One-line summary." example:"List API keys"`
	Description string   `json:"description" doc:"What the route does." example:"Lists the tenant's API keys, newest first."`
	Idempotent  bool     `json:"idempotent" doc:"Whether the route honours Idempotency-Key." example:"false"`
	Streaming   bool     `json:"streaming" doc:"Whether the response is streamed (server-sent events)." example:"false"`
	Errors      []int    `json:"errors" doc:"Problem statuses the route declares besides the common ones." example:"[409]"`
	Statuses    []int    `json:"statuses" doc:"Success statuses." example:"[200]"`
	Params      []string `json:"params" doc:"Names of its path, query and header parameters." example:"[\"id\"]"`
}

func endpointOf(r *registry.Route) Endpoint {
	e := Endpoint{ID: r.ID(), OperationID: r.OperationID, Plugin: r.Plugin, Method: r.Method, Path: r.Path,
		Auth: authName(r.Auth), Capability: r.Capability, Summary: r.Summary, Description: r.Description,
		Idempotent: r.Idempotent, Streaming: r.Streaming, Errors: append([]int{}, r.Errors...), Statuses: []int{}, Params: []string{}}
	sort.Ints(e.Errors)
	for s := range r.Responses {
		e.Statuses = append(e.Statuses, s)
	}
	sort.Ints(e.Statuses)
	for _, p := range r.Params {
		e.Params = append(e.Params, p.Name)
	}
	return e
}

// OpenAPIDocument is the schema placeholder of the served OpenAPI document.
type OpenAPIDocument map[string]any

type service struct {
	reg  *registry.Registry
	opts Options

	mu    sync.Mutex
	cache map[string][]byte // "spec/<plugin>/<format>" and "sdk/<language>"

	docsOnce sync.Once
	docs     []byte
	docsErr  error
}

// Register adds the discovery routes to reg. The handlers read reg when
// they are called, so routes registered after Register are served too.
func Register(reg *registry.Registry, opts Options) {
	s := &service{reg: reg, opts: opts, cache: map[string][]byte{}}
	methods := []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodGet, Path: "/api-management/endpoints", OperationID: "listEndpoints",
		Capability: Capability, Summary: "List endpoints",
		Description: "Lists every registered endpoint, sorted by id, optionally filtered by plugin, method and capability.",
		Params: []registry.Param{
			{Name: "plugin", In: "query", Type: "string", Description: "Only this plugin's endpoints; an unknown plugin is a 404 naming the valid ones.", Example: "api-management"},
			{Name: "method", In: "query", Type: "string", Enum: methods, Description: "Only endpoints with this HTTP method."},
			{Name: "capability", In: "query", Type: "string", Description: "Only endpoints that require this capability.", Example: "api_keys:read"},
		},
		Responses: map[int]registry.Response{200: {Description: "A page of endpoints.", Body: httpx.Page[Endpoint]{}}},
		Handler:   s.list})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodGet, Path: "/api-management/endpoints/{operation_id}", OperationID: "getEndpoint",
		Capability: Capability, Summary: "Get an endpoint", Description: "Returns one endpoint's record by its operation id.",
		Params:    []registry.Param{{Name: "operation_id", In: "path", Required: true, Type: "string", Description: "The endpoint's operationId.", Example: "listApiKeys"}},
		Responses: map[int]registry.Response{200: {Description: "The endpoint.", Body: Endpoint{}}},
		Handler:   s.get})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodGet, Path: "/api-management/openapi-schema", OperationID: "getOpenApiSchema",
		Capability: Capability, Summary: "Get the OpenAPI document",
		Description: "Returns the OpenAPI 3.0.3 document of one plugin, or of the whole API when plugin is absent, as JSON or YAML.",
		Params: []registry.Param{
			{Name: "plugin", In: "query", Type: "string", Description: "Only this plugin; an unknown plugin is a 404 naming the valid ones.", Example: "api-management"},
			{Name: "format", In: "query", Type: "string", Enum: []string{"json", "yaml"}, Default: "json", Description: "Serialisation of the document."},
		},
		Responses: map[int]registry.Response{200: {Description: "The OpenAPI document; application/yaml when format=yaml.",
			Body: OpenAPIDocument{}, ContentType: "application/json", ExtraContentTypes: []string{"application/yaml"}}},
		Handler: s.schema})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodGet, Path: "/api-management/sdks/{language}", OperationID: "getSdk",
		Capability: Capability, Summary: "Download a client SDK",
		Description: "Returns a client generated from the combined OpenAPI document, as one file: booga_client.py (Python, standard library only), " +
			"booga-client.ts (TypeScript, fetch), booga-client.mjs (JavaScript ES module), booga.sh (bash over curl) or " +
			"booga.postman_collection.json (Postman v2.1). An unknown language is a 404 naming the valid ones.",
		Params: []registry.Param{{Name: "language", In: "path", Required: true, Type: "string", Enum: sdkgen.LanguageNames(),
			Description: "SDK language.", Example: "python"}},
		Responses: map[int]registry.Response{200: {Description: "The SDK file, as an attachment named in Content-Disposition.", ContentType: "application/octet-stream"}},
		Handler:   s.sdk})
	reg.Add(registry.Route{Plugin: plugin, Method: http.MethodGet, Path: "/api-management/docs", OperationID: "getApiDocs",
		Auth: registry.AuthPublic, Summary: "Read the API reference",
		Description: "Returns the HTML API reference built from the combined OpenAPI document with Redocly.", Errors: []int{503},
		Responses: map[int]registry.Response{200: {Description: "The HTML page.", ContentType: "text/html"}},
		Handler:   s.docsPage})
}

func (s *service) list(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	pluginFilter, method, capability := q.Get("plugin"), q.Get("method"), q.Get("capability")
	if pluginFilter != "" {
		if err := s.checkPlugin(pluginFilter); err != nil {
			return err
		}
	}
	if method != "" && !strings.Contains(" GET POST PUT PATCH DELETE ", " "+method+" ") {
		return problem.Invalid(problem.FieldError{Field: "method", Code: "enum", Message: "must be GET, POST, PUT, PATCH or DELETE, got " + fmt.Sprintf("%q", method)})
	}
	var rows []Endpoint
	for _, route := range s.reg.Routes() {
		e := endpointOf(route)
		if (pluginFilter != "" && e.Plugin != pluginFilter) || (method != "" && e.Method != method) ||
			(capability != "" && e.Capability != capability) || (page.After != "" && e.ID <= page.After) {
			continue
		}
		rows = append(rows, e)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	if len(rows) > page.Limit+1 {
		rows = rows[:page.Limit+1]
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.NewPage(rows, page, func(e Endpoint) string { return e.ID }))
	return nil
}

func (s *service) get(w http.ResponseWriter, r *http.Request) error {
	id := pathValue(r, "operation_id")
	route, ok := s.reg.ByOperation(id)
	if !ok {
		return problem.NotFound("endpoint", id)
	}
	httpx.WriteJSON(w, http.StatusOK, endpointOf(route))
	return nil
}

func (s *service) checkPlugin(name string) error {
	known := openapi.Plugins(s.reg)
	for _, p := range known {
		if p == name {
			return nil
		}
	}
	return problem.New(problem.CodeNotFound, "No plugin %q has endpoints; valid plugins: %s.", name, strings.Join(known, ", "))
}

func (s *service) schema(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	pluginName := q.Get("plugin")
	if pluginName != "" {
		if err := s.checkPlugin(pluginName); err != nil {
			return err
		}
	}
	format := openapi.FormatJSON
	if raw := q.Get("format"); raw != "" {
		f, err := openapi.ParseFormat(raw)
		if err != nil {
			return problem.Invalid(problem.FieldError{Field: "format", Code: "enum", Message: fmt.Sprintf("must be json or yaml, got %q", raw)})
		}
		format = f
	}
	body, err := s.cached("spec/"+pluginName+"/"+string(format), func() ([]byte, error) {
		opts := s.opts.OpenAPI
		opts.Plugin = pluginName
		return openapi.Build(s.reg, opts, format)
	})
	if err != nil {
		return problem.Wrap(err, "generate OpenAPI document for plugin %q", pluginName)
	}
	w.Header().Set("Content-Type", format.ContentType())
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(body)
	return nil
}

func (s *service) sdk(w http.ResponseWriter, r *http.Request) error {
	name := pathValue(r, "language")
	lang, err := sdkgen.ParseLanguage(name)
	if err != nil {
		return problem.New(problem.CodeNotFound, "No SDK for language %q; valid languages: %s.", name, strings.Join(sdkgen.LanguageNames(), ", "))
	}
	body, err := s.cached("sdk/"+name, func() ([]byte, error) {
		doc, err := openapi.Generate(s.reg, s.opts.OpenAPI)
		if err != nil {
			return nil, err
		}
		f, err := sdkgen.Generate(doc, lang)
		return f.Content, err
	})
	if err != nil {
		return problem.Wrap(err, "generate %s SDK", name)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+sdkFileNames[lang]+`"`)
	_, _ = w.Write(body)
	return nil
}

var sdkFileNames = map[sdkgen.Language]string{
	sdkgen.Python: "booga_client.py", sdkgen.TypeScript: "booga-client.ts", sdkgen.JavaScript: "booga-client.mjs",
	sdkgen.Curl: "booga.sh", sdkgen.Postman: "booga.postman_collection.json",
}

func (s *service) docsPage(w http.ResponseWriter, r *http.Request) error {
	s.docsOnce.Do(func() {
		if s.opts.DocsFile == "" {
			s.docsErr = fmt.Errorf("no DocsFile configured")
			return
		}
		s.docs, s.docsErr = os.ReadFile(s.opts.DocsFile)
	})
	if s.docsErr != nil {
		return &problem.Error{Code: problem.CodeUnavailable, Err: s.docsErr,
			Detail: "The API reference page has not been built; read the OpenAPI document at /api/api-management/openapi-schema instead."}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(s.docs)
	return nil
}

// cached returns the bytes stored under key, building them once. Documents
// depend only on the registry, which does not change after start-up.
func (s *service) cached(key string, build func() ([]byte, error)) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.cache[key]; ok {
		return b, nil
	}
	b, err := build()
	if err != nil {
		return nil, err
	}
	s.cache[key] = b
	return b, nil
}

// pathValue reads a path variable from gorilla/mux, or from net/http's
// PathValue when the request was routed by a ServeMux pattern.
func pathValue(r *http.Request, name string) string {
	if v, ok := mux.Vars(r)[name]; ok {
		return v
	}
	return r.PathValue(name)
}

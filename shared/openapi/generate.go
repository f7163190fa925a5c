package openapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/registry"
)

// Version is the OpenAPI version of every generated document.
const Version = "3.0.3"

// DefaultServer is the server URL used when Options.Servers is empty. It is
// relative, so it resolves against the host that serves the document.
const DefaultServer = "/api"

// Options configures one generated document.
type Options struct {
	// Plugin limits the document to one plugin's routes and events; empty
	// means the combined document.
	Plugin string
	// APIVersion is info.version; empty means "1.0.0".
	APIVersion string
	// Servers are the base URLs, each ending in /api; empty means DefaultServer.
	Servers []string
	// Events are the webhook event types described under x-webhooks.
	Events []EventType
}

// EventType is one webhook event the platform sends to subscribers.
type EventType struct {
	Type        string // dotted name such as "api_key.created"
	Plugin      string // the plugin whose changes emit it
	Summary     string
	Description string
	Payload     any // a value of the event's data type, for schema generation
	// APIVersion is the api_version new deliveries carry, shown as the
	// example; a redelivery resends the stored payload with its own.
	APIVersion string
}

// Plugins returns the plugins that have at least one route, sorted.
func Plugins(reg *registry.Registry) []string {
	seen := map[string]bool{}
	for _, r := range reg.Routes() {
		seen[r.Plugin] = true
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Build generates a document and encodes it in format.
func Build(reg *registry.Registry, opts Options, format Format) ([]byte, error) {
	doc, err := Generate(reg, opts)
	if err != nil {
		return nil, err
	}
	return Encode(doc, format)
}

// Generate builds the document for opts.Plugin (or every plugin) and
// validates it with kin-openapi. It fails on an unknown plugin, on a Go type
// that has no JSON schema, and on two types that would share a schema name.
func Generate(reg *registry.Registry, opts Options) (*openapi3.T, error) {
	routes := reg.Routes()
	if opts.Plugin != "" {
		var mine []*registry.Route
		for _, r := range routes {
			if r.Plugin == opts.Plugin {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			return nil, fmt.Errorf("plugin %q has no routes; known plugins: %s", opts.Plugin, strings.Join(Plugins(reg), ", "))
		}
		routes = mine
	}

	g := &generator{schemas: newSchemaSet(), used: map[string]bool{}}
	g.schemas.byType[reflect.TypeFor[problem.Details]()] = "Problem"
	g.schemas.byName["Problem"] = reflect.TypeFor[problem.Details]()
	problemSchema, err := g.schemas.structSchema(reflect.TypeFor[problem.Details]())
	if err != nil {
		return nil, err
	}
	describeProblem(problemSchema)
	g.schemas.schemas["Problem"] = openapi3.NewSchemaRef("", problemSchema)

	doc := &openapi3.T{
		OpenAPI: Version,
		Info:    info(opts),
		Paths:   openapi3.NewPathsWithCapacity(len(routes)),
	}
	servers := opts.Servers
	if len(servers) == 0 {
		servers = []string{DefaultServer}
	}
	for _, s := range servers {
		doc.Servers = append(doc.Servers, &openapi3.Server{URL: s, Description: "Platform API"})
	}

	tags := map[string]bool{}
	for _, r := range routes {
		op, err := g.operation(r)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", r.ID(), err)
		}
		path := openAPIPath(r.Path)
		item := doc.Paths.Value(path)
		if item == nil {
			item = &openapi3.PathItem{}
			doc.Paths.Set(path, item)
		}
		item.SetOperation(r.Method, op)
		tags[r.Plugin] = true
	}

	webhooks, err := g.webhooks(opts)
	if err != nil {
		return nil, err
	}
	if len(webhooks) > 0 {
		doc.Extensions = map[string]any{"x-webhooks": webhooks}
		tags[webhookTag] = true
	}

	for _, name := range sortedKeys(tags) {
		doc.Tags = append(doc.Tags, &openapi3.Tag{Name: name, Description: tagDescription(name)})
	}
	doc.Components = g.components()

	return resolve(doc)
}

// resolve reloads the built document through kin-openapi's loader, which
// resolves every $ref (so callers can read referenced schemas), and
// validates the result.
func resolve(doc *openapi3.T) (*openapi3.T, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode OpenAPI document: %w", err)
	}
	loader := openapi3.NewLoader()
	loaded, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, fmt.Errorf("load generated OpenAPI document: %w", err)
	}
	if err := loaded.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("generated OpenAPI document is invalid: %w", err)
	}
	return loaded, nil
}

func info(opts Options) *openapi3.Info {
	title := "Booga Enterprise Functions API"
	if opts.Plugin != "" {
		title += ": " + opts.Plugin
	}
	version := opts.APIVersion
	if version == "" {
		version = "1.0.0"
	}
	return &openapi3.Info{
		Title:   title,
		Version: version,
		Description: "REST API of the Booga Enterprise Functions platform. Authenticate with an API key in " +
			"`Authorization: Bearer <key>` or `X-API-Key: <key>`; each operation names the key scope it requires " +
			"in x-capability. Errors are RFC 9457 problem details (application/problem+json). Lists use cursor " +
			"pagination: pass `next_cursor` back as `cursor` while `has_more` is true. Requests are rate limited " +
			"per key per minute and per hour; a 429 carries Retry-After in seconds.",
		License: &openapi3.License{Name: "Proprietary", URL: "https://docs.booga.dev/terms"},
	}
}

const webhookTag = "webhooks"

func tagDescription(name string) string {
	if name == webhookTag {
		return "Events the platform POSTs to subscribed webhook URLs, signed per the Standard Webhooks specification."
	}
	return "Operations of the " + name + " plugin."
}

// muxVar matches a gorilla/mux path variable with an optional pattern.
var muxVar = regexp.MustCompile(`\{([A-Za-z0-9_]+)(?::([^{}]*(?:\{[^{}]*\}[^{}]*)*))?\}`)

// openAPIPath returns path with gorilla/mux patterns removed: "/keys/{id:[a-z]+}" -> "/keys/{id}".
func openAPIPath(path string) string {
	return muxVar.ReplaceAllString(path, "{$1}")
}

// pathPatterns returns each path variable's gorilla/mux pattern, if any.
func pathPatterns(path string) map[string]string {
	out := map[string]string{}
	for _, m := range muxVar.FindAllStringSubmatch(path, -1) {
		if m[2] != "" {
			out[m[1]] = "^(?:" + m[2] + ")$"
		}
	}
	return out
}

type generator struct {
	schemas *schemaSet
	used    map[string]bool // "parameters/Limit", "responses/NotFound", "headers/RateLimit", ...
}

func (g *generator) use(kind, name string) string {
	g.used[kind+"/"+name] = true
	return "#/components/" + kind + "/" + name
}

func (g *generator) operation(r *registry.Route) (*openapi3.Operation, error) {
	op := &openapi3.Operation{
		Tags:        []string{r.Plugin},
		Summary:     r.Summary,
		Description: r.Description,
		OperationID: r.OperationID,
		Extensions:  map[string]any{},
	}
	if r.Auth == registry.AuthKey {
		op.Security = openapi3.NewSecurityRequirements().
			With(openapi3.NewSecurityRequirement().Authenticate(g.scheme(schemeAPIKey))).
			With(openapi3.NewSecurityRequirement().Authenticate(g.scheme(schemeBearer)))
		op.Extensions["x-capability"] = r.Capability
		op.Description += "\n\nRequires an API key with the `" + r.Capability + "` scope."
	} else {
		op.Security = openapi3.NewSecurityRequirements()
		op.Description += "\n\nNeeds no credential."
	}

	params, err := g.parameters(r)
	if err != nil {
		return nil, err
	}
	op.Parameters = params

	body, err := g.requestBody(r)
	if err != nil {
		return nil, err
	}
	op.RequestBody = body

	responses, paginated, err := g.responses(r)
	if err != nil {
		return nil, err
	}
	op.Responses = responses
	if paginated {
		op.Extensions["x-pagination"] = "cursor"
		op.Parameters = g.addPageParams(op.Parameters)
	}
	if r.Idempotent {
		op.Extensions["x-idempotent"] = true
		op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Ref: g.use("parameters", "IdempotencyKey")})
	}
	if len(op.Extensions) == 0 {
		op.Extensions = nil
	}
	return op, nil
}

// requestBody describes r's JSON, multipart or raw body, or returns nil.
func (g *generator) requestBody(r *registry.Route) (*openapi3.RequestBodyRef, error) {
	body := openapi3.NewRequestBody().WithRequired(true)
	switch {
	case r.Request != nil:
		schema, err := g.schemas.ref(r.Request)
		if err != nil {
			return nil, fmt.Errorf("request body: %w", err)
		}
		body = body.WithDescription("JSON object; unknown fields are rejected with 400.").
			WithContent(openapi3.NewContentWithJSONSchemaRef(schema))
	case r.RequestBody == nil:
		return nil, nil
	case r.RequestBody.ContentType == registry.ContentTypeMultipart:
		schema, err := g.schemas.ref(r.RequestBody.Form)
		if err != nil {
			return nil, fmt.Errorf("multipart request body: %w", err)
		}
		body = body.WithDescription(r.RequestBody.Description).
			WithContent(openapi3.Content{registry.ContentTypeMultipart: openapi3.NewMediaType().WithSchemaRef(schema)})
	default:
		schema := openapi3.NewStringSchema()
		schema.Format = "binary"
		media := openapi3.NewMediaType().WithSchema(schema)
		if r.RequestBody.Example != "" {
			media.Example = r.RequestBody.Example
		}
		body = body.WithDescription(r.RequestBody.Description).
			WithContent(openapi3.Content{r.RequestBody.ContentType: media})
	}
	return &openapi3.RequestBodyRef{Value: body}, nil
}

func (g *generator) parameters(r *registry.Route) (openapi3.Parameters, error) {
	patterns := pathPatterns(r.Path)
	var out openapi3.Parameters
	for _, p := range r.Params {
		schema := &openapi3.Schema{Format: p.Format, Default: p.Default, Example: p.Example}
		switch p.Type {
		case "", "string":
			schema.Type = &openapi3.Types{openapi3.TypeString}
		case "integer", "boolean", "number":
			schema.Type = &openapi3.Types{p.Type}
		default:
			return nil, fmt.Errorf("parameter %s: type %q must be string, integer, number or boolean", p.Name, p.Type)
		}
		for _, e := range p.Enum {
			schema.Enum = append(schema.Enum, e)
		}
		if p.Minimum != nil {
			v := float64(*p.Minimum)
			schema.Min = &v
		}
		if p.Maximum != nil {
			v := float64(*p.Maximum)
			schema.Max = &v
		}
		if p.In == "path" {
			schema.Pattern = patterns[p.Name]
		}
		param := &openapi3.Parameter{
			Name:        p.Name,
			In:          p.In,
			Description: p.Description,
			Required:    p.Required || p.In == "path",
			Schema:      openapi3.NewSchemaRef("", schema),
		}
		if param.Description == "" {
			return nil, fmt.Errorf("parameter %s has no Description", p.Name)
		}
		out = append(out, &openapi3.ParameterRef{Value: param})
	}
	return out, nil
}

// addPageParams adds the shared limit and cursor parameters unless the route
// declares its own.
func (g *generator) addPageParams(params openapi3.Parameters) openapi3.Parameters {
	for _, name := range []string{"limit", "cursor"} {
		if params.GetByInAndName("query", name) == nil {
			params = append(params, &openapi3.ParameterRef{Ref: g.use("parameters", pageParamNames[name])})
		}
	}
	return params
}

var pageParamNames = map[string]string{"limit": "Limit", "cursor": "Cursor"}

func (g *generator) responses(r *registry.Route) (*openapi3.Responses, bool, error) {
	out := openapi3.NewResponsesWithCapacity(len(r.Responses) + 8)
	paginated := false
	for _, status := range sortedKeys(r.Responses) {
		resp := r.Responses[status]
		value := openapi3.NewResponse().WithDescription(resp.Description)
		if resp.Description == "" {
			return nil, false, fmt.Errorf("response %d has no Description", status)
		}
		value.Headers = g.successHeaders(r.Auth)
		contentType := resp.ContentType
		if contentType == "" && resp.Body != nil {
			contentType = "application/json"
		}
		if contentType != "" {
			schema, err := g.schemas.ref(resp.Body)
			if err != nil {
				return nil, false, fmt.Errorf("response %d: %w", status, err)
			}
			if resp.Body == nil {
				schema = openapi3.NewSchemaRef("", openapi3.NewStringSchema())
			}
			value.Content = openapi3.Content{}
			for _, ct := range append([]string{contentType}, resp.ExtraContentTypes...) {
				value.Content[ct] = openapi3.NewMediaType().WithSchemaRef(schema)
			}
		}
		if status >= 200 && status < 300 && isPage(resp.Body) {
			paginated = true
		}
		out.Set(strconv.Itoa(status), &openapi3.ResponseRef{Value: value})
	}
	for _, status := range errorStatuses(r) {
		name, ok := problemResponseNames[status]
		if !ok {
			return nil, false, fmt.Errorf("error status %d has no problem response; use one of %v", status, sortedKeys(problemResponseNames))
		}
		out.Set(strconv.Itoa(status), &openapi3.ResponseRef{Ref: g.use("responses", name)})
	}
	return out, paginated, nil
}

// keyedErrors are the problem statuses every API-key route can return: bad
// input, missing or wrong credential, missing scope or blocked address,
// unknown row, invalid fields, rate limit and internal failure.
var keyedErrors = []int{400, 401, 403, 404, 422, 429, 500}

// publicErrors are the statuses every public route can return.
var publicErrors = []int{500}

func errorStatuses(r *registry.Route) []int {
	set := map[int]bool{}
	common := publicErrors
	if r.Auth == registry.AuthKey {
		common = keyedErrors
	}
	for _, s := range common {
		set[s] = true
	}
	for _, s := range r.Errors {
		set[s] = true
	}
	return sortedKeys(set)
}

// isPage reports whether v is the cursor page envelope {data, next_cursor, has_more}.
func isPage(v any) bool {
	if v == nil {
		return false
	}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return false
	}
	want := map[string]bool{"data": false, "next_cursor": false, "has_more": false}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if _, ok := want[name]; ok {
			want[name] = true
		}
	}
	for _, found := range want {
		if !found {
			return false
		}
	}
	return true
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Package registry is the single source of truth for the HTTP API: every route
// is registered once with its metadata, and routing, scope checks, discovery
// and OpenAPI all read that registration.
package registry

import (
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
)

// HandlerFunc serves one route. A returned error becomes a problem response;
// a nil error means the handler wrote its response.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Auth is the authentication mode of a route.
type Auth int

// Authentication modes.
const (
	AuthKey    Auth = iota // API key or user token, checked against Capability
	AuthPublic             // no credential (health, public share links)
)

// Param describes a path, query or header parameter.
type Param struct {
	Name        string
	In          string // "path", "query" or "header"
	Description string
	Required    bool
	Type        string // "string", "integer", "boolean"
	Format      string // "date-time", "uuid", ...
	Enum        []string
	Minimum     *int
	Maximum     *int
	Default     any
	Example     any
}

// Response describes one success response.
type Response struct {
	Description string
	Body        any // a value of the response type, for schema generation; nil for no body
	ContentType string
	// ExtraContentTypes are further media types the same response may be sent
	// as, chosen by a query parameter, with the schema of Body (a string
	// schema when Body is nil).
	ExtraContentTypes []string
}

// Media types of request bodies other than JSON.
const (
	ContentTypeMultipart = "multipart/form-data"
	ContentTypeBinary    = "application/octet-stream"
)

// RequestBody describes a request body that is not a JSON object.
type RequestBody struct {
	// ContentType is ContentTypeMultipart or ContentTypeBinary.
	ContentType string
	Description string
	// Form is a struct value whose fields are the multipart parts, in the
	// order the handler reads them; a []byte field tagged format:"binary"
	// is a file part. Only for ContentTypeMultipart.
	Form any
	// Example is sample content for generated requests, such as the
	// Postman collection's. Only for ContentTypeBinary.
	Example string
}

// Route is one registered endpoint. Path is relative to /api and uses
// gorilla/mux variables, such as "/api-management/keys/{id}".
type Route struct {
	Plugin      string
	Method      string
	Path        string
	OperationID string
	Capability  string // "<plugin>:<action>"; empty only with AuthPublic
	Auth        Auth
	Summary     string
	Description string
	Params      []Param
	Request     any // a value of the JSON request body type, or nil
	// RequestBody describes a multipart or raw body; Request must then be nil.
	RequestBody *RequestBody
	Responses   map[int]Response
	Errors      []int // problem statuses the route can return besides the common ones
	Idempotent  bool  // honours Idempotency-Key (POST only)
	// KeyManagement marks API-key endpoints, which developer tenants may not use.
	KeyManagement bool
	// Streaming routes write straight to the client instead of through the
	// buffered writer that lets the transaction commit before any byte is sent.
	Streaming bool
	Handler   HandlerFunc
}

// ID returns the route's stable endpoint id, such as "GET /api-management/keys/{id}".
func (r *Route) ID() string { return r.Method + " " + r.Path }

// Registry holds the routes of every plugin.
type Registry struct {
	routes []*Route
	byOp   map[string]*Route
}

// New returns an empty registry.
func New() *Registry { return &Registry{byOp: map[string]*Route{}} }

var (
	capabilityRE = regexp.MustCompile(`^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$`)
	operationRE  = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
)

// Add registers a route. It panics on incomplete metadata, because a route
// without it is a programming error that the tests must catch at start-up.
func (g *Registry) Add(r Route) {
	if err := r.validate(); err != nil {
		panic(fmt.Sprintf("registry: route %s %s: %v", r.Method, r.Path, err))
	}
	if _, dup := g.byOp[r.OperationID]; dup {
		panic("registry: duplicate operation id " + r.OperationID)
	}
	for _, existing := range g.routes {
		if existing.ID() == r.ID() {
			panic("registry: duplicate route " + r.ID())
		}
	}
	route := r
	g.routes = append(g.routes, &route)
	g.byOp[r.OperationID] = &route
}

func (r *Route) validate() error {
	switch {
	case r.Plugin == "":
		return fmt.Errorf("missing Plugin")
	case !strings.HasPrefix(r.Path, "/"+r.Plugin+"/") && r.Path != "/"+r.Plugin:
		return fmt.Errorf("path must start with /%s", r.Plugin)
	case r.Method == "":
		return fmt.Errorf("missing Method")
	case !operationRE.MatchString(r.OperationID):
		return fmt.Errorf("operation id %q must be lowerCamelCase", r.OperationID)
	case r.Summary == "" || r.Description == "":
		return fmt.Errorf("missing Summary or Description")
	case r.Handler == nil:
		return fmt.Errorf("missing Handler")
	case len(r.Responses) == 0:
		return fmt.Errorf("missing Responses")
	case r.Auth == AuthKey && !capabilityRE.MatchString(r.Capability):
		return fmt.Errorf("capability %q must look like plugin:action", r.Capability)
	case r.Auth == AuthKey && !KnownCapability(r.Capability):
		return fmt.Errorf("capability %q is not in the catalogue in capabilities.go", r.Capability)
	case r.Idempotent && r.Method != http.MethodPost:
		return fmt.Errorf("only POST routes take Idempotency-Key")
	}
	if err := r.RequestBody.validate(r.Request != nil); err != nil {
		return err
	}
	for _, name := range pathVars(r.Path) {
		found := false
		for _, p := range r.Params {
			if p.In == "path" && p.Name == name {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("path variable {%s} has no Param", name)
		}
	}
	return nil
}

func (b *RequestBody) validate(hasJSON bool) error {
	switch {
	case b == nil:
		return nil
	case hasJSON:
		return fmt.Errorf("set Request or RequestBody, not both")
	case b.Description == "":
		return fmt.Errorf("RequestBody has no Description")
	case b.ContentType == ContentTypeMultipart && b.Form == nil:
		return fmt.Errorf("a %s RequestBody needs Form", b.ContentType)
	case b.ContentType == ContentTypeBinary && b.Form != nil:
		return fmt.Errorf("a %s RequestBody has no Form", b.ContentType)
	case b.ContentType != ContentTypeMultipart && b.ContentType != ContentTypeBinary:
		return fmt.Errorf("RequestBody content type %q must be %s or %s", b.ContentType, ContentTypeMultipart, ContentTypeBinary)
	}
	return nil
}

func pathVars(path string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`\{([a-z_]+)(:[^}]*)?\}`).FindAllStringSubmatch(path, -1) {
		out = append(out, m[1])
	}
	return out
}

// Routes returns the routes sorted by path, then method.
func (g *Registry) Routes() []*Route {
	out := append([]*Route(nil), g.routes...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// ByOperation returns the route with the given operation id.
func (g *Registry) ByOperation(id string) (*Route, bool) {
	r, ok := g.byOp[id]
	return r, ok
}

// Capabilities returns every capability a key or role may hold: the whole
// catalogue, not only the capabilities of the routes built so far.
func (g *Registry) Capabilities() []string { return CapabilityNames() }

// Plugins lists the platform's HTTP plugins: each is one Azure Function.
var Plugins = []string{
	"agents", "analytics", "api-management", "chat", "files", "integrations",
	"knowledge", "organizations", "reports", "scheduler",
}

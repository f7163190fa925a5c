// Package sdkgen generates client SDKs from a generated OpenAPI document:
// Python (standard library only), TypeScript (fetch), JavaScript (ESM for
// Node 20 and browsers), a bash script over cURL, and a Postman v2.1
// collection.
//
// Every SDK sends the API key as a bearer token or in X-API-Key, follows
// next_cursor on operations marked x-pagination and turns problem responses
// into typed errors. It retries a 429 after the Retry-After delay, up to a
// set number of retries. On operations marked x-idempotent it sends an
// Idempotency-Key, generating one when the caller gives none and reusing it
// on retries. The output depends only on the document, so the same document
// gives byte-identical files.
package sdkgen

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"
)

// Language is an SDK target.
type Language string

// Supported languages.
const (
	Python     Language = "python"
	TypeScript Language = "typescript"
	JavaScript Language = "javascript"
	Curl       Language = "curl"
	Postman    Language = "postman"
)

// Languages returns every supported language in a fixed order.
func Languages() []Language {
	return []Language{Curl, JavaScript, Postman, Python, TypeScript}
}

// LanguageNames returns the supported language names, for error messages.
func LanguageNames() []string {
	var out []string
	for _, l := range Languages() {
		out = append(out, string(l))
	}
	return out
}

// ParseLanguage returns the language named s.
func ParseLanguage(s string) (Language, error) {
	for _, l := range Languages() {
		if string(l) == s {
			return l, nil
		}
	}
	return "", fmt.Errorf("language %q is not supported; use one of %s", s, strings.Join(LanguageNames(), ", "))
}

// File is one generated SDK file.
type File struct {
	Name        string // file name, such as "booga_client.py"
	ContentType string
	Content     []byte
}

// Generate builds the SDK for lang from doc, which must be a document from
// openapi.Generate (its $refs resolved).
func Generate(doc *openapi3.T, lang Language) (File, error) {
	api, err := newModel(doc)
	if err != nil {
		return File{}, err
	}
	switch lang {
	case Python:
		return File{Name: "booga_client.py", ContentType: "text/x-python; charset=utf-8", Content: pythonSDK(api)}, nil
	case TypeScript:
		return File{Name: "booga-client.ts", ContentType: "application/typescript; charset=utf-8", Content: typeScriptSDK(api)}, nil
	case JavaScript:
		return File{Name: "booga-client.mjs", ContentType: "text/javascript; charset=utf-8", Content: javaScriptSDK(api)}, nil
	case Curl:
		return File{Name: "booga.sh", ContentType: "application/x-sh; charset=utf-8", Content: curlSDK(api)}, nil
	case Postman:
		content, err := postmanSDK(api)
		if err != nil {
			return File{}, err
		}
		return File{Name: "booga.postman_collection.json", ContentType: "application/json", Content: content}, nil
	}
	return File{}, fmt.Errorf("language %q is not supported; use one of %s", lang, strings.Join(LanguageNames(), ", "))
}

// model is the part of the document the generators need.
type model struct {
	title      string
	version    string
	doc        *openapi3.T
	operations []*operation // sorted by operation id
}

type operation struct {
	ID            string
	Method        string
	Path          string // OpenAPI template, "/api-management/keys/{id}"
	Summary       string
	Tag           string
	Public        bool
	PathParams    []*param
	QueryParams   []*param
	Headers       []*param            // header parameters other than Idempotency-Key
	Body          *openapi3.SchemaRef // JSON request body
	Form          *openapi3.SchemaRef // multipart/form-data request body; binary properties are file parts
	Binary        bool                // application/octet-stream request body
	BinaryExample string              // sample bytes for the raw body, from x-example
	Success       int
	Successes     []int               // every documented 2xx status, Success first among them in ascending order
	Result        *openapi3.SchemaRef // schema of the success body, nil when there is none
	ResultText    bool                // success body is not JSON
	Paginated     bool
	Idempotent    bool
	Op            *openapi3.Operation
}

type param struct {
	Name     string
	Required bool
	Schema   *openapi3.SchemaRef
	Example  any
}

func newModel(doc *openapi3.T) (*model, error) {
	m := &model{title: doc.Info.Title, version: doc.Info.Version, doc: doc}
	paths := doc.Paths.Map()
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, path := range keys {
		for method, op := range paths[path].Operations() {
			o, err := newOperation(path, method, op)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			m.operations = append(m.operations, o)
		}
	}
	sort.Slice(m.operations, func(i, j int) bool { return m.operations[i].ID < m.operations[j].ID })
	return m, nil
}

func newOperation(path, method string, op *openapi3.Operation) (*operation, error) {
	if op.OperationID == "" {
		return nil, fmt.Errorf("operation has no operationId")
	}
	o := &operation{ID: op.OperationID, Method: method, Path: path, Summary: op.Summary, Op: op,
		Public: op.Security != nil && len(*op.Security) == 0}
	if len(op.Tags) > 0 {
		o.Tag = op.Tags[0]
	}
	o.Paginated = op.Extensions["x-pagination"] == "cursor"
	o.Idempotent = op.Extensions["x-idempotent"] == true
	for _, ref := range op.Parameters {
		p := ref.Value
		if p == nil {
			return nil, fmt.Errorf("parameter %s is not resolved", ref.Ref)
		}
		item := &param{Name: p.Name, Required: p.Required, Schema: p.Schema, Example: p.Example}
		if item.Example == nil && p.Schema != nil && p.Schema.Value != nil {
			item.Example = p.Schema.Value.Example
			if item.Example == nil {
				item.Example = p.Schema.Value.Default
			}
		}
		switch p.In {
		case "path":
			o.PathParams = append(o.PathParams, item)
		case "query":
			o.QueryParams = append(o.QueryParams, item)
		case "header":
			if !strings.EqualFold(p.Name, "Idempotency-Key") {
				o.Headers = append(o.Headers, item)
			}
		}
	}
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		content := op.RequestBody.Value.Content
		if mt := content.Get("application/json"); mt != nil {
			o.Body = mt.Schema
		} else if mt := content.Get("multipart/form-data"); mt != nil {
			o.Form = mt.Schema
		} else if mt := content.Get("application/octet-stream"); mt != nil {
			o.Binary = true
			if ex, ok := mt.Example.(string); ok {
				o.BinaryExample = ex
			}
		} else {
			return nil, fmt.Errorf("request body media types %v: use application/json, multipart/form-data or application/octet-stream", sortedContent(content))
		}
	}
	for code := 200; code < 300; code++ {
		if resp := op.Responses.Status(code); resp != nil && resp.Value != nil {
			o.Successes = append(o.Successes, code)
		}
	}
	for code := 200; code < 300; code++ {
		resp := op.Responses.Status(code)
		if resp == nil || resp.Value == nil {
			continue
		}
		o.Success = code
		if mt, ok := resp.Value.Content["application/json"]; ok {
			o.Result = mt.Schema
		} else if len(resp.Value.Content) > 0 {
			o.ResultText = true
		}
		break
	}
	if o.Success == 0 {
		return nil, fmt.Errorf("operation %s has no 2xx response", op.OperationID)
	}
	return o, nil
}

// words splits an identifier such as "listApiKeys", "key_id" or
// "Idempotency-Key" into lower-case words.
func words(s string) []string {
	var out []string
	var cur []rune
	runes := []rune(s)
	for i, r := range runes {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ':
			if len(cur) > 0 {
				out = append(out, string(cur))
				cur = nil
			}
			continue
		case unicode.IsUpper(r) && len(cur) > 0 && (unicode.IsLower(runes[i-1]) || (i+1 < len(runes) && unicode.IsLower(runes[i+1]))):
			out = append(out, string(cur))
			cur = nil
		}
		cur = append(cur, unicode.ToLower(r))
	}
	if len(cur) > 0 {
		out = append(out, string(cur))
	}
	return out
}

func snake(s string) string { return strings.Join(words(s), "_") }

func lowerCamel(s string) string {
	w := words(s)
	for i := 1; i < len(w); i++ {
		w[i] = strings.ToUpper(w[i][:1]) + w[i][1:]
	}
	return strings.Join(w, "")
}

func upperCamel(s string) string {
	c := lowerCamel(s)
	if c == "" {
		return c
	}
	return strings.ToUpper(c[:1]) + c[1:]
}

// methodRank orders requests so that a collection run creates before it
// reads, updates and finally deletes. PUT ranks with POST because it
// stores content that later POST actions consume, such as upload blocks.
func methodRank(method string) int {
	switch method {
	case http.MethodPost, http.MethodPut:
		return 0
	case http.MethodGet:
		return 1
	case http.MethodPatch:
		return 2
	case http.MethodDelete:
		return 3
	}
	return 4
}

// schemaName returns the component name of a $ref, or "".
func schemaName(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return ""
	}
	return strings.TrimPrefix(ref.Ref, "#/components/schemas/")
}

func sortedContent(c openapi3.Content) []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// formParts splits a multipart form schema's properties into text fields
// and file parts (format binary), each sorted by name.
func formParts(form *openapi3.SchemaRef) (fields, files []string) {
	if form == nil || form.Value == nil {
		return nil, nil
	}
	for _, name := range sortedKeysOf(form.Value.Properties) {
		p := form.Value.Properties[name]
		if p.Value != nil && p.Value.Format == "binary" {
			files = append(files, name)
		} else {
			fields = append(fields, name)
		}
	}
	return fields, files
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package sdkgen

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Postman collection v2.1 documents, reduced to the fields the generator sets.
type pmCollection struct {
	Info     pmInfo       `json:"info"`
	Auth     *pmAuth      `json:"auth,omitempty"`
	Event    []pmEvent    `json:"event,omitempty"`
	Variable []pmVariable `json:"variable"`
	Item     []pmItem     `json:"item"`
}

type pmInfo struct {
	PostmanID   string `json:"_postman_id"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Schema      string `json:"schema"`
}

type pmAuth struct {
	Type   string       `json:"type"`
	APIKey []pmVariable `json:"apikey,omitempty"`
}

type pmVariable struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Type  string `json:"type,omitempty"`
}

type pmEvent struct {
	Listen string   `json:"listen"`
	Script pmScript `json:"script"`
}

type pmScript struct {
	Type string   `json:"type"`
	Exec []string `json:"exec"`
}

type pmItem struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Item        []pmItem   `json:"item,omitempty"`
	Event       []pmEvent  `json:"event,omitempty"`
	Request     *pmRequest `json:"request,omitempty"`
}

type pmRequest struct {
	Method string       `json:"method"`
	Header []pmVariable `json:"header"`
	URL    pmURL        `json:"url"`
	Body   *pmBody      `json:"body,omitempty"`
	Auth   *pmAuth      `json:"auth,omitempty"`
}

type pmURL struct {
	Raw      string       `json:"raw"`
	Host     []string     `json:"host"`
	Path     []string     `json:"path"`
	Query    []pmVariable `json:"query,omitempty"`
	Variable []pmVariable `json:"variable,omitempty"`
}

type pmBody struct {
	Mode     string         `json:"mode"`
	Raw      string         `json:"raw,omitempty"`
	FormData []pmFormPart   `json:"formdata,omitempty"`
	Options  map[string]any `json:"options,omitempty"`
}

type pmFormPart struct {
	Key         string `json:"key"`
	Value       string `json:"value"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
}

func script(listen string, lines ...string) pmEvent {
	return pmEvent{Listen: listen, Script: pmScript{Type: "text/javascript", Exec: lines}}
}

// collectionTests run after every request: problem responses must be
// RFC 9457 documents, and a 429 is retried after Retry-After, up to 3 times,
// with the same Idempotency-Key.
var collectionTests = []string{
	`const code = pm.response.code;`,
	`if (code === 429) {`,
	`  const retries = Number(pm.collectionVariables.get("retries") || 0);`,
	`  if (retries < 3) {`,
	`    pm.collectionVariables.set("retries", String(retries + 1));`,
	`    const wait = Number(pm.response.headers.get("Retry-After") || 1);`,
	`    postman.setNextRequest(pm.info.requestName);`,
	`    setTimeout(() => {}, wait * 1000);`,
	`    return;`,
	`  }`,
	`}`,
	`pm.collectionVariables.set("retries", "0");`,
	`if (code >= 400) {`,
	`  pm.test("problem response is application/problem+json", () => {`,
	`    pm.expect(pm.response.headers.get("Content-Type")).to.include("application/problem+json");`,
	`    const problem = pm.response.json();`,
	`    pm.expect(problem.type).to.be.a("string");`,
	`    pm.expect(problem.title).to.be.a("string");`,
	`    pm.expect(problem.status).to.eql(code);`,
	`  });`,
	`}`,
	`pm.test("response carries X-Request-ID", () => pm.response.to.have.header("X-Request-ID"));`,
}

// collectionPreRequest keeps the Idempotency-Key of a request while it is
// being retried and makes a new one otherwise.
var collectionPreRequest = []string{
	`if (Number(pm.collectionVariables.get("retries") || 0) === 0) {`,
	`  pm.collectionVariables.set("idempotencyKey", pm.variables.replaceIn("{{$guid}}"));`,
	`}`,
}

func postmanSDK(api *model) ([]byte, error) {
	sum := sha256.Sum256([]byte(api.title + api.version))
	id := fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	c := pmCollection{
		Info: pmInfo{PostmanID: id, Name: api.title, Schema: "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
			Description: "Generated from the OpenAPI document (version " + api.version + "); do not edit. Set baseUrl (ending in /api) and apiKey, " +
				"and set callbackUrl to a receiver the platform can reach when a request body has a URL (webhook endpoints). " +
				"Folders run in order: each plugin's requests create, read, update and then delete; the last folder checks problem responses."},
		Auth: &pmAuth{Type: "apikey", APIKey: []pmVariable{
			{Key: "key", Value: "X-API-Key", Type: "string"}, {Key: "value", Value: "{{apiKey}}", Type: "string"}, {Key: "in", Value: "header", Type: "string"}}},
		Event:    []pmEvent{script("prerequest", collectionPreRequest...), script("test", collectionTests...)},
		Variable: []pmVariable{{Key: "baseUrl", Value: "http://localhost:7071/api"}, {Key: "apiKey", Value: ""}, {Key: "retries", Value: "0"}, {Key: "polls", Value: "0"}, {Key: "idempotencyKey", Value: ""}},
	}

	ops := append([]*operation(nil), api.operations...)
	sort.SliceStable(ops, func(i, j int) bool {
		if ops[i].Tag != ops[j].Tag {
			return ops[i].Tag < ops[j].Tag
		}
		ri, rj := methodRank(ops[i].Method), methodRank(ops[j].Method)
		if ri != rj {
			return ri < rj
		}
		if pi, pj := len(ops[i].PathParams) > 0, len(ops[j].PathParams) > 0; ri == 0 && pi != pj {
			return pj // create top-level resources before acting on them
		}
		if ri == 3 {
			return ops[i].Path > ops[j].Path // delete sub-resources first
		}
		return ops[i].Path < ops[j].Path
	})

	vars := map[string]string{}
	folders := map[string]*pmItem{}
	var order []string
	for _, step := range pmPlan(ops) {
		item, err := pmOperation(step, vars)
		if err != nil {
			return nil, fmt.Errorf("operation %s: %w", step.op.ID, err)
		}
		tag := step.op.Tag
		f, ok := folders[tag]
		if !ok {
			f = &pmItem{Name: tag, Description: "Operations of " + tag + "."}
			folders[tag] = f
			order = append(order, tag)
		}
		f.Item = append(f.Item, item)
	}
	for _, tag := range order {
		c.Item = append(c.Item, *folders[tag])
	}
	if problems := pmProblemChecks(api.operations); len(problems) > 0 {
		c.Item = append(c.Item, pmItem{Name: "problem responses", Description: "Requests that must fail with a problem document.", Item: problems})
	}
	for _, k := range sortedStrings(vars) {
		c.Variable = append(c.Variable, pmVariable{Key: k, Value: vars[k]})
	}

	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode Postman collection: %w", err)
	}
	return out.Bytes(), nil
}

func sortedStrings(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// pmRequestFor builds the request of op. A path variable listed in rename
// is replaced by the variable it maps to.
func pmRequestFor(op *operation, vars map[string]string, rename map[string]string) *pmRequest {
	req := &pmRequest{Method: op.Method, Header: []pmVariable{{Key: "Accept", Value: "application/json"}}}
	segments := strings.Split(strings.TrimPrefix(op.Path, "/"), "/")
	examples := map[string]any{}
	for _, p := range op.PathParams {
		examples[p.Name] = p.Example
	}

	for i, s := range segments {
		if strings.HasPrefix(s, "{") {
			name := strings.Trim(s, "{}")
			variable := pmPathVariable(segments[:i], name)
			if other, ok := rename[variable]; ok {
				variable = other
			}
			segments[i] = ":" + name
			req.URL.Variable = append(req.URL.Variable, pmVariable{Key: name, Value: "{{" + variable + "}}"})
			if _, ok := vars[variable]; !ok {
				vars[variable] = exampleString(examples[name])
			}
		}
	}

	req.URL.Host = []string{"{{baseUrl}}"}
	req.URL.Path = segments
	var query []string
	for _, p := range op.QueryParams {
		if p.Example == nil || p.Name == "cursor" {
			continue
		}
		v := exampleString(p.Example)
		req.URL.Query = append(req.URL.Query, pmVariable{Key: p.Name, Value: v})
		query = append(query, p.Name+"="+v)
	}
	req.URL.Raw = "{{baseUrl}}/" + strings.Join(segments, "/")
	if len(query) > 0 {
		req.URL.Raw += "?" + strings.Join(query, "&")
	}

	if op.Idempotent {
		req.Header = append(req.Header, pmVariable{Key: "Idempotency-Key", Value: "{{idempotencyKey}}"})
	}
	if op.Public {
		req.Auth = &pmAuth{Type: "noauth"}
	}
	return req
}

func pmOperation(step pmStep, vars map[string]string) (pmItem, error) {
	op := step.op
	req := pmRequestFor(op, vars, step.rename)
	if op.Body != nil {
		body, err := json.MarshalIndent(exampleValue(op.Body, 0, vars), "", "  ")
		if err != nil {
			return pmItem{}, err
		}
		req.Header = append(req.Header, pmVariable{Key: "Content-Type", Value: "application/json"})
		req.Body = &pmBody{Mode: "raw", Raw: string(body), Options: map[string]any{"raw": map[string]any{"language": "json"}}}
	}
	if op.Form != nil {
		req.Body = pmFormBody(op.Form)
	}
	if op.Binary {
		req.Header = append(req.Header, pmVariable{Key: "Content-Type", Value: "application/octet-stream"})
		req.Body = &pmBody{Mode: "raw", Raw: op.BinaryExample}
	}

	tests := []string{
		`if (pm.response.code === 429) return;`,
		fmt.Sprintf(`pm.test("%s answers %d", () => pm.response.to.have.status(%d));`, op.ID, op.Success, op.Success),
	}
	if len(op.Successes) > 1 {
		// Any documented 2xx passes; the body checks below apply to the first.
		codes := make([]string, len(op.Successes))
		for i, c := range op.Successes {
			codes[i] = strconv.Itoa(c)
		}
		list := strings.Join(codes, ", ")
		tests = []string{
			`if (pm.response.code === 429) return;`,
			fmt.Sprintf(`pm.test("%s responds with one of %s", () => pm.expect(pm.response.code).to.be.oneOf([%s]));`, op.ID, list, list),
			fmt.Sprintf(`if (pm.response.code !== %d) return;`, op.Success),
		}
	}
	if op.Result != nil && op.Result.Value != nil {
		tests = append(tests, `const body = pm.response.json();`)
		required := append([]string(nil), op.Result.Value.Required...)
		sort.Strings(required)
		for _, r := range required {
			tests = append(tests, fmt.Sprintf(`pm.test("body has %s", () => pm.expect(body).to.have.property(%q));`, r, r))
		}
		if op.Paginated {
			tests = append(tests,
				`pm.test("page envelope", () => { pm.expect(body.data).to.be.an("array"); pm.expect(body.has_more).to.be.a("boolean"); });`,
				`if (body.has_more) pm.test("next_cursor is set", () => pm.expect(body.next_cursor).to.be.a("string").and.not.empty);`)
		}
		tests = append(tests, pmCaptureTests(step.captures)...)
	}
	name := op.ID
	if step.name != "" {
		name = step.name
	}
	return pmItem{Name: name, Description: op.Summary + ": " + op.Method + " " + op.Path + ".",
		Event: []pmEvent{script("test", tests...)}, Request: req}, nil
}

// pmCaptureTests returns the test lines that store the captured fields of
// a success body. While a list that captures from its first item is empty,
// it is sent again, up to pmPolls times one second apart, because its items
// (webhook deliveries) are made in the background after an earlier request.
func pmCaptureTests(captures []pmCapture) []string {
	var lines []string
	for _, c := range captures {
		if !c.FromList {
			lines = append(lines, fmt.Sprintf(`if (body[%q] !== undefined) pm.collectionVariables.set(%q, body[%q]);`, c.Field, c.Variable, c.Field))
			continue
		}
		lines = append(lines,
			`if (body.data.length > 0) {`,
			fmt.Sprintf(`  pm.collectionVariables.set(%q, body.data[0][%q]);`, c.Variable, c.Field),
			`  pm.collectionVariables.set("polls", "0");`,
			`} else {`,
			`  const polls = Number(pm.collectionVariables.get("polls") || 0);`,
			fmt.Sprintf(`  if (polls < %d) {`, pmPolls),
			`    pm.collectionVariables.set("polls", String(polls + 1));`,
			`    postman.setNextRequest(pm.info.requestName);`,
			`    setTimeout(() => {}, 1000);`,
			`  }`,
			`}`)
	}
	return lines
}

// pmPolls is the maximum number of times a list that captures from its
// first item is sent again while it is empty.
const pmPolls = 10

// pmFormBody builds a multipart body from the form schema's examples: the
// text fields first, then each file part. A file part is sent as text so the
// collection runs without files on disk; switch its type to File in Postman
// to upload one.
func pmFormBody(form *openapi3.SchemaRef) *pmBody {
	fields, files := formParts(form)
	body := &pmBody{Mode: "formdata"}
	for _, name := range fields {
		p := form.Value.Properties[name]
		if p.Value == nil || p.Value.Example == nil {
			continue
		}
		body.FormData = append(body.FormData, pmFormPart{Key: name, Value: exampleString(p.Value.Example), Type: "text"})
	}
	for _, name := range files {
		body.FormData = append(body.FormData, pmFormPart{Key: name, Value: "Hello from the Postman collection.\n", Type: "text",
			Description: "File content; choose File as the type to upload a file from disk."})
	}
	return body
}

// pmProblemChecks builds requests that must be rejected: an unknown body
// field on each keyed POST without path parameters (400), and a keyed GET
// without credentials (401).
func pmProblemChecks(ops []*operation) []pmItem {
	var out []pmItem
	vars := map[string]string{}
	for _, op := range ops {
		if op.Public || op.Body == nil || op.Method != "POST" || len(op.PathParams) > 0 {
			continue
		}
		req := pmRequestFor(op, vars, nil)
		req.Header = append(req.Header, pmVariable{Key: "Content-Type", Value: "application/json"})
		req.Body = &pmBody{Mode: "raw", Raw: `{"unknown_field": true}`, Options: map[string]any{"raw": map[string]any{"language": "json"}}}
		out = append(out, pmItem{Name: op.ID + " rejects an unknown field", Request: req, Event: []pmEvent{script("test",
			`if (pm.response.code === 429) return;`,
			`pm.test("unknown field is a 400 naming the field", () => {`,
			`  pm.response.to.have.status(400);`,
			`  pm.expect(pm.response.json().errors[0].field).to.eql("unknown_field");`,
			`});`)}})
	}
	for _, op := range ops {
		if op.Public || op.Method != "GET" || len(op.PathParams) > 0 {
			continue
		}
		req := pmRequestFor(op, vars, nil)
		req.Auth = &pmAuth{Type: "noauth"}
		out = append(out, pmItem{Name: op.ID + " without a key", Request: req, Event: []pmEvent{script("test",
			`pm.test("missing key is a 401", () => pm.response.to.have.status(401));`)}})
		break
	}
	return out
}

// pmResourceVariable names the collection variable that stores the id of the
// last resource created in the collection named by segment ("roles" gives
// "roles_id"). One variable per collection keeps the ids of different
// resources apart.
func pmResourceVariable(segment string) string {
	return segment + "_id"
}

// pmPathVariable names the collection variable for the path parameter name
// that follows the segments before it. An "id" parameter is the id of the
// collection just before it (/roles/{id} uses roles_id); "<noun>_id" is the
// id of the plural collection (user_id uses users_id); any other parameter
// has a variable of its own name, set from its example.
func pmPathVariable(before []string, name string) string {
	if name == "id" && len(before) > 0 {
		return pmResourceVariable(before[len(before)-1])
	}
	if noun, ok := strings.CutSuffix(name, "_id"); ok {
		return pmResourceVariable(noun + "s")
	}
	return name
}

func exampleString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// exampleValue builds a request body from a schema: required properties and
// properties with an example, each from its example, default or type. A URL
// property (see pmURLProperty) is "{{callbackUrl}}", and the first such
// example becomes the variable's default in vars.
func exampleValue(ref *openapi3.SchemaRef, depth int, vars map[string]string) any {
	if ref == nil || ref.Value == nil || depth > 8 {
		return nil
	}
	s := ref.Value
	switch {
	case s.Example != nil:
		return s.Example
	case s.Default != nil:
		return s.Default
	case len(s.AllOf) == 1:
		return exampleValue(s.AllOf[0], depth+1, vars)
	case len(s.Enum) > 0:
		return s.Enum[0]
	case s.Type == nil:
		return nil
	}
	switch {
	case s.Type.Is(openapi3.TypeObject):
		out := map[string]any{}
		required := map[string]bool{}
		for _, r := range s.Required {
			required[r] = true
		}
		for name, p := range s.Properties {
			if !required[name] && (p.Value == nil || p.Value.Example == nil) {
				continue
			}
			if pmURLProperty(name, p) {
				if _, ok := vars[callbackURLVariable]; !ok {
					vars[callbackURLVariable] = exampleString(exampleValue(p, depth+1, vars))
				}
				out[name] = "{{" + callbackURLVariable + "}}"
				continue
			}
			out[name] = exampleValue(p, depth+1, vars)
		}
		return out
	case s.Type.Is(openapi3.TypeArray):
		return []any{exampleValue(s.Items, depth+1, vars)}
	case s.Type.Is(openapi3.TypeString):
		switch s.Format {
		case "date-time":
			return "2030-01-01T00:00:00Z"
		case "date":
			return "2030-01-01"
		}
		return strings.Repeat("x", max(int(s.MinLength), 7))
	case s.Type.Is(openapi3.TypeInteger), s.Type.Is(openapi3.TypeNumber):
		if s.Min != nil {
			return *s.Min
		}
		return 1
	case s.Type.Is(openapi3.TypeBoolean):
		return true
	}
	return nil
}

// callbackURLVariable names the collection variable sent in every URL
// property of a request body, such as a webhook endpoint's url. The platform
// calls that URL, so it must reach a receiver: its default is the schema's
// example, and a run sets it to a real receiver.
const callbackURLVariable = "callbackUrl"

// pmURLProperty reports whether the body property name contains a URL: a
// string with format uri, or named "url" or "..._url".
func pmURLProperty(name string, p *openapi3.SchemaRef) bool {
	if p.Value == nil || p.Value.Type == nil || !p.Value.Type.Is(openapi3.TypeString) {
		return false
	}
	return p.Value.Format == "uri" || name == "url" || strings.HasSuffix(name, "_url")
}

package openapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/registry"
)

// Security scheme names.
const (
	schemeAPIKey = "ApiKeyAuth"
	schemeBearer = "BearerAuth"
)

func (g *generator) scheme(name string) string {
	g.used["securitySchemes/"+name] = true
	return name
}

// problemResponseNames names the shared problem response of each status.
var problemResponseNames = map[int]string{
	400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
	405: "MethodNotAllowed", 409: "Conflict", 410: "Gone", 412: "PreconditionFailed",
	413: "PayloadTooLarge", 415: "UnsupportedMediaType", 422: "UnprocessableEntity",
	429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable",
}

var problemDescriptions = map[int]string{
	400: "The request is malformed: the body is not one JSON object, has an unknown field or a wrong type, or a cursor is invalid.",
	401: "The API key is missing, unknown, expired or revoked.",
	403: "The key lacks the required scope, the client address is not in the key's allow-list, or the tenant may not use this operation.",
	404: "No such resource exists for this tenant.",
	405: "The path exists but does not accept this method.",
	409: "The request conflicts with the current state of the resource.",
	410: "The resource existed but is gone.",
	412: "A precondition of the request failed.",
	413: "The request body is larger than the maximum.",
	415: "The request body is not application/json.",
	422: "One or more fields are invalid (see errors), or an Idempotency-Key was reused with a different request.",
	429: "The key exceeded its per-minute or per-hour request limit. Retry after the number of seconds in Retry-After.",
	500: "The platform failed to complete the request. Retry later or report the request id.",
	503: "A backing service is unavailable or the request timed out. Retry later.",
}

// rateHeaders are set on every response to an API-key request after the rate
// limiter has counted it.
var rateHeaders = []string{
	"X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute",
	"X-RateLimit-Limit-Hour", "X-RateLimit-Remaining-Hour",
	"RateLimit-Policy", "RateLimit",
}

var headerDefinitions = map[string]*openapi3.Header{
	"X-Request-ID": header("The request id: the caller's X-Request-ID when it is sane, otherwise a new one. Quote it when reporting a problem.",
		openapi3.NewStringSchema(), "req_01j9z6y8q5m3v7k2n4p6r8t0w2"),
	"X-Response-Time": header("Time the platform spent on the request, such as \"12ms\".",
		openapi3.NewStringSchema(), "12ms"),
	"X-RateLimit-Limit-Minute":     header("Requests this key may make per minute.", openapi3.NewIntegerSchema(), 600),
	"X-RateLimit-Remaining-Minute": header("Requests left in the current minute window.", openapi3.NewIntegerSchema(), 599),
	"X-RateLimit-Limit-Hour":       header("Requests this key may make per hour.", openapi3.NewIntegerSchema(), 20000),
	"X-RateLimit-Remaining-Hour":   header("Requests left in the current hour window.", openapi3.NewIntegerSchema(), 19999),
	"RateLimit-Policy": header("The key's limits in the IETF RateLimit header fields draft syntax.",
		openapi3.NewStringSchema(), `"minute";q=600;w=60, "hour";q=20000;w=3600`),
	"RateLimit": header("The remaining quota of the tightest window and seconds until it resets, in the IETF RateLimit header fields draft syntax.",
		openapi3.NewStringSchema(), `"minute";r=599;t=42`),
	"Retry-After": header("Seconds to wait before retrying.", openapi3.NewIntegerSchema(), 30),
}

func header(description string, schema *openapi3.Schema, example any) *openapi3.Header {
	return &openapi3.Header{Parameter: openapi3.Parameter{
		Description: description,
		Schema:      openapi3.NewSchemaRef("", schema),
		Example:     example,
	}}
}

func (g *generator) headerRefs(names ...string) openapi3.Headers {
	out := openapi3.Headers{}
	for _, n := range names {
		out[n] = &openapi3.HeaderRef{Ref: g.use("headers", n)}
	}
	return out
}

func (g *generator) successHeaders(auth registry.Auth) openapi3.Headers {
	names := []string{"X-Request-ID", "X-Response-Time"}
	if auth == registry.AuthKey {
		names = append(names, rateHeaders...)
	}
	return g.headerRefs(names...)
}

func (g *generator) problemResponse(status int) *openapi3.Response {
	names := []string{"X-Request-ID"}
	if status == http.StatusTooManyRequests {
		names = append(names, "Retry-After")
		names = append(names, rateHeaders...)
	}
	schema := openapi3.NewSchemaRef(g.use("schemas", "Problem"), nil)
	media := openapi3.NewMediaType().WithSchemaRef(schema)
	media.Example = problemExample(status)
	return &openapi3.Response{
		Description: &[]string{problemDescriptions[status]}[0],
		Headers:     g.headerRefs(names...),
		Content:     openapi3.Content{"application/problem+json": media},
	}
}

func problemExample(status int) map[string]any {
	code := map[int]string{
		400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
		405: "method-not-allowed", 409: "conflict", 410: "gone", 412: "precondition-failed",
		413: "payload-too-large", 415: "unsupported-media", 422: "validation-failed",
		429: "rate-limited", 500: "internal", 503: "service-unavailable",
	}[status]
	ex := map[string]any{
		"type":       "https://docs.booga.dev/problems/" + code,
		"title":      http.StatusText(status),
		"status":     status,
		"detail":     problemDescriptions[status],
		"instance":   "urn:request:req_01j9z6y8q5m3v7k2n4p6r8t0w2",
		"request_id": "req_01j9z6y8q5m3v7k2n4p6r8t0w2",
	}
	if status == http.StatusUnprocessableEntity {
		ex["detail"] = "name: must not be empty"
		ex["errors"] = []any{map[string]any{"field": "name", "message": "must not be empty", "code": "required"}}
	}
	return ex
}

// describeProblem documents the fields of the reflected problem.Details schema.
func describeProblem(s *openapi3.Schema) {
	s.Description = "RFC 9457 problem details, the body of every error response."
	set := func(name, description, format string) {
		p := s.Properties[name]
		if p == nil || p.Value == nil {
			return
		}
		copied := *p.Value
		copied.Description = description
		if format != "" {
			copied.Format = format
		}
		s.Properties[name] = openapi3.NewSchemaRef("", &copied)
	}
	set("type", "URI identifying the problem type; its last segment is the stable error code.", "uri")
	set("title", "Short summary of the problem type.", "")
	set("status", "HTTP status code of this response.", "")
	set("detail", "What went wrong with this request and how to fix it.", "")
	set("instance", "URN naming this occurrence: urn:request:<request id>.", "")
	set("request_id", "The request id, also sent in X-Request-ID.", "")
	set("errors", "One entry per invalid field, for 400 and 422 responses.", "")
}

func (g *generator) components() *openapi3.Components {
	c := openapi3.NewComponents()
	c.Schemas = g.schemas.schemas
	c.SecuritySchemes = openapi3.SecuritySchemes{}
	c.Parameters = openapi3.ParametersMap{}
	c.Headers = openapi3.Headers{}
	c.Responses = openapi3.ResponseBodies{}

	// Problem responses reference headers and the Problem schema, so they
	// are built first and mark what they use.
	for _, key := range sortedKeys(g.used) {
		kind, name, _ := strings.Cut(key, "/")
		if kind == "responses" {
			for status, n := range problemResponseNames {
				if n == name {
					c.Responses[name] = &openapi3.ResponseRef{Value: g.problemResponse(status)}
				}
			}
		}
	}
	for _, key := range sortedKeys(g.used) {
		kind, name, _ := strings.Cut(key, "/")
		switch kind {
		case "headers":
			c.Headers[name] = &openapi3.HeaderRef{Value: headerDefinitions[name]}
		case "parameters":
			c.Parameters[name] = &openapi3.ParameterRef{Value: sharedParameter(name)}
		case "securitySchemes":
			c.SecuritySchemes[name] = &openapi3.SecuritySchemeRef{Value: securityScheme(name)}
		}
	}
	return &c
}

func securityScheme(name string) *openapi3.SecurityScheme {
	if name == schemeBearer {
		return &openapi3.SecurityScheme{Type: "http", Scheme: "bearer",
			Description: "The API key as a bearer token: `Authorization: Bearer <key>`."}
	}
	return &openapi3.SecurityScheme{Type: "apiKey", In: "header", Name: "X-API-Key",
		Description: "The API key in the X-API-Key header."}
}

func sharedParameter(name string) *openapi3.Parameter {
	switch name {
	case "Limit":
		schema := openapi3.NewIntegerSchema().WithMin(1).WithMax(httpx.MaxLimit).WithDefault(httpx.DefaultLimit)
		return openapi3.NewQueryParameter("limit").WithSchema(schema).
			WithDescription(fmt.Sprintf("Maximum number of items on the page, from 1 to %d.", httpx.MaxLimit))
	case "Cursor":
		return openapi3.NewQueryParameter("cursor").WithSchema(openapi3.NewStringSchema()).
			WithDescription("The next_cursor of the previous page, unchanged. Omit it for the first page.")
	case "IdempotencyKey":
		schema := openapi3.NewStringSchema().WithMinLength(1).WithMaxLength(255)
		p := openapi3.NewHeaderParameter("Idempotency-Key").WithSchema(schema).
			WithDescription("A unique value per logical request, such as a UUID. A retry with the same key and body " +
				"replays the first response instead of acting twice; the same key with another body is a 422.")
		p.Example = "3f0c8e1e-7a4b-4d2e-9a51-2f1f0f8f6c3d"
		return p
	}
	panic("openapi: no shared parameter " + name)
}

package openapi

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// webhooks builds the x-webhooks map: for each event type a path item whose
// POST is the delivery a subscriber receives.
func (g *generator) webhooks(opts Options) (map[string]*openapi3.PathItem, error) {
	events := append([]EventType(nil), opts.Events...)
	sort.Slice(events, func(i, j int) bool { return events[i].Type < events[j].Type })
	out := map[string]*openapi3.PathItem{}
	for _, e := range events {
		if opts.Plugin != "" && e.Plugin != opts.Plugin {
			continue
		}
		if !eventTypeRE.MatchString(e.Type) {
			return nil, fmt.Errorf("event type %q must be dotted lower-case words such as api_key.created", e.Type)
		}
		if _, dup := out[e.Type]; dup {
			return nil, fmt.Errorf("event type %q is listed twice", e.Type)
		}
		if e.Summary == "" || e.Description == "" {
			return nil, fmt.Errorf("event type %q: missing Summary or Description", e.Type)
		}
		envelope, err := g.eventEnvelope(e)
		if err != nil {
			return nil, err
		}
		op := &openapi3.Operation{
			Tags:        []string{webhookTag},
			Summary:     e.Summary,
			Description: e.Description,
			OperationID: eventOperationID(e.Type),
			Parameters: openapi3.Parameters{
				webhookHeader("webhook-id", "Unique message id; the same on every retry of this delivery, so receivers can drop duplicates.", "msg_01j9z6y8q5m3v7k2n4p6r8t0w2"),
				webhookHeader("webhook-timestamp", "Unix time in seconds when this attempt was signed; reject values far from your clock to stop replays.", "1735689600"),
				webhookHeader("webhook-signature", "Space-separated signatures \"v1,<base64 HMAC-SHA256>\" over \"<webhook-id>.<webhook-timestamp>.<body>\" with the subscription secret.", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
			},
			RequestBody: &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).
				WithDescription("The event.").
				WithContent(openapi3.NewContentWithJSONSchemaRef(envelope))},
			Responses: openapi3.NewResponsesWithCapacity(2),
			Security:  openapi3.NewSecurityRequirements(),
		}
		op.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("Any 2xx status acknowledges the delivery; other statuses and timeouts are retried with exponential backoff.")})
		op.Responses.Set("400", &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("The receiver rejected the delivery, for example on a bad signature; the platform retries it.")})
		out[e.Type] = &openapi3.PathItem{Post: op}
	}
	return out, nil
}

func webhookHeader(name, description string, example string) *openapi3.ParameterRef {
	p := openapi3.NewHeaderParameter(name).WithRequired(true).WithSchema(openapi3.NewStringSchema()).WithDescription(description)
	p.Example = example
	return &openapi3.ParameterRef{Value: p}
}

// eventEnvelope registers the component "<Camel>Event": {id, type,
// timestamp, api_version, tenant_id, data}, the JSON body of a delivery.
func (g *generator) eventEnvelope(e EventType) (*openapi3.SchemaRef, error) {
	data, err := g.schemas.ref(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("event %s payload: %w", e.Type, err)
	}
	name := camel(e.Type) + "Event"
	if _, taken := g.schemas.schemas[name]; taken {
		return nil, fmt.Errorf("event %s: schema name %q is already used", e.Type, name)
	}

	typ := openapi3.NewStringSchema()
	typ.Enum = []any{e.Type}
	typ.Description = "The event type."
	id := openapi3.NewStringSchema()
	id.Description = "Event id, stable across deliveries."
	ts := openapi3.NewDateTimeSchema()
	ts.Description = "When the change happened."
	version := openapi3.NewStringSchema()
	version.Description = "Version of the payload schemas, a date; a breaking change to any payload gets a new one."
	if e.APIVersion != "" {
		version.Example = e.APIVersion
	}
	tenant := openapi3.NewStringSchema()
	tenant.Description = "Id of the tenant whose change emitted the event."

	envelope := openapi3.NewObjectSchema()
	envelope.Description = e.Summary
	envelope.Properties = openapi3.Schemas{
		"id":          openapi3.NewSchemaRef("", id),
		"type":        openapi3.NewSchemaRef("", typ),
		"timestamp":   openapi3.NewSchemaRef("", ts),
		"api_version": openapi3.NewSchemaRef("", version),
		"tenant_id":   openapi3.NewSchemaRef("", tenant),
		"data":        data,
	}
	envelope.Required = []string{"api_version", "data", "id", "tenant_id", "timestamp", "type"}
	g.schemas.schemas[name] = openapi3.NewSchemaRef("", envelope)
	return openapi3.NewSchemaRef("#/components/schemas/"+name, nil), nil
}

// camel turns "api_key.created" into "ApiKeyCreated".
func camel(s string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '_' || r == '-' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

func eventOperationID(eventType string) string { return "on" + camel(eventType) }

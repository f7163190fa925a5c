// Package openapi generates the platform's OpenAPI 3.0.3 documents from the
// endpoint registry: one per plugin and one combined, as JSON or YAML.
//
// # Schemas from Go types
//
// Request and response bodies are described by reflection over the Go value
// registered for them. The rules follow encoding/json:
//   - the property name is the json tag name; `json:"-"` fields and unexported
//     fields are left out; embedded structs are flattened;
//   - a field is required unless it is a pointer or has omitempty/omitzero;
//     the tag `openapi:"required"` or `openapi:"optional"` overrides this;
//   - pointers are nullable; time.Time is a date-time string; []byte is a
//     base64 string; json.RawMessage and interfaces accept any value;
//   - named struct types become components referenced with $ref, and generic
//     types are named with their arguments first (Page[Key] is "KeyPage");
//   - a named string type with an EnumValues() []string method is an enum.
//
// These struct tags document or constrain a field: doc (description), enum
// (comma-separated values), format, pattern, example and default (JSON, or
// raw text for strings), minLength, maxLength, minimum, maximum, minItems,
// maxItems, and readOnly, writeOnly, deprecated ("true"). On a slice field,
// enum, format, pattern, minLength and maxLength constrain the items.
//
// # Request bodies
//
// A route's Request is a JSON body. A route's RequestBody describes the
// other two kinds: multipart/form-data, whose schema is the Form struct (a
// []byte field tagged format:"binary" is a file part), and
// application/octet-stream, a string of format binary with an optional
// example.
//
// # Extensions
//
//   - x-capability on an operation: the API-key scope the route requires.
//   - x-idempotent: true on a POST that honours the Idempotency-Key header.
//   - x-pagination: "cursor" on a list whose response is the page envelope
//     {data, next_cursor, has_more}; the SDKs build their iterators from it.
//   - x-webhooks at the root: one path item per webhook event type, whose
//     POST request body is the event the platform sends to subscribers. Redoc
//     renders this extension; OpenAPI 3.1 names the same idea "webhooks".
package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"
)

// Format is a serialisation of the document.
type Format string

// Supported formats.
const (
	FormatJSON Format = "json"
	FormatYAML Format = "yaml"
)

// ParseFormat returns the format named by s ("json" or "yaml").
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case FormatJSON, FormatYAML:
		return Format(s), nil
	}
	return "", fmt.Errorf("format %q is not supported; use json or yaml", s)
}

// ContentType returns the media type of a document in format f.
func (f Format) ContentType() string {
	if f == FormatYAML {
		return "application/yaml"
	}
	return "application/json"
}

// Encode serialises doc with every object's keys sorted, so the same
// document always gives the same bytes. JSON is indented by two spaces.
func Encode(doc *openapi3.T, format Format) ([]byte, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode OpenAPI document as JSON: %w", err)
	}
	if format == FormatJSON {
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "  "); err != nil {
			return nil, fmt.Errorf("indent OpenAPI JSON: %w", err)
		}
		out.WriteByte('\n')
		return out.Bytes(), nil
	}

	// Going through a generic value keeps YAML identical to the JSON form,
	// with keys sorted by the YAML encoder.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("decode OpenAPI JSON: %w", err)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(numbersToYAML(tree)); err != nil {
		return nil, fmt.Errorf("encode OpenAPI document as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode OpenAPI document as YAML: %w", err)
	}
	return out.Bytes(), nil
}

// numbersToYAML replaces json.Number with int64 or float64, which the YAML
// encoder writes as plain numbers.
func numbersToYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToYAML(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToYAML(e)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

package openapi

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// EnumValuer is implemented by named string types whose values form a closed
// set. The schema of such a type lists the values as its enum, so an enum is
// declared once on the type instead of on every field that uses it.
type EnumValuer interface {
	EnumValues() []string
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	durationType   = reflect.TypeFor[time.Duration]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	enumValuerType = reflect.TypeFor[EnumValuer]()
	nonNameChars   = regexp.MustCompile(`[^A-Za-z0-9]+`)
)

// schemaSet turns Go types into schemas and collects every named struct type
// as a component, so each type is described once and referenced by $ref.
type schemaSet struct {
	byType  map[reflect.Type]string
	byName  map[string]reflect.Type
	schemas openapi3.Schemas
}

func newSchemaSet() *schemaSet {
	return &schemaSet{byType: map[reflect.Type]string{}, byName: map[string]reflect.Type{}, schemas: openapi3.Schemas{}}
}

// ref returns the schema of v's type: a $ref for named structs, inline otherwise.
func (s *schemaSet) ref(v any) (*openapi3.SchemaRef, error) {
	if v == nil {
		return openapi3.NewSchemaRef("", &openapi3.Schema{}), nil
	}
	return s.typeRef(reflect.TypeOf(v))
}

func (s *schemaSet) typeRef(t reflect.Type) (*openapi3.SchemaRef, error) {
	if t.Kind() == reflect.Pointer {
		inner, err := s.typeRef(t.Elem())
		if err != nil {
			return nil, err
		}
		return nullable(inner), nil
	}
	if t.Kind() == reflect.Struct && t.Name() != "" && t != timeType {
		name, err := s.component(t)
		if err != nil {
			return nil, err
		}
		return openapi3.NewSchemaRef("#/components/schemas/"+name, nil), nil
	}
	schema, err := s.inline(t)
	if err != nil {
		return nil, err
	}
	return openapi3.NewSchemaRef("", schema), nil
}

// nullable marks a schema as accepting null. A $ref cannot carry siblings in
// OpenAPI 3.0, so a referenced schema is wrapped in allOf.
func nullable(r *openapi3.SchemaRef) *openapi3.SchemaRef {
	if r.Ref != "" {
		return openapi3.NewSchemaRef("", &openapi3.Schema{AllOf: openapi3.SchemaRefs{r}, Nullable: true})
	}
	copied := *r.Value
	copied.Nullable = true
	return openapi3.NewSchemaRef("", &copied)
}

// component registers a named struct type and returns its component name.
func (s *schemaSet) component(t reflect.Type) (string, error) {
	if name, ok := s.byType[t]; ok {
		return name, nil
	}
	name := componentName(t)
	if other, taken := s.byName[name]; taken {
		return "", fmt.Errorf("schema name %q is used by both %s and %s; rename one of the types", name, other, t)
	}
	s.byType[t] = name
	s.byName[name] = t
	schema, err := s.structSchema(t)
	if err != nil {
		return "", err
	}
	s.schemas[name] = openapi3.NewSchemaRef("", schema)
	return name, nil
}

// componentName returns the type's name, with generic type arguments moved in
// front: httpx.Page[apikeys.Key] becomes "KeyPage".
func componentName(t reflect.Type) string {
	name := t.Name()
	open := strings.IndexByte(name, '[')
	if open < 0 {
		return name
	}
	base, args := name[:open], strings.TrimSuffix(name[open+1:], "]")
	var prefix strings.Builder
	for _, arg := range strings.Split(args, ",") {
		arg = arg[strings.LastIndexByte(arg, '.')+1:]
		prefix.WriteString(nonNameChars.ReplaceAllString(arg, ""))
	}
	return prefix.String() + base
}

func (s *schemaSet) inline(t reflect.Type) (*openapi3.Schema, error) {
	var schema *openapi3.Schema
	switch {
	case t == timeType:
		return openapi3.NewDateTimeSchema(), nil
	case t == durationType:
		schema = openapi3.NewInt64Schema()
		schema.Description = "Duration in nanoseconds."
		return schema, nil
	case t == rawMessageType:
		return &openapi3.Schema{}, nil
	}

	switch t.Kind() {
	case reflect.Bool:
		schema = openapi3.NewBoolSchema()
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint8, reflect.Uint16:
		schema = openapi3.NewInt32Schema()
	case reflect.Int, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		schema = openapi3.NewInt64Schema()
	case reflect.Float32:
		schema = openapi3.NewFloat64Schema()
		schema.Format = "float"
	case reflect.Float64:
		schema = openapi3.NewFloat64Schema()
		schema.Format = "double"
	case reflect.String:
		schema = openapi3.NewStringSchema()
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return openapi3.NewBytesSchema(), nil
		}
		items, err := s.typeRef(t.Elem())
		if err != nil {
			return nil, err
		}
		schema = openapi3.NewArraySchema()
		schema.Items = items
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key type %s: JSON object keys must be strings", t.Key())
		}
		values, err := s.typeRef(t.Elem())
		if err != nil {
			return nil, err
		}
		schema = openapi3.NewObjectSchema()
		schema.AdditionalProperties = openapi3.AdditionalProperties{Schema: values}
	case reflect.Interface:
		return &openapi3.Schema{}, nil
	case reflect.Struct:
		return s.structSchema(t)
	default:
		return nil, fmt.Errorf("type %s (%s) has no JSON form", t, t.Kind())
	}
	if t.Implements(enumValuerType) {
		for _, v := range reflect.Zero(t).Interface().(EnumValuer).EnumValues() {
			schema.Enum = append(schema.Enum, v)
		}
	}
	return schema, nil
}

// structSchema describes a struct's exported JSON fields, flattening
// embedded structs the way encoding/json does.
func (s *schemaSet) structSchema(t reflect.Type) (*openapi3.Schema, error) {
	schema := openapi3.NewObjectSchema()
	schema.Properties = openapi3.Schemas{}
	if err := s.addFields(schema, t); err != nil {
		return nil, err
	}
	sort.Strings(schema.Required)
	return schema, nil
}

func (s *schemaSet) addFields(schema *openapi3.Schema, t reflect.Type) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if err := s.addFields(schema, et); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		prop, err := s.fieldSchema(t, f)
		if err != nil {
			return err
		}
		schema.Properties[name] = prop
		if fieldRequired(f, opts) {
			schema.Required = append(schema.Required, name)
		}
	}
	return nil
}

// fieldRequired applies the convention: a field is required unless it is a
// pointer or has omitempty/omitzero. The tag openapi:"required" or
// openapi:"optional" overrides it.
func fieldRequired(f reflect.StructField, jsonOpts string) bool {
	switch f.Tag.Get("openapi") {
	case "required":
		return true
	case "optional":
		return false
	}
	if f.Type.Kind() == reflect.Pointer {
		return false
	}
	for _, o := range strings.Split(jsonOpts, ",") {
		if o == "omitempty" || o == "omitzero" {
			return false
		}
	}
	return true
}

// fieldSchema applies a field's documentation and validation tags to the
// schema of its type. Tags on a field whose type is a component wrap the $ref
// in allOf, because OpenAPI 3.0 ignores siblings of $ref.
func (s *schemaSet) fieldSchema(owner reflect.Type, f reflect.StructField) (*openapi3.SchemaRef, error) {
	ref, err := s.typeRef(f.Type)
	if err != nil {
		return nil, fmt.Errorf("%s.%s: %w", owner.Name(), f.Name, err)
	}
	if !hasSchemaTags(f.Tag) {
		return ref, nil
	}
	var schema *openapi3.Schema
	if ref.Ref != "" {
		schema = &openapi3.Schema{AllOf: openapi3.SchemaRefs{ref}}
	} else {
		copied := *ref.Value
		schema = &copied
	}
	if err := applyTags(schema, f.Tag); err != nil {
		return nil, fmt.Errorf("%s.%s: %w", owner.Name(), f.Name, err)
	}
	return openapi3.NewSchemaRef("", schema), nil
}

// schemaTags are the struct tags that document or constrain a field.
var schemaTags = []string{"doc", "enum", "format", "example", "default", "pattern",
	"minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems", "readOnly", "writeOnly", "deprecated"}

func hasSchemaTags(tag reflect.StructTag) bool {
	for _, k := range schemaTags {
		if _, ok := tag.Lookup(k); ok {
			return true
		}
	}
	return false
}

func applyTags(schema *openapi3.Schema, tag reflect.StructTag) error {
	target := schema
	if schema.Type != nil && schema.Type.Is(openapi3.TypeArray) && schema.Items != nil && schema.Items.Ref == "" {
		// enum, format and pattern on a slice field constrain its items.
		items := *schema.Items.Value
		target = &items
		schema.Items = openapi3.NewSchemaRef("", target)
	}
	schema.Description = tag.Get("doc")
	if v, ok := tag.Lookup("format"); ok {
		target.Format = v
	}
	if v, ok := tag.Lookup("pattern"); ok {
		target.Pattern = v
	}
	if v, ok := tag.Lookup("enum"); ok {
		target.Enum = nil
		for _, e := range strings.Split(v, ",") {
			target.Enum = append(target.Enum, e)
		}
	}
	schema.ReadOnly = tag.Get("readOnly") == "true"
	schema.WriteOnly = tag.Get("writeOnly") == "true"
	schema.Deprecated = tag.Get("deprecated") == "true"

	for _, b := range []struct {
		key string
		set func(uint64)
	}{
		{"minLength", func(n uint64) { target.MinLength = n }},
		{"maxLength", func(n uint64) { target.MaxLength = &n }},
		{"minItems", func(n uint64) { schema.MinItems = n }},
		{"maxItems", func(n uint64) { schema.MaxItems = &n }},
	} {
		if v, ok := tag.Lookup(b.key); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return fmt.Errorf("tag %s=%q: must be a whole number", b.key, v)
			}
			b.set(n)
		}
	}
	for _, b := range []struct {
		key string
		set func(float64)
	}{
		{"minimum", func(n float64) { schema.Min = &n }},
		{"maximum", func(n float64) { schema.Max = &n }},
	} {
		if v, ok := tag.Lookup(b.key); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("tag %s=%q: must be a number", b.key, v)
			}
			b.set(n)
		}
	}
	for _, b := range []struct {
		key string
		set func(any)
	}{
		{"example", func(v any) { schema.Example = v }},
		{"default", func(v any) { schema.Default = v }},
	} {
		if v, ok := tag.Lookup(b.key); ok {
			parsed, err := parseTagValue(schema, v)
			if err != nil {
				return fmt.Errorf("tag %s=%q: %w", b.key, v, err)
			}
			b.set(parsed)
		}
	}
	return nil
}

// parseTagValue reads an example or default written in a struct tag: JSON
// for arrays, objects, numbers and booleans, the raw text for strings.
func parseTagValue(schema *openapi3.Schema, raw string) (any, error) {
	if schema.Type != nil && schema.Type.Is(openapi3.TypeString) {
		return raw, nil
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		if schema.Type == nil {
			return raw, nil
		}
		return nil, fmt.Errorf("must be JSON for a %s field", strings.Join(*schema.Type, ","))
	}
	return v, nil
}

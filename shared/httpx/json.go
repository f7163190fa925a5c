// Package httpx holds the HTTP conventions every plugin shares: strict JSON
// decoding, JSON responses and cursor pagination.
package httpx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/booga-enterprise/functions/shared/problem"
)

// MaxJSONBody is the largest JSON request body accepted, in bytes.
const MaxJSONBody = 1 << 20

// DecodeJSON reads the request body into dst. Unknown fields, wrong types,
// trailing data and bodies over MaxJSONBody are problems naming the field.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return problem.New(problem.CodeUnsupportedMedia, "Content-Type must be application/json, got %q.", ct)
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonProblem(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return problem.New(problem.CodeBadRequest, "The body must contain one JSON object and nothing after it.")
	}
	return nil
}

func jsonProblem(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, io.EOF):
		return problem.New(problem.CodeBadRequest, "The request body is empty; send a JSON object.")
	case errors.As(err, &tooLarge):
		return problem.New(problem.CodeTooLarge, "The request body is larger than %d bytes.", tooLarge.Limit)
	case errors.As(err, &syntax):
		return problem.New(problem.CodeBadRequest, "The body is not valid JSON at byte %d: %s.", syntax.Offset, syntax.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return &problem.Error{Code: problem.CodeBadRequest, Detail: fmt.Sprintf("%s: must be %s, got %s.", field, jsonTypeName(typ.Type.Kind().String()), typ.Value),
			Fields: []problem.FieldError{{Field: field, Message: fmt.Sprintf("must be %s, got %s", jsonTypeName(typ.Type.Kind().String()), typ.Value), Code: "type"}}}
	// NOTE: encoding/json reports an unknown field only as text, with no typed error to match.
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &problem.Error{Code: problem.CodeBadRequest, Detail: fmt.Sprintf("%s: unknown field; remove it or check its spelling.", name),
			Fields: []problem.FieldError{{Field: name, Message: "unknown field; remove it or check its spelling", Code: "unknown"}}}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return problem.New(problem.CodeBadRequest, "The body ends in the middle of a JSON value.")
	default:
		return problem.New(problem.CodeBadRequest, "The body could not be read as JSON: %v.", err)
	}
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "ptr":
		return "a value of the documented type"
	default:
		return "a number"
	}
}

// WriteJSON sends v with the given status as application/json.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

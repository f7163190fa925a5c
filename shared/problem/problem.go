// Package problem defines the platform's one error type and writes it as an
// RFC 9457 problem details response (application/problem+json).
package problem

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/booga-enterprise/functions/shared/request"
)

// Code classifies an error; the table in status maps each code to one HTTP status.
type Code string

// Error codes. Each is also the last segment of the problem "type" URI.
const (
	CodeInvalid          Code = "validation-failed"     // 422: well-formed but invalid fields
	CodeBadRequest       Code = "bad-request"           // 400: malformed body, unknown field, bad cursor
	CodeUnauthenticated  Code = "unauthenticated"       // 401
	CodeForbidden        Code = "forbidden"             // 403
	CodeNotFound         Code = "not-found"             // 404
	CodeMethodNotAllowed Code = "method-not-allowed"    // 405
	CodeConflict         Code = "conflict"              // 409
	CodeGone             Code = "gone"                  // 410
	CodeTooLarge         Code = "payload-too-large"     // 413
	CodeUnsupportedMedia Code = "unsupported-media"     // 415
	CodePrecondition     Code = "precondition-failed"   // 412
	CodeIdempotencyReuse Code = "idempotency-key-reuse" // 422
	CodeRateLimited      Code = "rate-limited"          // 429
	CodeInternal         Code = "internal"              // 500
	CodeUnavailable      Code = "service-unavailable"   // 503
)

var status = map[Code]int{
	CodeInvalid:          http.StatusUnprocessableEntity,
	CodeBadRequest:       http.StatusBadRequest,
	CodeUnauthenticated:  http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeNotFound:         http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeConflict:         http.StatusConflict,
	CodeGone:             http.StatusGone,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeUnsupportedMedia: http.StatusUnsupportedMediaType,
	CodePrecondition:     http.StatusPreconditionFailed,
	CodeIdempotencyReuse: http.StatusUnprocessableEntity,
	CodeRateLimited:      http.StatusTooManyRequests,
	CodeInternal:         http.StatusInternalServerError,
	CodeUnavailable:      http.StatusServiceUnavailable,
}

var titles = map[Code]string{
	CodeInvalid:          "Validation failed",
	CodeBadRequest:       "Bad request",
	CodeUnauthenticated:  "Authentication required",
	CodeForbidden:        "Forbidden",
	CodeNotFound:         "Not found",
	CodeMethodNotAllowed: "Method not allowed",
	CodeConflict:         "Conflict",
	CodeGone:             "Gone",
	CodeTooLarge:         "Payload too large",
	CodeUnsupportedMedia: "Unsupported media type",
	CodePrecondition:     "Precondition failed",
	CodeIdempotencyReuse: "Idempotency key reused with another request",
	CodeRateLimited:      "Too many requests",
	CodeInternal:         "Internal server error",
	CodeUnavailable:      "Service unavailable",
}

// TypeBase prefixes every problem type URI; the docs page lists each code.
const TypeBase = "https://docs.booga.dev/problems/"

// Codes returns every code with its status, for documentation and OpenAPI.
func Codes() map[Code]int {
	out := make(map[Code]int, len(status))
	for c, s := range status {
		out[c] = s
	}
	return out
}

// Status returns the HTTP status of a code.
func (c Code) Status() int {
	if s, ok := status[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// FieldError names one invalid input and how to fix it.
type FieldError struct {
	Field   string `json:"field"`          // JSON pointer-like path: "scopes[2]", "allowed_ips"
	Message string `json:"message"`        // what is wrong and what is accepted
	Code    string `json:"code,omitempty"` // machine-readable reason such as "required"
}

// Error is the platform's error: a code, a public detail and optional field
// errors. Err, when set, is internal and only logged.
type Error struct {
	Code       Code
	Detail     string
	Fields     []FieldError
	RetryAfter time.Duration // sets Retry-After on 429 and 503
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a formatted public detail.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// Wrap returns an internal error whose cause is logged but never sent.
func Wrap(err error, format string, args ...any) *Error {
	return &Error{Code: CodeInternal, Detail: "The request could not be completed. Retry later or report the request id.", Err: fmt.Errorf(format+": %w", append(args, err)...)}
}

// Invalid returns a 422 naming each invalid field.
func Invalid(fields ...FieldError) *Error {
	detail := "The request has invalid fields; see errors for each field and how to fix it."
	if len(fields) == 1 {
		detail = fields[0].Field + ": " + fields[0].Message
	}
	return &Error{Code: CodeInvalid, Detail: detail, Fields: fields}
}

// NotFound returns the 404 used for missing rows and for other tenants' rows alike.
func NotFound(kind, id string) *Error {
	return New(CodeNotFound, "No %s with id %q exists.", kind, id)
}

// Details is the RFC 9457 document.
type Details struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldError `json:"errors,omitempty"`
}

// requestIDKey carries the request id so problem responses can name it.
type requestIDKey struct{}

// WithRequestID stores the request id in ctx.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id of the platform's pipeline
// (request.SetID), else the one stored by WithRequestID, or "".
func RequestID(ctx context.Context) string {
	if id := request.ID(ctx); id != "" {
		return id
	}
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// As converts any error into an *Error; unknown errors become internal.
func As(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeUnavailable, Detail: "The request timed out. Retry later.", Err: err}
	}
	return &Error{Code: CodeInternal, Detail: "The request could not be completed. Retry later or report the request id.", Err: err}
}

// Write sends err as a problem response and logs it: 5xx at Error level with
// the internal cause, 4xx at Debug. A canceled request is not logged as an error.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	pe := As(err)
	code := pe.Code.Status()
	ctx := r.Context()
	logger := slog.Default()
	switch {
	case errors.Is(err, context.Canceled):
		logger.DebugContext(ctx, "request canceled", "path", r.URL.Path)
	case code >= 500:
		logger.ErrorContext(ctx, "request failed", "status", code, "path", r.URL.Path, "error", pe.Error())
	default:
		logger.DebugContext(ctx, "request rejected", "status", code, "path", r.URL.Path, "problem", string(pe.Code), "detail", pe.Detail)
	}

	id := RequestID(ctx)
	d := Details{
		Type:      TypeBase + string(pe.Code),
		Title:     titles[pe.Code],
		Status:    code,
		Detail:    pe.Detail,
		RequestID: id,
		Errors:    pe.Fields,
	}
	if id != "" {
		d.Instance = "urn:request:" + id
	}
	if pe.RetryAfter > 0 {
		secs := int((pe.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(d)
}

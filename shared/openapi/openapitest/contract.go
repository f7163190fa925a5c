package openapitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Contract validates live responses against an OpenAPI document.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
	mu     sync.Mutex
	seen   map[string][]int // operation id -> statuses validated
}

// NewContract prepares doc for checking responses from a server whose API
// base URL is baseURL. It replaces doc's servers with baseURL.
func NewContract(t testing.TB, doc *openapi3.T, baseURL string) *Contract {
	t.Helper()
	doc.Servers = openapi3.Servers{{URL: baseURL}}
	openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("build OpenAPI router: %v", err)
	}
	return &Contract{doc: doc, router: router, seen: map[string][]int{}}
}

// Do sends req and checks the response: its status must be documented for
// the operation, its body must match the documented schema of its content
// type, and every header the document lists for that status must be present.
// It returns the status and body.
func (c *Contract) Do(t testing.TB, req *http.Request) (int, []byte) {
	t.Helper()
	route, pathParams, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s is not in the OpenAPI document: %v", req.Method, req.URL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response of %s %s: %v", req.Method, req.URL, err)
	}

	options := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	if documented := route.Operation.Responses.Value(strconv.Itoa(resp.StatusCode)); documented != nil && documented.Value != nil {
		// A body documented as */* (a file download) has the media type of
		// the file. openapi3filter has no decoder for most of them, and a
		// string schema does not constrain the bytes anyway.
		if content := documented.Value.Content; len(content) == 1 && content["*/*"] != nil {
			options.ExcludeResponseBody = true
		}
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: pathParams, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  resp.StatusCode,
		Header:  resp.Header,
		Body:    io.NopCloser(bytes.NewReader(body)),
		Options: options,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		t.Fatalf("%s %s responded %d, which breaks the OpenAPI document: %v\nbody: %s", req.Method, req.URL, resp.StatusCode, err, body)
	}
	documented := route.Operation.Responses.Value(strconv.Itoa(resp.StatusCode))
	if documented != nil && documented.Value != nil {
		for name := range documented.Value.Headers {
			if resp.Header.Get(name) == "" {
				t.Fatalf("%s %s responded %d without the documented header %s", req.Method, req.URL, resp.StatusCode, name)
			}
		}
	}
	c.mu.Lock()
	c.seen[route.Operation.OperationID] = append(c.seen[route.Operation.OperationID], resp.StatusCode)
	c.mu.Unlock()
	return resp.StatusCode, body
}

// Statuses returns the response statuses validated so far for the operation
// with the given id, in request order; nil when no request reached it.
func (c *Contract) Statuses(operationID string) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.seen[operationID]...)
}

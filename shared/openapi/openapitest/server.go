package openapitest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/registry"
)

// APIKey is the only key the test server accepts.
const APIKey = "bk_test_openapi_harness_key_0123456789abcdef"

// ThrottleHeader makes the server respond with 429 and Retry-After: 1 to the
// first request carrying each distinct value, and serve the retries normally.
const ThrottleHeader = "X-Test-Throttle"

// Attempt is one request the server saw with a ThrottleHeader value.
type Attempt struct {
	Status         int
	IdempotencyKey string
}

// Server is a loopback server for a registry's routes under /api.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	attempts map[string][]Attempt
}

// NewServer starts a server on 127.0.0.1 that routes reg's routes under
// /api with the platform's conventions: X-Request-ID, API-key check on keyed
// routes (Bearer or X-API-Key), rate-limit headers, problem responses, and
// 404/405 problems for unknown paths and methods. It stops when t ends.
func NewServer(t testing.TB, reg *registry.Registry) *Server {
	t.Helper()
	s := &Server{attempts: map[string][]Attempt{}}
	root := mux.NewRouter()
	api := root.PathPrefix("/api").Subrouter()
	for _, route := range reg.Routes() {
		api.Handle(route.Path, s.wrap(route)).Methods(route.Method)
	}
	root.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, problem.New(problem.CodeNotFound, "No endpoint matches %s %s.", r.Method, r.URL.Path))
	})
	root.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, problem.New(problem.CodeMethodNotAllowed, "%s is not allowed on %s.", r.Method, r.URL.Path))
	})
	api.NotFoundHandler = root.NotFoundHandler
	api.MethodNotAllowedHandler = root.MethodNotAllowedHandler

	srv := httptest.NewUnstartedServer(root)
	srv.Start()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		srv.Close()
		t.Fatalf("test server listens on %s, want a 127.0.0.1 address", srv.URL)
	}
	s.Server = srv
	t.Cleanup(srv.Close)
	return s
}

// BaseURL returns the API base URL, ending in /api.
func (s *Server) BaseURL() string { return s.URL + "/api" }

// Attempts returns the requests seen with the given ThrottleHeader value.
func (s *Server) Attempts(token string) []Attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Attempt(nil), s.attempts[token]...)
}

func (s *Server) wrap(route *registry.Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 128 {
			id = ids.New("req")
		}
		r = r.WithContext(problem.WithRequestID(r.Context(), id))
		for k, v := range mux.Vars(r) {
			r.SetPathValue(k, v)
		}
		h := w.Header()
		h.Set("X-Request-ID", id)
		h.Set("X-Response-Time", "0ms")

		err := s.serve(route, w, r)
		if err != nil {
			problem.Write(w, r, err)
		}
	})
}

func (s *Server) serve(route *registry.Route, w http.ResponseWriter, r *http.Request) error {
	if route.Auth == registry.AuthPublic {
		return route.Handler(w, r)
	}
	presented := r.Header.Get("X-API-Key")
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		presented = bearer
	}
	if presented == "" {
		return problem.New(problem.CodeUnauthenticated, "Send the API key in Authorization: Bearer <key> or X-API-Key.")
	}
	if presented != APIKey {
		return problem.New(problem.CodeUnauthenticated, "The API key is not valid.")
	}

	h := w.Header()
	h.Set("X-RateLimit-Limit-Minute", "600")
	h.Set("X-RateLimit-Remaining-Minute", "599")
	h.Set("X-RateLimit-Limit-Hour", "20000")
	h.Set("X-RateLimit-Remaining-Hour", "19999")
	h.Set("RateLimit-Policy", `"minute";q=600;w=60, "hour";q=20000;w=3600`)
	h.Set("RateLimit", `"minute";r=599;t=60`)

	if token := r.Header.Get(ThrottleHeader); token != "" {
		s.mu.Lock()
		first := len(s.attempts[token]) == 0
		status := http.StatusOK
		if first {
			status = http.StatusTooManyRequests
		}
		s.attempts[token] = append(s.attempts[token], Attempt{Status: status, IdempotencyKey: r.Header.Get("Idempotency-Key")})
		s.mu.Unlock()
		if first {
			return &problem.Error{Code: problem.CodeRateLimited, Detail: "The key exceeded its per-minute limit.", RetryAfter: time.Second}
		}
	}
	if route.Idempotent {
		if k := r.Header.Get("Idempotency-Key"); len(k) > 255 {
			return problem.Invalid(problem.FieldError{Field: "Idempotency-Key", Code: "length", Message: "must be at most 255 characters"})
		}
	}
	err := route.Handler(w, r)
	var pe *problem.Error
	if err != nil && !errors.As(err, &pe) {
		return problem.Wrap(err, "%s", route.ID())
	}
	return err
}

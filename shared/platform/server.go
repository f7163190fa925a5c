// Package platform is the request pipeline every API call goes through:
// request id, authentication, tenant, scope, IP allow-list, rate limit,
// idempotency, the handler in a tenant transaction, and usage recording.
package platform

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/shared/apikeys"
	"github.com/booga-enterprise/functions/shared/idempotency"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/ratelimit"
	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/request"
	"github.com/booga-enterprise/functions/shared/usage"
)

// UserAuthenticator verifies a bearer token that is not an API key, such as
// an Entra ID JWT. It returns nil, nil when the token is not of its kind.
type UserAuthenticator interface {
	Authenticate(ctx context.Context, token string) (*request.Principal, error)
}

// Server wires the pipeline.
type Server struct {
	Registry    *registry.Registry
	Pool        *pgxpool.Pool
	Keys        *apikeys.Verifier
	Limiter     *ratelimit.Limiter
	Usage       *usage.Recorder
	Idempotency *idempotency.Store
	Users       UserAuthenticator // optional
	FrontDoorID string
	Now         func() time.Time
	Logger      *slog.Logger
}

// APIHandler returns the router for /api/..., built from the registry, that
// also serves every path with a trailing slash.
func (s *Server) APIHandler() http.Handler { return trimTrailingSlash(s.Router()) }

// Router builds the gorilla/mux router: one route per registry entry, and
// problem responses for unknown paths and methods.
func (s *Server) Router() *mux.Router {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	r := mux.NewRouter()
	for _, route := range s.Registry.Routes() {
		methods := []string{route.Method}
		if route.Method == http.MethodGet {
			// HEAD is GET without the body (RFC 9110); net/http drops the
			// body of a HEAD response and keeps its headers.
			methods = append(methods, http.MethodHead)
		}
		r.Handle("/api"+route.Path, s.serve(route)).Methods(methods...)
	}
	r.NotFoundHandler = s.fallback(func(w http.ResponseWriter, req *http.Request) error {
		return problem.New(problem.CodeNotFound, "No endpoint matches %s %s. The endpoint list is at GET /api/api-management/endpoints.", req.Method, req.URL.Path)
	})
	r.MethodNotAllowedHandler = s.fallback(func(w http.ResponseWriter, req *http.Request) error {
		return problem.New(problem.CodeMethodNotAllowed, "%s is not allowed on %s.", req.Method, req.URL.Path)
	})
	return r
}

// trimTrailingSlash serves "/api/x/" as "/api/x" without a redirect.
func trimTrailingSlash(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimRight(p, "/")
			if r2.URL.RawPath != "" {
				r2.URL.RawPath = strings.TrimRight(r2.URL.RawPath, "/")
			}
			next.ServeHTTP(w, r2)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) fallback(fn registry.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := s.begin(w, r)
		r = r.WithContext(ctx)
		if err := fn(w, r); err != nil {
			w.Header().Set("X-Response-Time", "0")
			problem.Write(w, r, err)
		}
	})
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// begin accepts a sane incoming X-Request-ID or makes one, echoes it and puts
// it into the context for problems and logs.
func (s *Server) begin(w http.ResponseWriter, r *http.Request) (context.Context, string) {
	id := r.Header.Get("X-Request-ID")
	if !requestIDPattern.MatchString(id) {
		id = ids.New(ids.Request)
	}
	w.Header()[headerRequestID] = []string{id}
	ctx := request.New(r.Context())
	request.SetID(ctx, id)
	return ctx, id
}

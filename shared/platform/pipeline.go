package platform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/idempotency"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/ratelimit"
	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/request"
	"github.com/booga-enterprise/functions/shared/usage"
)

// call is the state of one request through the pipeline.
type call struct {
	route     *registry.Route
	start     time.Time
	principal *request.Principal
	tx        pgx.Tx
	txOnce    sync.Once
	txErr     error
	reqBytes  int64
}

func (s *Server) serve(route *registry.Route) http.Handler {
	endpoint := route.ID()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := &call{route: route, start: s.Now()}
		ctx, requestID := s.begin(w, r)
		request.SetEndpoint(ctx, endpoint)
		ip := ClientIP(r, s.FrontDoorID)
		if ip.IsValid() {
			request.SetClientIP(ctx, ip.String())
		}
		r = r.WithContext(ctx)
		r.Body = &countingBody{ReadCloser: r.Body, n: &c.reqBytes}

		status, written := s.run(w, r, c)

		if c.principal != nil && c.principal.Kind == request.KindAPIKey && s.Usage != nil {
			s.Usage.Record(usage.Record{
				TenantID:      c.principal.TenantID,
				KeyID:         c.principal.ID,
				Endpoint:      endpoint,
				Method:        route.Method,
				Status:        status,
				LatencyMicros: s.Now().Sub(c.start).Microseconds(),
				RequestBytes:  c.reqBytes,
				ResponseBytes: written,
				ClientIP:      request.ClientIP(ctx),
				RequestID:     requestID,
				OccurredAt:    c.start.UTC(),
			})
		}
	})
}

// run executes the pipeline and writes the response. It returns the status
// and the number of body bytes sent, for the usage record.
func (s *Server) run(w http.ResponseWriter, r *http.Request, c *call) (int, int64) {
	ctx := r.Context()
	if err := s.admit(w, r, c); err != nil {
		return s.writeProblem(w, r, c, err)
	}

	if c.route.Streaming {
		cw := &countingWriter{ResponseWriter: w, onHeader: func(h http.Header) { s.setResponseTime(h, c) }}
		err := c.route.Handler(cw, r)
		if err == nil {
			err = s.commit(ctx, c)
		} else {
			s.rollback(ctx, c)
		}
		if err != nil && cw.status == 0 {
			return s.writeProblem(w, r, c, err)
		}
		if err != nil {
			s.Logger.ErrorContext(ctx, "streaming handler failed after the response started", "error", err)
		}
		return cw.status, cw.written
	}

	var scope *idempotency.Scope
	if c.route.Idempotent && r.Header.Get(idempotency.Header) != "" && s.Idempotency != nil {
		replay, sc, err := s.claimIdempotency(r, c)
		if err != nil {
			return s.writeProblem(w, r, c, err)
		}
		if replay != nil {
			for k, v := range replay.Header {
				w.Header()[k] = v
			}
			w.Header().Set("Idempotent-Replayed", "true")
			s.setResponseTime(w.Header(), c)
			w.WriteHeader(replay.Status)
			n, _ := w.Write(replay.Body)
			return replay.Status, int64(n)
		}
		scope = sc
	}

	buf := newBufferedWriter()
	defer buf.release()
	err := c.route.Handler(buf, r)
	if err == nil && scope != nil {
		err = s.completeIdempotency(ctx, c, *scope, buf)
	}
	if err == nil {
		err = s.commit(ctx, c)
	}
	if err != nil {
		s.rollback(ctx, c)
		if scope != nil {
			if rerr := s.Idempotency.Release(context.WithoutCancel(ctx), *scope); rerr != nil {
				s.Logger.WarnContext(ctx, "release idempotency key failed", "error", rerr)
			}
		}
		return s.writeProblem(w, r, c, err)
	}

	for k, v := range buf.header {
		w.Header()[k] = v
	}
	s.setResponseTime(w.Header(), c)
	if buf.status == 0 {
		buf.status = http.StatusOK
	}
	w.WriteHeader(buf.status)
	n, _ := w.Write(buf.body.Bytes())
	return buf.status, int64(n)
}

// admit runs every check before the handler: authentication, tenant type,
// scope, IP allow-list and rate limit. It also installs the lazy tenant
// transaction.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	if c.route.Auth == registry.AuthPublic {
		return nil
	}

	p, err := s.authenticate(r)
	if err != nil {
		if pe := problem.As(err); pe.Code == problem.CodeUnauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
		}
		return err
	}
	c.principal = p
	request.SetPrincipal(ctx, p)

	if c.route.KeyManagement && p.TenantType == request.Developer {
		return problem.New(problem.CodeForbidden,
			"Developer tenants cannot use API-key endpoints; API-key management is available to corporate tenants only.")
	}
	if !p.Has(c.route.Capability) {
		return &problem.Error{Code: problem.CodeForbidden,
			Detail: fmt.Sprintf("This credential lacks the %q capability that %s requires. Use a key whose scopes include it.", c.route.Capability, c.route.ID())}
	}
	if p.Kind == request.KindAPIKey {
		if ip := request.ClientIP(ctx); !allowed(parseAddr(ip), p.AllowedIPs) {
			return problem.New(problem.CodeForbidden, "The client address %s is not in this key's IP allow-list.", ip)
		}
	}
	// Users are limited like keys, per user id with the tenant's limits.
	if err := s.limit(w, ctx, p); err != nil {
		return err
	}

	request.SetTx(ctx, func(ctx context.Context) (pgx.Tx, error) {
		c.txOnce.Do(func() {
			c.tx, c.txErr = postgres.BeginTenant(ctx, s.Pool, p.TenantID)
		})
		return c.tx, c.txErr
	})
	return nil
}

// authenticate reads the credential from Authorization: Bearer or X-API-Key.
func (s *Server) authenticate(r *http.Request) (*request.Principal, error) {
	ctx := r.Context()
	token := r.Header.Get("X-API-Key")
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, value, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(value) == "" {
			return nil, problem.New(problem.CodeUnauthenticated, "The Authorization header must be 'Bearer <credential>'.")
		}
		token = strings.TrimSpace(value)
	}
	if token == "" {
		return nil, problem.New(problem.CodeUnauthenticated,
			"No credential was sent. Send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.")
	}
	if s.Users != nil && strings.Count(token, ".") == 2 {
		p, err := s.Users.Authenticate(ctx, token)
		if err != nil || p != nil {
			return p, err
		}
	}
	v, err := s.Keys.Verify(ctx, token, request.ClientIP(ctx))
	if err != nil {
		return nil, err
	}
	return v.Principal, nil
}

// limit counts the request against the key's windows and sets the headers.
func (s *Server) limit(w http.ResponseWriter, ctx context.Context, p *request.Principal) error {
	if s.Limiter == nil {
		return nil
	}
	d, err := s.Limiter.Allow(ctx, p.ID, p.RateLimitPerMinute, p.RateLimitPerHour)
	if err != nil {
		return &problem.Error{Code: problem.CodeUnavailable, RetryAfter: 5 * time.Second,
			Detail: "Rate limiting is unavailable, so the request was not admitted. Retry shortly.", Err: err}
	}
	if d.Revoked && p.Kind == request.KindAPIKey {
		s.Keys.Evict(p.ID)
		return problem.New(problem.CodeUnauthenticated, "The API key is invalid or revoked.")
	}
	request.SetRate(ctx, &d.State)
	ratelimit.SetHeadersAt(w.Header(), d.State, s.Now())
	if !d.Allowed {
		return &problem.Error{Code: problem.CodeRateLimited, RetryAfter: d.RetryAfter,
			Detail: fmt.Sprintf("Rate limit exceeded: %d requests per minute and %d per hour are allowed for this %s.", d.State.LimitMinute, d.State.LimitHour, credentialNoun(p))}
	}
	return nil
}

func credentialNoun(p *request.Principal) string {
	if p.Kind == request.KindUser {
		return "user"
	}
	return "key"
}

func (s *Server) claimIdempotency(r *http.Request, c *call) (*idempotency.Stored, *idempotency.Scope, error) {
	key := r.Header.Get(idempotency.Header)
	if err := idempotency.ValidateKey(key); err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, httpx.MaxJSONBody+1))
	if err != nil {
		return nil, nil, problem.New(problem.CodeBadRequest, "The request body could not be read: %v.", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sc := idempotency.Scope{TenantID: c.principal.TenantID, PrincipalID: c.principal.ID, Key: key}
	replay, err := s.Idempotency.Begin(r.Context(), sc, r.Method, r.URL.Path, idempotency.RequestHash(r.Method, r.URL.Path, body))
	return replay, &sc, err
}

func (s *Server) completeIdempotency(ctx context.Context, c *call, sc idempotency.Scope, buf *bufferedWriter) error {
	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	status := buf.status
	if status == 0 {
		status = http.StatusOK
	}
	return s.Idempotency.Complete(ctx, tx, sc, idempotency.Stored{Status: status, Header: buf.header.Clone(), Body: buf.body.Bytes()})
}

func (s *Server) commit(ctx context.Context, c *call) error {
	if c.tx != nil {
		if err := c.tx.Commit(ctx); err != nil {
			return problem.Wrap(err, "commit request transaction")
		}
	}
	request.RunCommitHooks(ctx)
	return nil
}

func (s *Server) rollback(ctx context.Context, c *call) {
	if c.tx != nil {
		_ = c.tx.Rollback(context.WithoutCancel(ctx))
	}
}

func (s *Server) setResponseTime(h http.Header, c *call) {
	ms := float64(s.Now().Sub(c.start).Microseconds()) / 1000
	h[headerResponseTime] = []string{strconv.FormatFloat(ms, 'f', 3, 64)}
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, c *call, err error) (int, int64) {
	s.setResponseTime(w.Header(), c)
	cw := &countingWriter{ResponseWriter: w}
	problem.Write(cw, r, err)
	if errors.Is(err, context.Canceled) {
		return 499, cw.written
	}
	return cw.status, cw.written
}

type countingBody struct {
	io.ReadCloser
	n *int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	*b.n += int64(n)
	return n, err
}

// Package request carries what the platform's pipeline learns about a request
// (the principal, the route, the tenant transaction) to the handlers.
package request

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// TenantType is corporate (full API-key management) or developer.
type TenantType string

// Tenant types.
const (
	Corporate TenantType = "corporate"
	Developer TenantType = "developer"
)

// PrincipalKind is the kind of credential the caller authenticated with.
type PrincipalKind string

// Principal kinds.
const (
	KindAPIKey PrincipalKind = "api_key"
	KindUser   PrincipalKind = "user"
)

// Principal is the authenticated caller.
type Principal struct {
	Kind       PrincipalKind
	ID         string // key id or user id
	TenantID   string
	TenantType TenantType
	Scopes     []string
	// Key-only fields.
	RateLimitPerMinute int
	RateLimitPerHour   int
	AllowedIPs         []string
	ExpiresAt          *time.Time
}

// Has reports whether the principal holds capability.
func (p *Principal) Has(capability string) bool {
	for _, s := range p.Scopes {
		if s == capability {
			return true
		}
	}
	return false
}

// RateState is the caller's rate-limit state after this request was counted.
type RateState struct {
	LimitMinute, RemainingMinute int
	LimitHour, RemainingHour     int
	ResetMinute, ResetHour       time.Time
	Degraded                     bool // counted by the in-process fallback because Redis was unreachable
}

// TxFunc opens (once) and returns the request's tenant transaction.
type TxFunc func(ctx context.Context) (pgx.Tx, error)

type state struct {
	id        string
	principal *Principal
	rate      *RateState
	tx        TxFunc
	clientIP  string
	endpoint  string
	onCommit  []func(context.Context)
}

type stateKey struct{}

// ErrNoTenant is returned by Tx when the request has no tenant.
var ErrNoTenant = errors.New("request has no tenant")

// New returns ctx carrying an empty request state.
func New(ctx context.Context) context.Context {
	return context.WithValue(ctx, stateKey{}, &state{})
}

func get(ctx context.Context) *state {
	if s, ok := ctx.Value(stateKey{}).(*state); ok {
		return s
	}
	return &state{}
}

// SetID records the request id.
func SetID(ctx context.Context, id string) { get(ctx).id = id }

// ID returns the request id, or "" outside a request.
func ID(ctx context.Context) string { return get(ctx).id }

// LogAttrs returns the request id, tenant id and key or user id known so
// far, for the log handler to add to every line logged with ctx.
func LogAttrs(ctx context.Context) (requestID, tenantID, principalID string) {
	s, ok := ctx.Value(stateKey{}).(*state)
	if !ok {
		return "", "", ""
	}
	if s.principal != nil {
		return s.id, s.principal.TenantID, s.principal.ID
	}
	return s.id, "", ""
}

// SetPrincipal records the authenticated caller.
func SetPrincipal(ctx context.Context, p *Principal) { get(ctx).principal = p }

// PrincipalFrom returns the authenticated caller, or nil on public routes.
func PrincipalFrom(ctx context.Context) *Principal { return get(ctx).principal }

// SetRate records the rate-limit state.
func SetRate(ctx context.Context, r *RateState) { get(ctx).rate = r }

// Rate returns the rate-limit state, or nil when the request was not counted.
func Rate(ctx context.Context) *RateState { return get(ctx).rate }

// SetTx installs the lazy tenant transaction opener.
func SetTx(ctx context.Context, fn TxFunc) { get(ctx).tx = fn }

// Tx returns the request's tenant transaction, opening it on first use. The
// pipeline commits it when the handler returns nil, and rolls it back otherwise.
func Tx(ctx context.Context) (pgx.Tx, error) {
	s := get(ctx)
	if s.tx == nil {
		return nil, ErrNoTenant
	}
	return s.tx(ctx)
}

// SetClientIP records the client address the pipeline trusts.
func SetClientIP(ctx context.Context, ip string) { get(ctx).clientIP = ip }

// ClientIP returns the client address the pipeline trusts.
func ClientIP(ctx context.Context) string { return get(ctx).clientIP }

// SetEndpoint records the matched route id.
func SetEndpoint(ctx context.Context, id string) { get(ctx).endpoint = id }

// Endpoint returns the matched route id, such as "GET /api-management/keys".
func Endpoint(ctx context.Context) string { return get(ctx).endpoint }

// OnCommit registers fn to run after the request's transaction commits and
// before the response is sent. Without a commit (error, rollback) it never runs.
func OnCommit(ctx context.Context, fn func(context.Context)) {
	s := get(ctx)
	s.onCommit = append(s.onCommit, fn)
}

// RunCommitHooks runs the functions registered with OnCommit; the pipeline
// calls it once after a successful commit.
func RunCommitHooks(ctx context.Context) {
	s := get(ctx)
	hooks := s.onCommit
	s.onCommit = nil
	for _, fn := range hooks {
		fn(ctx)
	}
}

// Package identity signs people in: it validates OpenID Connect bearer
// tokens (Microsoft Entra ID in production) against the issuer's JSON Web Key
// Set and maps them to a platform user with their effective permissions.
//
// Keys are fetched and cached by github.com/MicahParks/keyfunc/v3. The set
// is refreshed in the background every RefreshInterval. A token signed by a
// key id missing from the cache triggers one refresh, at most once per
// UnknownKeyRefreshEvery (a rate.Limiter enforces this). So a rotated key is picked up without a restart,
// and a stream of forged key ids cannot make the service flood the issuer.
package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/booga-enterprise/functions/shared/problem"
)

// TenantPlaceholder in an issuer stands for the token's tenant claim, as in
// Entra ID's multi-tenant issuer https://login.microsoftonline.com/{tenantid}/v2.0.
const TenantPlaceholder = "{tenantid}"

// Algorithms are the signature algorithms a token may use. Everything else,
// "none" and the HMAC family included, is rejected before any key is read.
var Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// Leeway is the clock skew allowed on exp, nbf and iat.
const Leeway = time.Minute

// discoveryRetry is how long a failed discovery is remembered before the
// next token tries again.
const discoveryRetry = 10 * time.Second

// ValidatorOptions configures token validation.
type ValidatorOptions struct {
	// Issuer must equal the token's iss claim, after TenantPlaceholder is
	// replaced by the token's tenant claim.
	Issuer string
	// Audience must be one of the token's aud values: the API's application
	// id URI or client id.
	Audience string
	// JWKSURL is the key set address. When empty it is read from the issuer's
	// /.well-known/openid-configuration (with "common" for TenantPlaceholder).
	JWKSURL string
	// TenantClaim names the claim that identifies the token's directory
	// ("tid" for Entra ID).
	TenantClaim string
	// SubjectClaim names the claim that identifies the person for good
	// ("oid" for Entra ID; "sub" for most other providers).
	SubjectClaim           string
	RefreshInterval        time.Duration // background key set refresh; default one hour
	UnknownKeyRefreshEvery time.Duration // minimum time between refreshes caused by an unknown key id; default one minute
	HTTPClient             *http.Client  // for discovery and the key set; default a client with a 10-second timeout
	Now                    func() time.Time
	Logger                 *slog.Logger
}

// Claims are the validated claims the platform uses.
type Claims struct {
	Directory string // the tenant claim
	Subject   string // the subject claim
	Email     string // email, else preferred_username, else upn; may be empty
	Name      string
	IssuedAt  time.Time
}

// Validator checks signature, algorithm, issuer, audience and lifetime.
type Validator struct {
	opts   ValidatorOptions
	ctx    context.Context
	parser *jwt.Parser

	mu       sync.Mutex
	keys     keyfunc.Keyfunc
	failedAt time.Time
	failure  error
}

// NewValidator returns a validator whose background key refresh stops when
// ctx ends. It does not contact the issuer; the first token does.
func NewValidator(ctx context.Context, opts ValidatorOptions) (*Validator, error) {
	if opts.Issuer == "" || opts.Audience == "" {
		return nil, errors.New("identity: issuer and audience are required")
	}
	if opts.TenantClaim == "" {
		opts.TenantClaim = "tid"
	}
	if opts.SubjectClaim == "" {
		opts.SubjectClaim = "oid"
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = time.Hour
	}
	if opts.UnknownKeyRefreshEvery <= 0 {
		opts.UnknownKeyRefreshEvery = time.Minute
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods(Algorithms),
		jwt.WithAudience(opts.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(Leeway),
		jwt.WithTimeFunc(opts.Now),
	)
	return &Validator{opts: opts, ctx: ctx, parser: parser}, nil
}

// Validate returns the claims of a valid token, or a 401 problem that
// describes what is wrong with it.
func (v *Validator) Validate(ctx context.Context, token string) (Claims, error) {
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeHeader(token, &header); err != nil {
		return Claims{}, unauthenticated("The bearer token is not a well-formed JWT.", err)
	}
	if !slices.Contains(Algorithms, header.Alg) {
		return Claims{}, unauthenticated(fmt.Sprintf("The token's signing algorithm %q is not accepted; tokens must be signed with one of %s.",
			header.Alg, strings.Join(Algorithms, ", ")), nil)
	}
	keys, err := v.keySet(ctx)
	if err != nil {
		return Claims{}, err
	}

	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, keys.KeyfuncCtx(ctx)); err != nil {
		return Claims{}, v.explain(err)
	}

	out := Claims{
		Directory: stringClaim(claims, v.opts.TenantClaim),
		Subject:   stringClaim(claims, v.opts.SubjectClaim),
		Name:      stringClaim(claims, "name"),
	}
	for _, c := range []string{"email", "preferred_username", "upn"} {
		if out.Email = stringClaim(claims, c); out.Email != "" {
			break
		}
	}
	if out.Directory == "" {
		return Claims{}, unauthenticated(fmt.Sprintf("The token has no %q claim naming its directory.", v.opts.TenantClaim), nil)
	}
	iss, _ := claims.GetIssuer()
	if want := strings.ReplaceAll(v.opts.Issuer, TenantPlaceholder, out.Directory); iss != want {
		return Claims{}, unauthenticated(fmt.Sprintf("The token was issued by %q, not by the identity provider this API trusts.", iss), nil)
	}
	if out.Subject == "" {
		return Claims{}, unauthenticated(fmt.Sprintf("The token has no %q claim identifying the user.", v.opts.SubjectClaim), nil)
	}
	iat, err := claims.GetIssuedAt()
	if err != nil || iat == nil {
		return Claims{}, unauthenticated("The token has no iat (issued at) claim.", err)
	}
	out.IssuedAt = iat.Time
	return out, nil
}

// explain turns a jwt error into a problem that names the failed check.
func (v *Validator) explain(err error) error {
	var detail string
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		detail = "The bearer token is not a well-formed JWT."
	case errors.Is(err, jwt.ErrTokenExpired):
		detail = "The token has expired. Sign in again to get a new one."
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		detail = "The token is not valid yet: its nbf or iat claim is in the future."
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		detail = fmt.Sprintf("The token's audience is not this API; request a token for %q.", v.opts.Audience)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		detail = "The token lacks a required claim such as exp."
	case errors.Is(err, keyfunc.ErrKeyfunc), errors.Is(err, jwt.ErrTokenUnverifiable):
		detail = "The token was signed with a key the identity provider does not publish."
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		detail = "The token's signature is invalid."
	default:
		detail = "The token is invalid."
	}
	return unauthenticated(detail, err)
}

// keySet returns the key function, running discovery on first use.
func (v *Validator) keySet(ctx context.Context) (keyfunc.Keyfunc, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys != nil {
		return v.keys, nil
	}
	if v.failure != nil && v.opts.Now().Sub(v.failedAt) < discoveryRetry {
		return nil, v.failure
	}

	jwksURL := v.opts.JWKSURL
	if jwksURL == "" {
		u, err := v.discover(ctx)
		if err != nil {
			v.opts.Logger.ErrorContext(ctx, "OpenID Connect discovery failed", "issuer", v.opts.Issuer, "error", err)
			v.failure = &problem.Error{Code: problem.CodeUnavailable, RetryAfter: discoveryRetry, Err: err,
				Detail: "The identity provider's configuration could not be read, so the token cannot be checked. Retry shortly."}
			v.failedAt = v.opts.Now()
			return nil, v.failure
		}
		jwksURL = u
	}
	logger := v.opts.Logger
	keys, err := keyfunc.NewDefaultOverrideCtx(v.ctx, []string{jwksURL}, keyfunc.Override{
		Client:            v.opts.HTTPClient,
		RefreshInterval:   v.opts.RefreshInterval,
		RefreshUnknownKID: rate.NewLimiter(rate.Every(v.opts.UnknownKeyRefreshEvery), 1),
		// An unknown key id waits at most this long for the refresh limiter,
		// so a request is never held for the limiter's whole interval.
		RateLimitWaitMax: 50 * time.Millisecond,
		HTTPTimeout:      10 * time.Second,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				logger.WarnContext(ctx, "refresh JSON Web Key Set failed", "url", u, "error", err)
			}
		},
	})
	if err != nil {
		return nil, problem.Wrap(err, "create JSON Web Key Set client")
	}
	v.keys, v.failure = keys, nil
	return keys, nil
}

// discover reads jwks_uri from the issuer's OpenID configuration.
func (v *Validator) discover(ctx context.Context) (string, error) {
	issuer := strings.ReplaceAll(v.opts.Issuer, TenantPlaceholder, "common")
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("build discovery request: %w", err)
	}
	res, err := v.opts.HTTPClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("get %s: %w", u, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("get %s: status %d", u, res.StatusCode)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, res.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("decode %s: %w", u, err)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("%s has no jwks_uri", u)
	}
	return doc.JWKSURI, nil
}

func decodeHeader(token string, dst any) error {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return errors.New("no header segment")
	}
	raw, err := jwt.NewParser().DecodeSegment(head)
	if err != nil {
		return fmt.Errorf("decode header: %w", err)
	}
	return json.Unmarshal(raw, dst)
}

func stringClaim(c jwt.MapClaims, name string) string {
	s, _ := c[name].(string)
	return s
}

func unauthenticated(detail string, cause error) error {
	return &problem.Error{Code: problem.CodeUnauthenticated, Detail: detail, Err: cause}
}

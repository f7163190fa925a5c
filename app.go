package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"

	apimanagement "github.com/booga-enterprise/functions/functions/api-management"
	"github.com/booga-enterprise/functions/functions/files"
	"github.com/booga-enterprise/functions/functions/health"
	"github.com/booga-enterprise/functions/functions/integrations"
	"github.com/booga-enterprise/functions/functions/organizations"
	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/redis"
	"github.com/booga-enterprise/functions/shared/apikeys"
	"github.com/booga-enterprise/functions/shared/azure"
	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/discovery"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/idempotency"
	"github.com/booga-enterprise/functions/shared/identity"
	"github.com/booga-enterprise/functions/shared/openapi"
	"github.com/booga-enterprise/functions/shared/platform"
	"github.com/booga-enterprise/functions/shared/ratelimit"
	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/usage"
)

// app is every long-lived dependency of one process.
type app struct {
	cfg      config.Config
	logger   *slog.Logger
	pool     *pgxpool.Pool
	rdb      *goredis.Client
	keys     *apikeys.Service
	verifier *apikeys.Verifier
	limiter  *ratelimit.Limiter
	usage    *usage.Recorder
	registry *registry.Registry
	server   *platform.Server
	files    *files.Service
	// integrations is the webhook plugin, whose relay and functions the
	// handler wires in.
	integrations *integrations.Module
	// secrets is Key Vault in Azure; nil locally, where secrets are
	// environment variables.
	secrets azure.SecretSource
	now     func() time.Time
	// redisPrefix isolates tests that share one Redis; empty in production.
	redisPrefix string
}

// appOptions are the seams tests use: a clock for rate-limit windows and
// expiry, and a Redis key prefix so parallel tests share one Redis.
type appOptions struct {
	Now         func() time.Time
	RedisPrefix string
}

// newApp connects to PostgreSQL and Redis and registers every route. It does
// not wait for either service: until they respond, requests fail and
// /api/health reports which one is down.
func newApp(ctx context.Context, cfg config.Config) (*app, error) {
	return newAppWith(ctx, cfg, appOptions{})
}

func newAppWith(ctx context.Context, cfg config.Config, opts appOptions) (*app, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &app{cfg: cfg, logger: slog.Default()}
	if err := a.connect(ctx); err != nil {
		return nil, err
	}

	a.registry = registry.New()
	a.keys = &apikeys.Service{Iterations: cfg.PBKDF2Iterations, RotationGrace: cfg.RotationGrace,
		Capabilities: a.registry.Capabilities, Now: opts.Now}
	a.verifier = apikeys.NewVerifier(a.pool, a.rdb, apikeys.VerifierOptions{CacheTTL: cfg.KeyCacheTTL,
		FailureLimit: cfg.AuthFailureLimit, RedisPrefix: opts.RedisPrefix, Now: opts.Now})
	a.limiter = ratelimit.New(a.rdb, ratelimit.Options{FailClosed: cfg.RateLimitFailClosed, KeyPrefix: opts.RedisPrefix, Clock: opts.Now})
	a.usage = usage.NewRecorder(a.rdb, a.pool, usage.RecorderOptions{FlushInterval: cfg.UsageFlushInterval,
		Stream: opts.RedisPrefix + usage.DefaultStream, BufferSize: cfg.UsageBufferSize,
		BatchSize: cfg.UsageBatchSize, StreamMaxLen: int64(cfg.UsageStreamMaxLen)})

	a.registerRoutes(opts.Now)

	a.server = &platform.Server{
		Registry:    a.registry,
		Pool:        a.pool,
		Keys:        a.verifier,
		Limiter:     a.limiter,
		Usage:       a.usage,
		Idempotency: &idempotency.Store{Pool: a.pool, Retention: cfg.IdempotencyTTL, Now: opts.Now},
		FrontDoorID: cfg.FrontDoorID,
		Now:         opts.Now,
		Logger:      a.logger,
	}
	if cfg.OIDCIssuer != "" {
		users, err := newUserAuthenticator(ctx, cfg, a.pool, opts.Now)
		if err != nil {
			a.close()
			return nil, err
		}
		a.server.Users = users
	}
	a.redisPrefix = opts.RedisPrefix
	a.now = opts.Now
	return a, nil
}

// newUserAuthenticator signs users in with OpenID Connect bearer tokens. The
// key set refresh stops when ctx ends.
func newUserAuthenticator(ctx context.Context, cfg config.Config, pool *pgxpool.Pool, now func() time.Time) (*identity.Authenticator, error) {
	v, err := identity.NewValidator(ctx, identity.ValidatorOptions{Issuer: cfg.OIDCIssuer, Audience: cfg.OIDCAudience,
		JWKSURL: cfg.OIDCJWKSURL, TenantClaim: cfg.OIDCTenantClaim, SubjectClaim: cfg.OIDCSubjectClaim,
		RefreshInterval: cfg.OIDCJWKSRefresh, Now: now})
	if err != nil {
		return nil, fmt.Errorf("configure user sign-in: %w", err)
	}
	return &identity.Authenticator{Validator: v, Pool: pool, Now: now}, nil
}

// connect opens the PostgreSQL pool and the Redis client. With
// DATABASE_AUTH or REDIS_AUTH set to entra, each new connection signs in with
// an Entra ID token for the managed identity instead of a password, and Key
// Vault is opened when KEY_VAULT_URL is set.
func (a *app) connect(ctx context.Context) error {
	cfg := a.cfg
	needsAzure := cfg.DatabaseAuth == config.AuthEntra || cfg.RedisAuth == config.AuthEntra || cfg.KeyVaultURL != ""
	var cred azcore.TokenCredential
	if needsAzure {
		var err error
		cred, err = azure.NewCredential(azure.CredentialOptions{ClientID: cfg.AzureClientID})
		if err != nil {
			return fmt.Errorf("create Azure credential: %w", err)
		}
	}

	pgOpts := postgres.Options{MaxConns: cfg.DatabaseMaxConns}
	if cfg.DatabaseAuth == config.AuthEntra {
		pgOpts.BeforeConnect = azure.PostgresBeforeConnect(cred)
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, pgOpts)
	if err != nil {
		return err
	}

	var entraErr error
	rdb, err := redis.Open(cfg.RedisURL, func(o *goredis.Options) {
		if cfg.RedisAuth == config.AuthEntra {
			entraErr = azure.UseRedisEntra(o, cred)
		}
	})
	if err == nil {
		err = entraErr
	}
	if err != nil {
		pool.Close()
		return err
	}

	if cfg.KeyVaultURL != "" {
		kv, err := azure.NewKeyVaultSecrets(cfg.KeyVaultURL, cred, azure.KeyVaultOptions{TTL: cfg.KeyVaultSecretTTL})
		if err != nil {
			pool.Close()
			_ = rdb.Close()
			return fmt.Errorf("open Key Vault: %w", err)
		}
		a.secrets = kv
	}
	a.pool, a.rdb = pool, rdb
	return nil
}

// registerRoutes adds every plugin's routes to a.registry. It only stores
// the handlers, so the openapi and sdk commands call it on an app without
// connections.
func (a *app) registerRoutes(now func() time.Time) {
	(&health.Handler{Pool: a.pool, Redis: a.rdb}).Register(a.registry)
	keyHandlers := &apimanagement.Handlers{Keys: a.keys, Verifier: a.verifier, Invalidator: invalidator{a}, Now: now}
	keyHandlers.Register(a.registry)
	apimanagement.RegisterUsage(a.registry, now)
	(&organizations.Handlers{Keys: invalidator{a}, Now: now}).Register(a.registry)
	a.registerFiles(now)
	a.integrations = integrations.Register(a.registry, integrations.Options{Config: a.cfg, Pool: a.pool, Logger: a.logger})
	discovery.Register(a.registry, discovery.Options{DocsFile: a.cfg.APIDocsFile, OpenAPI: openapi.Options{Events: events.OpenAPITypes()}})
}

// invalidator makes a revoke or rotate take effect on every instance at once.
type invalidator struct{ a *app }

func (i invalidator) Invalidate(ctx context.Context, keyID string, revoked bool) {
	if revoked {
		if err := i.a.limiter.MarkRevoked(ctx, keyID, i.a.cfg.KeyCacheTTL+time.Minute); err != nil {
			i.a.logger.WarnContext(ctx, "mark api key revoked in Redis failed", "key_id", keyID, "error", err)
		}
	}
	i.a.verifier.Invalidate(ctx, keyID)
}

// handler routes /api/... to the API and everything else to the
// custom-handler invocation endpoint (POST /{FunctionName}, and the host's
// probe of /).
func (a *app) handler() http.Handler {
	api := a.integrations.Middleware(a.server.APIHandler())
	invocations := a.invocationHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") || r.URL.Path == "/api" {
			api.ServeHTTP(w, r)
			return
		}
		invocations.ServeHTTP(w, r)
	})
}

// background starts the work every serving process does besides requests.
func (a *app) background(ctx context.Context) {
	go a.verifier.Run(ctx, 30*time.Second)
	go func() {
		// Usage analytics join on these rows; serving does not wait for them.
		if err := discovery.Persist(ctx, a.pool, a.registry); err != nil {
			a.logger.WarnContext(ctx, "persist endpoint registry failed", "error", err)
		}
	}()
}

func (a *app) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.usage.Close(ctx); err != nil {
		a.logger.Warn("flush usage records failed", "error", err)
	}
	a.verifier.FlushLastUsed(ctx)
	_ = a.rdb.Close()
	a.pool.Close()
}

func apiKeyRequest(name string, scopes []string) apikeys.CreateRequest {
	return apikeys.CreateRequest{Name: name, Scopes: scopes}
}

// Package config loads the platform's one Config from environment variables.
//
// Every variable the code reads is declared once in the settings table below, so
// the README table, local.settings.sample.json and the Bicep app settings can be
// checked against it by tests.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Environment names the deployment stage. Local is the embedded developer mode.
type Environment string

// Known environments.
const (
	EnvLocal Environment = "local"
	EnvDev   Environment = "dev"
	EnvBeta  Environment = "beta"
	EnvProd  Environment = "prod"
)

// Setting describes one environment variable the platform reads.
type Setting struct {
	Name        string
	Default     string
	Description string
	Secret      bool // masked when the config is logged
	Required    bool
}

// settings lists every environment variable the code reads, in README order.
var settings = []Setting{
	{Name: "APP_ENV", Default: "local", Description: "Deployment stage: local, dev, beta or prod."},
	{Name: "LOG_LEVEL", Default: "info", Description: "Minimum log level: debug, info, warn or error."},
	{Name: "FUNCTIONS_CUSTOMHANDLER_PORT", Default: "", Description: "Port the handler listens on; set by the Functions host. Local mode defaults to 7071."},
	{Name: "DATABASE_URL", Required: true, Secret: true, Description: "PostgreSQL connection URL. Its user runs migrations and owns the tables; pooled connections switch to the booga_app role, which row-level security applies to."},
	{Name: "DATABASE_MAX_CONNS", Default: "20", Description: "Maximum connections in the PostgreSQL pool."},
	{Name: "REDIS_URL", Required: true, Secret: true, Description: "Redis URL (redis:// or rediss://) for rate limits, key-cache invalidation and the usage stream."},
	{Name: "APIKEY_PBKDF2_ITERATIONS", Default: "600000", Description: "PBKDF2-HMAC-SHA256 iterations for new API keys (OWASP 2023 figure); stored per key."},
	{Name: "APIKEY_CACHE_TTL", Default: "60s", Description: "How long a verified API key stays in the in-process cache."},
	{Name: "APIKEY_ROTATION_GRACE", Default: "24h", Description: "How long the previous secret of a rotated key keeps working."},
	{Name: "AUTH_FAILURE_LIMIT", Default: "20", Description: "Failed API-key attempts allowed per key prefix and per client address each minute before 429."},
	{Name: "RATE_LIMIT_PER_MINUTE", Default: "600", Description: "Default per-key requests per minute for new tenants."},
	{Name: "RATE_LIMIT_PER_HOUR", Default: "20000", Description: "Default per-key requests per hour for new tenants."},
	{Name: "RATE_LIMIT_REDIS_DOWN", Default: "open", Description: "When Redis is unreachable: open (enforce limits per instance in memory) or closed (answer 503)."},
	{Name: "FRONT_DOOR_ID", Default: "", Description: "Front Door profile id (X-Azure-FDID). When set, X-Azure-SocketIP is trusted only on requests carrying this id."},
	{Name: "IDEMPOTENCY_RETENTION", Default: "24h", Description: "How long Idempotency-Key records are kept and replayed."},
	{Name: "API_DOCS_FILE", Default: "api-docs.html", Description: "HTML API reference served at /api/api-management/docs, built by scripts/build (relative to the working directory)."},
	{Name: "USAGE_FLUSH_INTERVAL", Default: "200ms", Description: "How often buffered usage records are written to the Redis stream."},
	{Name: "USAGE_BUFFER_SIZE", Default: "10000", Description: "Usage records buffered in memory per instance; records beyond it are dropped and counted."},
	{Name: "USAGE_BATCH_SIZE", Default: "500", Description: "Most usage records in one flushed batch, which becomes one entry of the usage Redis stream."},
	{Name: "USAGE_STREAM_MAX_LEN", Default: "100000", Description: "Approximate maximum number of entries in the usage Redis stream (XADD MAXLEN ~); each entry is one flushed batch of up to USAGE_BATCH_SIZE records. Entries trimmed before a drain reads them are lost, so keep it above the largest expected backlog."},

	// Azure access. Locally all of these stay empty or at their defaults and the
	// platform uses DATABASE_URL and REDIS_URL with passwords, the PostgreSQL
	// queue and environment variables for secrets.
	{Name: "AZURE_CLIENT_ID", Default: "", Description: "Client id of the Function App's user-assigned managed identity. When set, every Azure service is reached with that identity; when empty, with the developer's Azure CLI or environment credentials."},
	{Name: "DATABASE_AUTH", Default: "password", Description: "How pooled PostgreSQL connections authenticate: password (the one in DATABASE_URL) or entra (a fresh Entra ID access token for the identity as the password; DATABASE_URL then names the identity as its user and has no password)."},
	{Name: "REDIS_AUTH", Default: "password", Description: "How Redis connections authenticate: password (the one in REDIS_URL) or entra (an Entra ID access token; REDIS_URL then names the identity's object id as its user)."},
	{Name: "KEY_VAULT_URL", Default: "", Description: "Key Vault URL (https://NAME.vault.azure.net/) that secrets are loaded from. When empty, secrets come from environment variables."},
	{Name: "KEY_VAULT_SECRET_TTL", Default: "5m", Description: "How long a secret loaded from Key Vault is cached before the next read fetches it again."},
	{Name: "SERVICEBUS_NAMESPACE", Default: "", Description: "Fully qualified Service Bus namespace (NAME.servicebus.windows.net) that messages are sent to. When empty, the PostgreSQL queue table is used."},
	{Name: "BLOB_ACCOUNT_URL", Default: "", Description: "Blob service URL of the storage account (https://NAME.blob.core.windows.net/) reached with the managed identity. When empty, the local Azurite emulator is used."},
	// User sign-in with OpenID Connect bearer tokens (Microsoft Entra ID in
	// production). With OIDC_ISSUER empty, only API keys authenticate.
	{Name: "OIDC_ISSUER", Default: "", Description: "Issuer URL that user tokens must carry in iss, such as https://login.microsoftonline.com/{tenantid}/v2.0; {tenantid} stands for the token's tenant claim. Empty turns user sign-in off."},
	{Name: "OIDC_AUDIENCE", Default: "", Description: "Audience that user tokens must carry in aud: the API's application id URI or client id. Required with OIDC_ISSUER."},
	{Name: "OIDC_JWKS_URL", Default: "", Description: "JSON Web Key Set URL of the issuer. Empty reads jwks_uri from the issuer's /.well-known/openid-configuration."},
	{Name: "OIDC_TENANT_CLAIM", Default: "tid", Description: "Token claim naming the user's directory, matched against each tenant's linked entra_tenant_id."},
	{Name: "OIDC_SUBJECT_CLAIM", Default: "oid", Description: "Token claim that identifies a person for good: oid for Entra ID, sub for most other providers."},
	{Name: "OIDC_JWKS_REFRESH_INTERVAL", Default: "1h", Description: "How often the key set is fetched again in the background. A token signed with an unknown key id also triggers a fetch, at most once a minute."},

	// Files plugin.
	{Name: "FILES_MAX_FILE_BYTES", Default: "5368709120", Description: "Largest file a tenant may upload, in bytes, unless the tenant's file_quotas row sets another."},
	{Name: "FILES_TENANT_QUOTA_BYTES", Default: "107374182400", Description: "Total bytes of stored files per tenant, soft-deleted files included, unless the tenant's file_quotas row sets another."},
	{Name: "FILES_DELETED_RETENTION", Default: "720h", Description: "How long a deleted file's blob and metadata are kept before the clean-up timer removes them."},
	{Name: "FILES_UPLOAD_TTL", Default: "24h", Description: "How long a two-step upload session stays open, and how long a multipart upload may stay unfinished before the clean-up timer removes it."},

	// Webhooks.
	{Name: "WEBHOOK_TIMEOUT", Default: "10s", Description: "Time limit of one webhook delivery attempt, connection and response included."},
	{Name: "WEBHOOK_CONCURRENCY", Default: "16", Description: "Webhook attempts one invocation of webhook-delivery sends at once."},
	{Name: "WEBHOOK_DISABLE_AFTER", Default: "120h", Description: "How long every attempt to a webhook endpoint may fail before the endpoint is disabled and a webhook.endpoint.disabled event is sent."},
	{Name: "WEBHOOK_SECRET_OVERLAP", Default: "24h", Description: "How long the previous secret of a webhook endpoint keeps signing, beside the new one, after a rotation."},
	{Name: "WEBHOOKS_ALLOW_LOOPBACK", Default: "false", Description: "Development only: true lets webhooks reach 127.0.0.0/8 and ::1. Rejected unless APP_ENV is local."},
}

// Settings returns a copy of the table of every variable the code reads.
func Settings() []Setting {
	out := make([]Setting, len(settings))
	copy(out, settings)
	return out
}

// Config is the validated configuration of one process.
type Config struct {
	Env              Environment
	LogLevel         slog.Level
	Port             string
	DatabaseURL      string
	DatabaseMaxConns int32
	RedisURL         string

	PBKDF2Iterations    int
	KeyCacheTTL         time.Duration
	RotationGrace       time.Duration
	AuthFailureLimit    int
	RateLimitPerMinute  int
	RateLimitPerHour    int
	RateLimitFailClosed bool
	FrontDoorID         string
	IdempotencyTTL      time.Duration
	UsageFlushInterval  time.Duration
	APIDocsFile         string
	UsageBufferSize     int
	UsageBatchSize      int
	UsageStreamMaxLen   int

	AzureClientID       string
	DatabaseAuth        AuthMode
	RedisAuth           AuthMode
	KeyVaultURL         string
	KeyVaultSecretTTL   time.Duration
	ServiceBusNamespace string
	BlobAccountURL      string

	OIDCIssuer            string
	OIDCAudience          string
	OIDCJWKSURL           string
	OIDCTenantClaim       string
	OIDCSubjectClaim      string
	OIDCJWKSRefresh       time.Duration
	FilesMaxFileBytes     int64
	FilesTenantQuota      int64
	FilesDeletedRetention time.Duration
	FilesUploadTTL        time.Duration
	WebhookTimeout        time.Duration
	WebhookConcurrency    int
	WebhookDisableAfter   time.Duration
	WebhookSecretOverlap  time.Duration
	// WebhooksAllowLoopback is only ever true when Env is EnvLocal.
	WebhooksAllowLoopback bool
}

// AuthMode is the authentication method of a PostgreSQL or Redis connection.
type AuthMode string

// Authentication modes for DATABASE_AUTH and REDIS_AUTH.
const (
	AuthPassword AuthMode = "password" // the password in the connection URL
	AuthEntra    AuthMode = "entra"    // an Entra ID access token for the managed identity
)

// LookupFunc reads one variable; os.LookupEnv in production, a map in tests.
type LookupFunc func(string) (string, bool)

// Load reads and validates the configuration from the process environment.
func Load() (Config, error) { return LoadFrom(os.LookupEnv) }

// LoadFrom reads and validates the configuration through lookup. Every invalid
// setting is reported, not only the first.
func LoadFrom(lookup LookupFunc) (Config, error) {
	r := reader{lookup: lookup}
	c := Config{
		Env:                Environment(r.str("APP_ENV")),
		Port:               r.str("FUNCTIONS_CUSTOMHANDLER_PORT"),
		DatabaseURL:        r.str("DATABASE_URL"),
		DatabaseMaxConns:   int32(r.integer("DATABASE_MAX_CONNS", 1, 1000)),
		RedisURL:           r.str("REDIS_URL"),
		PBKDF2Iterations:   r.integer("APIKEY_PBKDF2_ITERATIONS", 1000, 10_000_000),
		KeyCacheTTL:        r.duration("APIKEY_CACHE_TTL", time.Second, time.Hour),
		RotationGrace:      r.duration("APIKEY_ROTATION_GRACE", 0, 30*24*time.Hour),
		AuthFailureLimit:   r.integer("AUTH_FAILURE_LIMIT", 1, 100_000),
		RateLimitPerMinute: r.integer("RATE_LIMIT_PER_MINUTE", 1, 10_000_000),
		RateLimitPerHour:   r.integer("RATE_LIMIT_PER_HOUR", 1, 100_000_000),
		FrontDoorID:        r.str("FRONT_DOOR_ID"),
		IdempotencyTTL:     r.duration("IDEMPOTENCY_RETENTION", time.Minute, 30*24*time.Hour),
		UsageFlushInterval: r.duration("USAGE_FLUSH_INTERVAL", 10*time.Millisecond, time.Minute),
		APIDocsFile:        r.str("API_DOCS_FILE"),
		UsageBufferSize:    r.integer("USAGE_BUFFER_SIZE", 1, 10_000_000),
		UsageBatchSize:     r.integer("USAGE_BATCH_SIZE", 1, 100_000),
		UsageStreamMaxLen:  r.integer("USAGE_STREAM_MAX_LEN", 100, 1_000_000_000),

		AzureClientID:       r.str("AZURE_CLIENT_ID"),
		DatabaseAuth:        r.authMode("DATABASE_AUTH"),
		RedisAuth:           r.authMode("REDIS_AUTH"),
		KeyVaultURL:         r.str("KEY_VAULT_URL"),
		KeyVaultSecretTTL:   r.duration("KEY_VAULT_SECRET_TTL", time.Second, 24*time.Hour),
		ServiceBusNamespace: r.str("SERVICEBUS_NAMESPACE"),
		BlobAccountURL:      r.str("BLOB_ACCOUNT_URL"),
		OIDCIssuer:          r.str("OIDC_ISSUER"),
		OIDCAudience:        r.str("OIDC_AUDIENCE"),
		OIDCJWKSURL:         r.str("OIDC_JWKS_URL"),
		OIDCTenantClaim:     r.str("OIDC_TENANT_CLAIM"),
		OIDCSubjectClaim:    r.str("OIDC_SUBJECT_CLAIM"),
		OIDCJWKSRefresh:     r.duration("OIDC_JWKS_REFRESH_INTERVAL", time.Minute, 7*24*time.Hour),

		FilesMaxFileBytes:     int64(r.integer("FILES_MAX_FILE_BYTES", 1, 1<<50)),
		FilesTenantQuota:      int64(r.integer("FILES_TENANT_QUOTA_BYTES", 1, 1<<55)),
		FilesDeletedRetention: r.duration("FILES_DELETED_RETENTION", 0, 10*365*24*time.Hour),
		FilesUploadTTL:        r.duration("FILES_UPLOAD_TTL", time.Minute, 7*24*time.Hour),

		WebhookTimeout:        r.duration("WEBHOOK_TIMEOUT", 100*time.Millisecond, time.Minute),
		WebhookConcurrency:    r.integer("WEBHOOK_CONCURRENCY", 1, 1024),
		WebhookDisableAfter:   r.duration("WEBHOOK_DISABLE_AFTER", time.Hour, 90*24*time.Hour),
		WebhookSecretOverlap:  r.duration("WEBHOOK_SECRET_OVERLAP", 0, 30*24*time.Hour),
		WebhooksAllowLoopback: r.boolean("WEBHOOKS_ALLOW_LOOPBACK"),
	}

	switch c.Env {
	case EnvLocal, EnvDev, EnvBeta, EnvProd:
	default:
		r.fail("APP_ENV", "must be local, dev, beta or prod, got %q", c.Env)
	}
	if err := c.LogLevel.UnmarshalText([]byte(r.str("LOG_LEVEL"))); err != nil {
		r.fail("LOG_LEVEL", "must be debug, info, warn or error")
	}
	if c.Port != "" {
		if p, err := strconv.Atoi(c.Port); err != nil || p < 1 || p > 65535 {
			r.fail("FUNCTIONS_CUSTOMHANDLER_PORT", "must be a port number from 1 to 65535, got %q", c.Port)
		}
	}
	r.url("DATABASE_URL", c.DatabaseURL, "postgres", "postgresql")
	r.url("REDIS_URL", c.RedisURL, "redis", "rediss")
	switch mode := r.str("RATE_LIMIT_REDIS_DOWN"); mode {
	case "open":
	case "closed":
		c.RateLimitFailClosed = true
	default:
		r.fail("RATE_LIMIT_REDIS_DOWN", "must be open or closed, got %q", mode)
	}
	r.url("KEY_VAULT_URL", c.KeyVaultURL, "https")
	r.url("BLOB_ACCOUNT_URL", c.BlobAccountURL, "https", "http")
	if strings.Contains(c.ServiceBusNamespace, "://") || strings.Contains(c.ServiceBusNamespace, "/") {
		r.fail("SERVICEBUS_NAMESPACE", "must be a host name such as NAME.servicebus.windows.net, without a scheme or path, got %q", c.ServiceBusNamespace)
	}
	// Plain http is for a local test issuer only: a key set fetched over
	// http in Azure could be swapped in transit.
	oidcSchemes := []string{"https"}
	if c.Env == EnvLocal {
		oidcSchemes = append(oidcSchemes, "http")
	}
	r.url("OIDC_ISSUER", c.OIDCIssuer, oidcSchemes...)
	r.url("OIDC_JWKS_URL", c.OIDCJWKSURL, oidcSchemes...)
	if c.OIDCIssuer != "" && c.OIDCAudience == "" {
		r.fail("OIDC_AUDIENCE", "is required when OIDC_ISSUER is set: give the API's application id URI or client id")
	}
	if c.OIDCIssuer == "" && (c.OIDCAudience != "" || c.OIDCJWKSURL != "") {
		r.fail("OIDC_ISSUER", "is required when OIDC_AUDIENCE or OIDC_JWKS_URL is set")
	}
	if c.WebhooksAllowLoopback && c.Env != EnvLocal {
		r.fail("WEBHOOKS_ALLOW_LOOPBACK", "may be true only when APP_ENV is local, got APP_ENV %q", c.Env)
	}
	if c.RateLimitPerHour < c.RateLimitPerMinute {
		r.fail("RATE_LIMIT_PER_HOUR", "must be at least RATE_LIMIT_PER_MINUTE (%d)", c.RateLimitPerMinute)
	}
	return c, errors.Join(r.errs...)
}

// LogValue masks secrets so the whole Config can be logged at start-up.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("env", string(c.Env)),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("port", c.Port),
		slog.String("database_url", MaskURL(c.DatabaseURL)),
		slog.String("redis_url", MaskURL(c.RedisURL)),
		slog.Int("pbkdf2_iterations", c.PBKDF2Iterations),
		slog.Duration("key_cache_ttl", c.KeyCacheTTL),
		slog.Duration("rotation_grace", c.RotationGrace),
		slog.Bool("rate_limit_fail_closed", c.RateLimitFailClosed),
		slog.Bool("front_door", c.FrontDoorID != ""),
		slog.String("azure_client_id", c.AzureClientID),
		slog.String("database_auth", string(c.DatabaseAuth)),
		slog.String("redis_auth", string(c.RedisAuth)),
		slog.String("key_vault_url", c.KeyVaultURL),
		slog.String("servicebus_namespace", c.ServiceBusNamespace),
		slog.String("blob_account_url", c.BlobAccountURL),
		slog.String("oidc_issuer", c.OIDCIssuer),
		slog.String("oidc_audience", c.OIDCAudience),
		slog.Duration("webhook_timeout", c.WebhookTimeout),
		slog.Bool("webhooks_allow_loopback", c.WebhooksAllowLoopback),
	)
}

// MaskURL removes the password from a connection URL for logging.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

type reader struct {
	lookup LookupFunc
	errs   []error
}

func (r *reader) fail(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s %s", name, fmt.Sprintf(format, args...)))
}

func (r *reader) setting(name string) Setting {
	for _, s := range settings {
		if s.Name == name {
			return s
		}
	}
	panic("config: setting " + name + " is not declared in the settings table")
}

func (r *reader) str(name string) string {
	s := r.setting(name)
	v, ok := r.lookup(name)
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		if s.Required {
			r.fail(name, "is required: %s", s.Description)
		}
		return s.Default
	}
	return v
}

func (r *reader) integer(name string, lo, hi int) int {
	raw := r.str(name)
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		r.fail(name, "must be a whole number from %d to %d, got %q", lo, hi, raw)
		n, _ = strconv.Atoi(r.setting(name).Default)
	}
	return n
}

func (r *reader) duration(name string, lo, hi time.Duration) time.Duration {
	raw := r.str(name)
	d, err := time.ParseDuration(raw)
	if err != nil || d < lo || d > hi {
		r.fail(name, "must be a Go duration (such as 30s or 24h) from %s to %s, got %q", lo, hi, raw)
		d, _ = time.ParseDuration(r.setting(name).Default)
	}
	return d
}

func (r *reader) boolean(name string) bool {
	raw := r.str(name)
	b, err := strconv.ParseBool(raw)
	if err != nil {
		r.fail(name, "must be true or false, got %q", raw)
		return false
	}
	return b
}

func (r *reader) authMode(name string) AuthMode {
	switch m := AuthMode(r.str(name)); m {
	case AuthPassword, AuthEntra:
		return m
	default:
		r.fail(name, "must be password or entra, got %q", m)
		return AuthPassword
	}
}

func (r *reader) url(name, raw string, schemes ...string) {
	if raw == "" {
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		r.fail(name, "is not a valid URL")
		return
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return
		}
	}
	r.fail(name, "must use the scheme %s, got %q", strings.Join(schemes, " or "), u.Scheme)
}

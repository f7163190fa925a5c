package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/infra/redis/redistest"
	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/idempotency"
	"github.com/booga-enterprise/functions/shared/request"
	"github.com/booga-enterprise/functions/shared/tenancy"
)

// testPlatform is the whole handler on a loopback listener, backed by its
// own database and Redis prefix, with a clock the test controls.
type testPlatform struct {
	t   testing.TB
	app *app
	srv *httptest.Server
	mu  sync.Mutex
	now time.Time
}

func (p *testPlatform) clock() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.now
}

func (p *testPlatform) advance(d time.Duration) {
	p.mu.Lock()
	p.now = p.now.Add(d)
	p.mu.Unlock()
}

func testConfig(t testing.TB, databaseURL, redisURL string, env map[string]string) config.Config {
	t.Helper()
	values := map[string]string{
		"DATABASE_URL":             databaseURL,
		"REDIS_URL":                redisURL,
		"APIKEY_PBKDF2_ITERATIONS": "1000",
		"RATE_LIMIT_PER_MINUTE":    "600",
		"RATE_LIMIT_PER_HOUR":      "20000",
		"USAGE_FLUSH_INTERVAL":     "20ms",
	}
	for k, v := range env {
		values[k] = v
	}
	cfg, err := config.LoadFrom(func(k string) (string, bool) { v, ok := values[k]; return v, ok })
	require.NoError(t, err)
	return cfg
}

func newTestPlatform(t testing.TB, env map[string]string) *testPlatform {
	t.Helper()
	dbURL := pgtest.NewDatabase(t)
	_, prefix := redistest.New(t)
	redisURL := redistest.URL()
	if u, ok := env["REDIS_URL"]; ok {
		redisURL = u
	}
	p := &testPlatform{t: t, now: time.Date(2026, 6, 1, 12, 0, 5, 0, time.UTC)}
	cfg := testConfig(t, dbURL, redisURL, env)
	ctx, cancel := context.WithCancel(context.Background())
	a, err := newAppWith(ctx, cfg, appOptions{Now: p.clock, RedisPrefix: prefix})
	require.NoError(t, err)
	a.background(ctx)
	p.app = a
	p.srv = httptest.NewServer(a.handler())
	t.Cleanup(func() {
		p.srv.Close()
		cancel()
		a.close()
	})
	return p
}

// tenant creates a tenant with an admin key, the way the command line does.
func (p *testPlatform) tenant(name string) tenancy.Created {
	return p.tenantWithLimits(name, 600, 20000)
}

func (p *testPlatform) tenantWithLimits(name string, perMinute, perHour int) tenancy.Created {
	p.t.Helper()
	created, err := tenancy.Create(context.Background(), p.app.pool, p.app.keys, tenancy.CreateRequest{
		Name: name, Type: request.Corporate, RateLimitPerMinute: perMinute, RateLimitPerHour: perHour})
	require.NoError(p.t, err)
	return created
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &m), "body: %s", r.Body)
	return m
}

// problemField returns the first field error's field name.
func (r response) problemField(t *testing.T) string {
	t.Helper()
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), "body: %s", r.Body)
	errs, _ := r.json(t)["errors"].([]any)
	require.NotEmpty(t, errs, "body: %s", r.Body)
	return errs[0].(map[string]any)["field"].(string)
}

func (p *testPlatform) do(method, path, key string, body any, headers ...string) response {
	p.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(p.t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, p.srv.URL+path, rd)
	require.NoError(p.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(p.t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(p.t, err)
	return response{Status: res.StatusCode, Header: res.Header, Body: raw}
}

func TestHealth_ReportsDependencies(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	res := p.do("GET", "/api/health", "", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	checks := res.json(t)["checks"].(map[string]any)
	require.Equal(t, "up", checks["postgres"].(map[string]any)["status"])
	require.Equal(t, "up", checks["redis"].(map[string]any)["status"])
}

func TestHealth_RedisDown503(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"})
	res := p.do("GET", "/api/health", "", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.Status)
	checks := res.json(t)["checks"].(map[string]any)
	require.Equal(t, "down", checks["redis"].(map[string]any)["status"])
	require.Equal(t, "up", checks["postgres"].(map[string]any)["status"])
	require.NotContains(t, string(res.Body), "127.0.0.1", "the cause stays in the log")
}

func TestCurrentKey_HeadersAndState(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	tenant := p.tenant("Acme")

	res := p.do("GET", "/api/api-management/keys/current", tenant.APIKey, nil, "X-Request-ID", "trace-123")
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	for h, want := range map[string]string{
		"X-RateLimit-Limit-Minute":     "600",
		"X-RateLimit-Remaining-Minute": "599",
		"X-RateLimit-Limit-Hour":       "20000",
		"X-RateLimit-Remaining-Hour":   "19999",
		"X-Request-ID":                 "trace-123",
		"RateLimit-Policy":             `"minute";q=600;w=60, "hour";q=20000;w=3600`,
	} {
		require.Equal(t, want, res.Header.Get(h), h)
	}
	require.NotEmpty(t, res.Header.Get("RateLimit"))
	require.Regexp(t, `^\d+\.\d{3}$`, res.Header.Get("X-Response-Time"))

	body := res.json(t)
	require.Equal(t, tenant.KeyID, body["key"].(map[string]any)["id"])
	require.InDelta(t, 599, body["rate_limit"].(map[string]any)["remaining_per_minute"], 0)
	require.NotContains(t, string(res.Body), tenant.APIKey[16:], "the secret is never returned again")

	res = p.do("GET", "/api/api-management/keys/current", tenant.APIKey, nil, "X-Request-ID", "bad id with spaces")
	require.Regexp(t, `^req_[0-9a-z]{26}$`, res.Header.Get("X-Request-ID"), "an unusable request id is replaced")
}

func TestAuth_Rejections(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	tenant := p.tenant("Acme")
	cases := map[string]struct {
		headers []string
		status  int
	}{
		"NoCredential":   {nil, http.StatusUnauthorized},
		"BasicScheme":    {[]string{"Authorization", "Basic dXNlcjpwYXNz"}, http.StatusUnauthorized},
		"Garbage":        {[]string{"Authorization", "Bearer nonsense"}, http.StatusUnauthorized},
		"WrongSecret":    {[]string{"X-API-Key", tenant.APIKey[:len(tenant.APIKey)-4] + "AAAA"}, http.StatusUnauthorized},
		"XAPIKeyHeader":  {[]string{"X-API-Key", tenant.APIKey}, http.StatusOK},
		"BearerLowerCas": {[]string{"Authorization", "bearer " + tenant.APIKey}, http.StatusOK},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res := p.do("GET", "/api/api-management/keys", "", nil, tc.headers...)
			require.Equal(t, tc.status, res.Status, "body: %s", res.Body)
			if tc.status == http.StatusUnauthorized {
				require.Equal(t, `Bearer realm="api"`, res.Header.Get("WWW-Authenticate"))
				require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			}
		})
	}
}

func TestKeys_Lifecycle(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	tenant := p.tenant("Acme")

	res := p.do("POST", "/api/api-management/keys", tenant.APIKey, map[string]any{
		"name": "reader", "scopes": []string{"files:read", "api_keys:read"}, "rate_limit_per_minute": 5})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	created := res.json(t)
	readerKey := created["api_key"].(string)
	readerID := created["id"].(string)
	require.Equal(t, "/api/api-management/keys/"+readerID, res.Header.Get("Location"))

	res = p.do("GET", "/api/api-management/keys/"+readerID+"/", tenant.APIKey, nil)
	require.Equal(t, http.StatusOK, res.Status, "a trailing slash is served without a redirect")
	require.NotContains(t, res.json(t), "api_key")

	res = p.do("PATCH", "/api/api-management/keys/"+readerID, tenant.APIKey, map[string]any{"name": "renamed", "rate_limit_per_minute": nil})
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	require.Equal(t, "renamed", res.json(t)["name"])
	require.Nil(t, res.json(t)["rate_limit_per_minute"])

	// The reader key can read but not manage, and cannot widen itself.
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", readerKey, nil).Status)
	res = p.do("POST", "/api/api-management/keys", readerKey, map[string]any{"name": "x", "scopes": []string{"files:read"}})
	require.Equal(t, http.StatusForbidden, res.Status)
	require.Contains(t, res.json(t)["detail"], "api_keys:manage")

	// Rotate: the new secret works and the old one keeps working during the grace period.
	res = p.do("POST", "/api/api-management/keys/"+readerID+"/rotate", tenant.APIKey, nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	rotatedKey := res.json(t)["api_key"].(string)
	require.NotEqual(t, readerKey, rotatedKey)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", rotatedKey, nil).Status)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", readerKey, nil).Status)
	p.advance(25 * time.Hour)
	require.Equal(t, http.StatusUnauthorized, p.do("GET", "/api/api-management/keys/current", readerKey, nil).Status)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", rotatedKey, nil).Status)

	// Revoke takes effect on the very next request, although the key was cached.
	res = p.do("DELETE", "/api/api-management/keys/"+readerID, tenant.APIKey, nil)
	require.Equal(t, http.StatusNoContent, res.Status, "body: %s", res.Body)
	require.Equal(t, http.StatusUnauthorized, p.do("GET", "/api/api-management/keys/current", rotatedKey, nil).Status)
	require.Equal(t, http.StatusNoContent, p.do("DELETE", "/api/api-management/keys/"+readerID, tenant.APIKey, nil).Status, "revoking again changes nothing")
	res = p.do("GET", "/api/api-management/keys/"+readerID, tenant.APIKey, nil)
	require.Equal(t, "revoked", res.json(t)["status"])
	require.Equal(t, http.StatusConflict, p.do("POST", "/api/api-management/keys/"+readerID+"/rotate", tenant.APIKey, nil).Status)
}

func TestKeys_OtherTenantNotFound(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	acme := p.tenant("Acme")
	globex := p.tenant("Globex")

	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/api-management/keys/" + acme.KeyID},
		{"PATCH", "/api/api-management/keys/" + acme.KeyID},
		{"DELETE", "/api/api-management/keys/" + acme.KeyID},
		{"POST", "/api/api-management/keys/" + acme.KeyID + "/rotate"},
	} {
		var body any
		if tc.method == "PATCH" {
			body = map[string]any{"name": "stolen"}
		}
		res := p.do(tc.method, tc.path, globex.APIKey, body)
		require.Equal(t, http.StatusNotFound, res.Status, "%s %s: %s", tc.method, tc.path, res.Body)
	}
	res := p.do("GET", "/api/api-management/keys", globex.APIKey, nil)
	require.NotContains(t, string(res.Body), acme.KeyID)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", acme.APIKey, nil).Status)
}

func TestKeys_BadInput(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	tenant := p.tenant("Acme")
	cases := []struct {
		name   string
		body   string
		ctype  string
		status int
		field  string
	}{
		{"UnknownField", `{"name":"a","scopes":["files:read"],"colour":"red"}`, "", 400, "colour"},
		{"WrongType", `{"name":"a","scopes":"files:read"}`, "", 400, "scopes"},
		{"BadScope", `{"name":"a","scopes":["files:fly"]}`, "", 422, "scopes[0]"},
		{"MissingName", `{"scopes":["files:read"]}`, "", 422, "name"},
		{"BadCIDR", `{"name":"a","scopes":["files:read"],"allowed_ips":["300.1.1.1"]}`, "", 422, "allowed_ips[0]"},
		{"HourBelowMinute", `{"name":"a","scopes":["files:read"],"rate_limit_per_minute":10,"rate_limit_per_hour":5}`, "", 422, "rate_limit_per_hour"},
		{"BadExpiry", `{"name":"a","scopes":["files:read"],"expires_at":"yesterday"}`, "", 400, ""},
		{"NotJSON", `{"name":`, "", 400, ""},
		{"TrailingData", `{"name":"a","scopes":["files:read"]} {}`, "", 400, ""},
		{"Empty", ``, "", 400, ""},
		{"WrongMediaType", `name=a`, "application/x-www-form-urlencoded", 415, ""},
		{"TooLarge", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, "", 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			headers := []string{}
			if tc.ctype != "" {
				headers = append(headers, "Content-Type", tc.ctype)
			}
			res := p.do("POST", "/api/api-management/keys", tenant.APIKey, tc.body, headers...)
			require.Equal(t, tc.status, res.Status, "body: %s", res.Body)
			require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			if tc.field != "" {
				require.Equal(t, tc.field, res.problemField(t))
			}
		})
	}

	res := p.do("GET", "/api/api-management/keys?cursor=!!!", tenant.APIKey, nil)
	require.Equal(t, http.StatusBadRequest, res.Status)
	require.Equal(t, "cursor", res.problemField(t))
	res = p.do("GET", "/api/api-management/keys?limit=1000", tenant.APIKey, nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	require.Equal(t, "limit", res.problemField(t))
	res = p.do("GET", "/api/api-management/keys/key_nope", tenant.APIKey, nil)
	require.Equal(t, http.StatusNotFound, res.Status)

	res = p.do("GET", "/api/files/anything", tenant.APIKey, nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
	res = p.do("PUT", "/api/api-management/keys", tenant.APIKey, nil)
	require.Equal(t, http.StatusMethodNotAllowed, res.Status)
}

func TestKeys_Pagination(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	tenant := p.tenant("Acme")
	for i := 0; i < 5; i++ {
		res := p.do("POST", "/api/api-management/keys", tenant.APIKey, map[string]any{"name": fmt.Sprint("k", i), "scopes": []string{"files:read"}})
		require.Equal(t, http.StatusCreated, res.Status)
	}
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		res := p.do("GET", "/api/api-management/keys?limit=2&cursor="+cursor, tenant.APIKey, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		body := res.json(t)
		for _, k := range body["data"].([]any) {
			id := k.(map[string]any)["id"].(string)
			require.False(t, seen[id], "no key twice")
			seen[id] = true
		}
		if pages == 0 {
			// A key created while paging does not shift later pages.
			res := p.do("POST", "/api/api-management/keys", tenant.APIKey, map[string]any{"name": "late", "scopes": []string{"files:read"}})
			require.Equal(t, http.StatusCreated, res.Status)
		}
		if !body["has_more"].(bool) {
			require.Empty(t, body["next_cursor"])
			break
		}
		cursor = body["next_cursor"].(string)
	}
	require.Len(t, seen, 6, "five keys and the admin key")
}

func TestDeveloperTenant_KeyEndpointsForbidden(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	dev, err := tenancy.Create(context.Background(), p.app.pool, p.app.keys, tenancy.CreateRequest{
		Name: "Dev", Type: request.Developer, RateLimitPerMinute: 60, RateLimitPerHour: 600})
	require.NoError(t, err)
	require.Empty(t, dev.APIKey, "developer tenants get no key")
	require.NotEmpty(t, dev.UserID)

	// Developer tenants cannot create keys, so a key row planted in one
	// stands for a developer-tenant caller of the key endpoints.
	var planted string
	require.NoError(t, postgres.InTenant(context.Background(), p.app.pool, dev.ID, func(tx pgx.Tx) error {
		k, err := p.app.keys.CreateAdmin(context.Background(), tx, dev.ID, "planted")
		planted = k.APIKey
		return err
	}))
	for _, path := range []string{"/api/api-management/keys", "/api/api-management/keys/current", "/api/api-management/usage"} {
		res := p.do("GET", path, planted, nil)
		require.Equal(t, http.StatusForbidden, res.Status, "%s: %s", path, res.Body)
		require.Contains(t, res.json(t)["detail"], "Developer tenants")
	}
}

func TestIPAllowList(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, map[string]string{"FRONT_DOOR_ID": "fd-test-id"})
	tenant := p.tenant("Acme")
	mk := func(cidrs ...string) string {
		res := p.do("POST", "/api/api-management/keys", tenant.APIKey, map[string]any{"name": "ip", "scopes": []string{"api_keys:read"}, "allowed_ips": cidrs})
		require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
		return res.json(t)["api_key"].(string)
	}
	loopback := mk("127.0.0.0/8", "::1/128")
	remote := mk("203.0.113.0/24", "2001:db8::/32")

	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", loopback, nil).Status)
	res := p.do("GET", "/api/api-management/keys/current", remote, nil)
	require.Equal(t, http.StatusForbidden, res.Status)
	require.Contains(t, res.json(t)["detail"], "127.0.0.1")

	spoofed := []string{"X-Forwarded-For", "203.0.113.7", "X-Azure-ClientIP", "203.0.113.7"}
	require.Equal(t, http.StatusForbidden, p.do("GET", "/api/api-management/keys/current", remote, nil, spoofed...).Status,
		"client-set forwarding headers are ignored")
	require.Equal(t, http.StatusForbidden, p.do("GET", "/api/api-management/keys/current", remote, nil,
		"X-Azure-FDID", "someone-elses-front-door", "X-Azure-SocketIP", "203.0.113.7").Status)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", remote, nil,
		"X-Azure-FDID", "fd-test-id", "X-Azure-SocketIP", "203.0.113.7").Status)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", remote, nil,
		"X-Azure-FDID", "fd-test-id", "X-Azure-SocketIP", "2001:db8::5").Status)
}

func TestRateLimit_ExactUnderConcurrency(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	tenant := p.tenant("Acme")
	res := p.do("POST", "/api/api-management/keys", tenant.APIKey, map[string]any{
		"name": "limited", "scopes": []string{"api_keys:read"}, "rate_limit_per_minute": 20, "rate_limit_per_hour": 1000})
	require.Equal(t, http.StatusCreated, res.Status)
	key := res.json(t)["api_key"].(string)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", key, nil).Status, "warm the key cache")

	var ok, limited atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", p.srv.URL+"/api/api-management/keys/current", nil)
			req.Header.Set("X-API-Key", key)
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			switch r.StatusCode {
			case http.StatusOK:
				ok.Add(1)
			case http.StatusTooManyRequests:
				limited.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 19, ok.Load(), "one of the 20 was the warm-up request")
	require.EqualValues(t, 31, limited.Load())

	res = p.do("GET", "/api/api-management/keys/current", key, nil)
	require.Equal(t, http.StatusTooManyRequests, res.Status)
	require.Equal(t, "55", res.Header.Get("Retry-After"), "the clock stands at 12:00:05")
	require.Equal(t, "0", res.Header.Get("X-RateLimit-Remaining-Minute"))
	require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))

	p.advance(time.Minute)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", key, nil).Status, "the next window admits again")
}

func TestIdempotency_CreateKey(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	tenant := p.tenant("Acme")
	body := map[string]any{"name": "once", "scopes": []string{"files:read"}}

	first := p.do("POST", "/api/api-management/keys", tenant.APIKey, body, "Idempotency-Key", "op-1")
	require.Equal(t, http.StatusCreated, first.Status, "body: %s", first.Body)
	again := p.do("POST", "/api/api-management/keys", tenant.APIKey, body, "Idempotency-Key", "op-1")
	require.Equal(t, http.StatusCreated, again.Status)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.JSONEq(t, string(first.Body), string(again.Body))

	res := p.do("POST", "/api/api-management/keys", tenant.APIKey, map[string]any{"name": "other", "scopes": []string{"files:read"}}, "Idempotency-Key", "op-1")
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)

	res = p.do("POST", "/api/api-management/keys", tenant.APIKey, map[string]any{"name": "bad", "scopes": []string{"nope:x"}}, "Idempotency-Key", "op-2")
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	res = p.do("POST", "/api/api-management/keys", tenant.APIKey, body, "Idempotency-Key", "op-2")
	require.Equal(t, http.StatusCreated, res.Status, "a failed request stores nothing, so its key can be retried")

	res = p.do("POST", "/api/api-management/keys", tenant.APIKey, body, "Idempotency-Key", "has space")
	require.Equal(t, http.StatusBadRequest, res.Status)
	require.Equal(t, "Idempotency-Key", res.problemField(t))

	// A first request still running makes a repeat 409.
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	hash := idempotency.RequestHash("POST", "/api/api-management/keys", raw)
	require.NoError(t, postgres.InTenant(context.Background(), p.app.pool, tenant.ID, func(tx pgx.Tx) error {
		_, err := tx.Exec(context.Background(), `
			INSERT INTO idempotency_records (tenant_id, principal_id, idempotency_key, method, path, request_hash, state, created_at, expires_at)
			VALUES ($1, $2, 'op-3', 'POST', '/api/api-management/keys', $3, 'running', $4, $5)`,
			tenant.ID, tenant.KeyID, hash, p.clock(), p.clock().Add(time.Hour))
		return err
	}))
	res = p.do("POST", "/api/api-management/keys", tenant.APIKey, body, "Idempotency-Key", "op-3")
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)

	var keys int
	require.NoError(t, postgres.InTenant(context.Background(), p.app.pool, tenant.ID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), `SELECT count(*) FROM api_keys WHERE name = 'once'`).Scan(&keys)
	}))
	require.Equal(t, 2, keys, "op-1 created one key, op-2 one")
}

func TestUsage_DrainAndReport(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	tenant := p.tenant("Acme")
	for i := 0; i < 3; i++ {
		require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys", tenant.APIKey, nil).Status)
	}
	require.Equal(t, http.StatusNotFound, p.do("GET", "/api/api-management/keys/key_01m91aj79d3xnnj8x3cxvch8x3", tenant.APIKey, nil).Status)
	require.NoError(t, p.app.usage.Close(context.Background()))

	payload, err := os.ReadFile("testdata/host/timer_null_status.json")
	require.NoError(t, err)
	drain := func() map[string]any {
		res, err := http.Post(p.srv.URL+"/usage-drain", "application/json", bytes.NewReader(payload))
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		var out map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&out))
		return out["ReturnValue"].(map[string]any)
	}
	first := drain()
	require.InDelta(t, 4, first["Inserted"], 0, "%v", first)
	second := drain()
	require.InDelta(t, 0, second["Inserted"], 0, "a second drain doubles nothing")

	// The frozen clock stamps every record at "now", and the range is half-open.
	from := p.clock().Add(-time.Hour).Format(time.RFC3339)
	to := p.clock().Add(time.Minute).Format(time.RFC3339)
	res := p.do("GET", "/api/api-management/usage?granularity=hour&from="+from+"&to="+to, tenant.APIKey, nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var report struct {
		Rows []struct {
			Endpoint     string `json:"endpoint"`
			Requests     int    `json:"requests"`
			ClientErrors int    `json:"client_errors"`
		} `json:"rows"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &report))
	counts := map[string][2]int{}
	for _, r := range report.Rows {
		counts[r.Endpoint] = [2]int{r.Requests, r.ClientErrors}
	}
	require.Equal(t, [2]int{3, 0}, counts["GET /api-management/keys"])
	require.Equal(t, [2]int{1, 1}, counts["GET /api-management/keys/{id}"])

	res = p.do("GET", "/api/api-management/usage?granularity=week", tenant.APIKey, nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	require.Equal(t, "granularity", res.problemField(t))
}

func TestInvocation_HostProbe(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	res := p.do("GET", "/", "", nil)
	require.Equal(t, http.StatusOK, res.Status)
	res = p.do("POST", "/no-such-function", "", `{"Data":{},"Metadata":{}}`)
	require.Equal(t, http.StatusNotFound, res.Status)
}

func TestHead_AnswersLikeGet(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	tenant := p.tenant("Acme")
	get := p.do("GET", "/api/api-management/keys/current", tenant.APIKey, nil)
	head := p.do("HEAD", "/api/api-management/keys/current", tenant.APIKey, nil)
	require.Equal(t, http.StatusOK, head.Status)
	require.Empty(t, head.Body)
	require.Equal(t, get.Header.Get("Content-Type"), head.Header.Get("Content-Type"))
	require.NotEmpty(t, head.Header.Get("X-RateLimit-Remaining-Minute"))
	require.Equal(t, http.StatusMethodNotAllowed, p.do("HEAD", "/api/api-management/keys/"+tenant.KeyID+"/rotate", tenant.APIKey, nil).Status)
}

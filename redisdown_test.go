package main

import (
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startRedis runs a private redis-server on a free loopback port, so the
// test can stop it without touching the shared one.
func startRedis(t *testing.T) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	require.NoError(t, cmd.Start(), "redis-server must be installed (scripts/test installs it)")
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port), stop
}

func TestRedisDown_FailOpen(t *testing.T) {
	t.Parallel()
	url, stop := startRedis(t)
	p := newTestPlatform(t, map[string]string{"REDIS_URL": url})
	tenant := p.tenant("Acme")
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", tenant.APIKey, nil).Status)

	stop()
	res := p.do("GET", "/api/api-management/keys/current", tenant.APIKey, nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	require.Equal(t, true, res.json(t)["rate_limit"].(map[string]any)["degraded"])
	require.NotEmpty(t, res.Header.Get("X-RateLimit-Remaining-Minute"), "the in-process limiter still reports its state")

	// A key never seen before is still verified: the throttle falls back to memory.
	res = p.do("POST", "/api/api-management/keys", tenant.APIKey, map[string]any{"name": "new", "scopes": []string{"api_keys:read"}, "rate_limit_per_minute": 2})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	fresh := res.json(t)["api_key"].(string)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", fresh, nil).Status)
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", fresh, nil).Status)
	require.Equal(t, http.StatusTooManyRequests, p.do("GET", "/api/api-management/keys/current", fresh, nil).Status,
		"limits still hold per instance")
}

func TestRedisDown_FailClosed(t *testing.T) {
	t.Parallel()
	url, stop := startRedis(t)
	p := newTestPlatform(t, map[string]string{"REDIS_URL": url, "RATE_LIMIT_REDIS_DOWN": "closed"})
	tenant := p.tenant("Acme")
	require.Equal(t, http.StatusOK, p.do("GET", "/api/api-management/keys/current", tenant.APIKey, nil).Status)

	stop()
	res := p.do("GET", "/api/api-management/keys/current", tenant.APIKey, nil)
	require.Equal(t, http.StatusServiceUnavailable, res.Status, "body: %s", res.Body)
	require.NotEmpty(t, res.Header.Get("Retry-After"))
	require.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
}

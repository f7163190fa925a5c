package azure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// identityServer is a local managed identity token endpoint speaking the App
// Service protocol that the Functions host offers (api-version 2019-08-01).
// It serves GET IDENTITY_ENDPOINT?resource=R&client_id=C with the
// X-IDENTITY-HEADER secret and responds with {"access_token", "expires_on"
// (Unix seconds), ...}.
type identityServer struct {
	*httptest.Server
	header   string
	clientID string
	lifetime time.Duration // of each issued token, measured on the real clock

	mu     sync.Mutex
	issued map[string]int // resource -> tokens issued
	reject bool
}

// startIdentityServer starts the endpoint and points IDENTITY_ENDPOINT and
// IDENTITY_HEADER at it for the rest of the test, so the test cannot run in
// parallel. The client id is random because the MSAL library behind
// azidentity keeps one token cache per process, shared by every credential.
func startIdentityServer(t *testing.T, lifetime time.Duration) *identityServer {
	t.Helper()
	s := &identityServer{
		header:   "header-" + uuid.NewString(),
		clientID: uuid.NewString(),
		lifetime: lifetime,
		issued:   map[string]int{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serveToken))
	t.Cleanup(s.Close)
	t.Setenv("IDENTITY_ENDPOINT", s.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", s.header)
	t.Setenv("MSI_ENDPOINT", "")
	t.Setenv("MSI_SECRET", "")
	return s
}

func (s *identityServer) serveToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case r.Method != http.MethodGet || r.URL.Path != "/msi/token":
		http.Error(w, "not found", http.StatusNotFound)
		return
	case r.Header.Get("X-IDENTITY-HEADER") != s.header:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "X-IDENTITY-HEADER is wrong"})
		return
	case q.Get("api-version") != "2019-08-01" || q.Get("resource") == "":
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "api-version or resource is wrong"})
		return
	case q.Get("client_id") != s.clientID:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "unknown client_id"})
		return
	}

	s.mu.Lock()
	if s.reject {
		s.mu.Unlock()
		// 400 is what the host returns for an identity it does not have, and
		// unlike 5xx it is not retried with back-off.
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "identity endpoint failure"})
		return
	}
	resource := q.Get("resource")
	s.issued[resource]++
	n := s.issued[resource]
	s.mu.Unlock()

	expires := time.Now().Add(s.lifetime).Unix()
	writeJSON(w, http.StatusOK, map[string]string{
		"access_token": fmt.Sprintf("token-%d-for-%s", n, resource),
		"expires_on":   strconv.FormatInt(expires, 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    s.clientID,
	})
}

func (s *identityServer) count(resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued[resource]
}

func (s *identityServer) setReject(reject bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = reject
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Package apimanagement is the api-management plugin: API keys and their
// usage. Its routes are registered in the endpoint registry.
package apimanagement

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/apikeys"
	"github.com/booga-enterprise/functions/shared/audit"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// Plugin is the plugin name and the first path segment of its routes.
const Plugin = "api-management"

// Capabilities of this plugin.
const (
	CapKeysRead   = "api_keys:read"
	CapKeysManage = "api_keys:manage"
	CapUsageRead  = "usage:read"
)

// Invalidator evicts cached verifications of a key on every instance and
// marks it revoked for the rate limiter's check.
type Invalidator interface {
	Invalidate(ctx context.Context, keyID string, revoked bool)
}

// Handlers serves the key endpoints.
type Handlers struct {
	Keys        *apikeys.Service
	Invalidator Invalidator
	Verifier    *apikeys.Verifier
	Now         func() time.Time
}

func principal(r *http.Request) *request.Principal { return request.PrincipalFrom(r.Context()) }

func (h *Handlers) createKey(w http.ResponseWriter, r *http.Request) error {
	var body apikeys.CreateRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	k, err := h.Keys.Create(r.Context(), tx, principal(r), body)
	if err != nil {
		return err
	}
	if err := recordKeyChange(r, tx, events.APIKeyCreated, k.Key); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/api-management/keys/"+k.ID)
	httpx.WriteJSON(w, http.StatusCreated, k)
	return nil
}

func (h *Handlers) listKeys(w http.ResponseWriter, r *http.Request) error {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	out, err := h.Keys.List(r.Context(), tx, principal(r).TenantID, page)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *Handlers) getKey(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	k, err := h.Keys.Get(r.Context(), tx, principal(r).TenantID, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, k)
	return nil
}

func (h *Handlers) updateKey(w http.ResponseWriter, r *http.Request) error {
	var body apikeys.UpdateRequest
	if err := httpx.DecodeJSON(w, r, &body); err != nil {
		return err
	}
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	k, err := h.Keys.Update(r.Context(), tx, principal(r), mux.Vars(r)["id"], body)
	if err != nil {
		return err
	}
	if err := audit.Record(r.Context(), tx, principal(r).TenantID, "api_key.updated", "api_key", k.ID,
		map[string]any{"name": k.Name, "prefix": k.Prefix, "scopes": k.Scopes, "status": k.Status}); err != nil {
		return err
	}
	h.afterCommit(r, k.ID, false)
	httpx.WriteJSON(w, http.StatusOK, k)
	return nil
}

func (h *Handlers) rotateKey(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	k, err := h.Keys.Rotate(r.Context(), tx, principal(r).TenantID, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	if err := recordKeyChange(r, tx, events.APIKeyRotated, k.Key); err != nil {
		return err
	}
	h.afterCommit(r, k.ID, false)
	httpx.WriteJSON(w, http.StatusOK, k)
	return nil
}

func (h *Handlers) revokeKey(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	before, err := h.Keys.Get(r.Context(), tx, principal(r).TenantID, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	k, err := h.Keys.Revoke(r.Context(), tx, principal(r).TenantID, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	if before.RevokedAt == nil {
		if err := recordKeyChange(r, tx, events.APIKeyRevoked, k); err != nil {
			return err
		}
	}
	h.afterCommit(r, k.ID, true)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// recordKeyChange writes the audit entry and the api_key.* event of a key
// change in the change's transaction. Neither carries the key's secret; the
// event is published after the commit.
func recordKeyChange(r *http.Request, tx pgx.Tx, eventType string, k apikeys.Key) error {
	p := principal(r)
	err := audit.Record(r.Context(), tx, p.TenantID, eventType, "api_key", k.ID,
		map[string]any{"name": k.Name, "prefix": k.Prefix, "scopes": k.Scopes, "status": k.Status})
	if err != nil {
		return err
	}
	_, err = events.Emit(r.Context(), tx, p.TenantID, eventType, events.APIKeyData{
		KeyID: k.ID, Name: k.Name, Prefix: k.Prefix, Scopes: k.Scopes, ActorID: p.ID})
	return err
}

// afterCommit invalidates cached verifications once the change is durable.
// It runs before the response is sent, so a client that sees the response
// can rely on the old state being gone.
func (h *Handlers) afterCommit(r *http.Request, keyID string, revoked bool) {
	request.OnCommit(r.Context(), func(ctx context.Context) {
		h.Invalidator.Invalidate(ctx, keyID, revoked)
	})
}

// CurrentKey is the response of GET /api-management/keys/current.
type CurrentKey struct {
	Key       apikeys.Key `json:"key"`
	RateLimit RateLimit   `json:"rate_limit"`
}

// RateLimit is the caller's rate-limit state after counting this request.
type RateLimit struct {
	LimitPerMinute     int  `json:"limit_per_minute"`
	RemainingPerMinute int  `json:"remaining_per_minute"`
	ResetMinuteSeconds int  `json:"reset_minute_seconds"`
	LimitPerHour       int  `json:"limit_per_hour"`
	RemainingPerHour   int  `json:"remaining_per_hour"`
	ResetHourSeconds   int  `json:"reset_hour_seconds"`
	Degraded           bool `json:"degraded"`
}

// currentKey responds from the verified key in memory, with no database round
// trip. The key's JSON is encoded once per cache entry, because this endpoint
// is what clients poll to watch their limits.
func (h *Handlers) currentKey(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if p.Kind != request.KindAPIKey {
		return problem.New(problem.CodeNotFound, "The caller is not an API key; this endpoint describes the calling key.")
	}
	keyJSON, ok := h.Verifier.CachedJSON(r.Context(), p.ID)
	if !ok {
		return problem.New(problem.CodeNotFound, "No API key with id %q exists.", p.ID)
	}
	var limit RateLimit
	if st := request.Rate(r.Context()); st != nil {
		now := h.now()
		limit = RateLimit{
			LimitPerMinute: st.LimitMinute, RemainingPerMinute: st.RemainingMinute, ResetMinuteSeconds: secondsUntil(now, st.ResetMinute),
			LimitPerHour: st.LimitHour, RemainingPerHour: st.RemainingHour, ResetHourSeconds: secondsUntil(now, st.ResetHour),
			Degraded: st.Degraded,
		}
	}
	limitJSON, err := json.Marshal(limit)
	if err != nil {
		return problem.Wrap(err, "encode rate limit state")
	}
	body := make([]byte, 0, len(keyJSON)+len(limitJSON)+32)
	body = append(append(append(body, `{"key":`...), keyJSON...), `,"rate_limit":`...)
	body = append(append(body, limitJSON...), "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
	return nil
}

func (h *Handlers) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func secondsUntil(now, t time.Time) int {
	if !t.After(now) {
		return 0
	}
	return int((t.Sub(now) + time.Second - 1) / time.Second)
}

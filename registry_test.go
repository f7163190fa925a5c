package main

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/functions"
	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/platform"
	"github.com/booga-enterprise/functions/shared/registry"
)

func routesOnly(t testing.TB) *registry.Registry {
	t.Helper()
	a := &app{cfg: config.Config{}, registry: registry.New()}
	a.registerRoutes(time.Now)
	return a.registry
}

// The router is built from the registry; walking it proves that every served
// route has metadata and every registration is served.
func TestRegistry_MatchesRouter(t *testing.T) {
	t.Parallel()
	reg := routesOnly(t)
	router := (&platform.Server{Registry: reg}).Router()

	served := map[string]bool{}
	require.NoError(t, router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		require.NoError(t, err)
		methods, err := route.GetMethods()
		require.NoError(t, err)
		for _, m := range methods {
			if m == http.MethodHead && slices.Contains(methods, http.MethodGet) {
				continue // every GET route also serves HEAD
			}
			served[m+" "+strings.TrimPrefix(tpl, "/api")] = true
		}
		return nil
	}))

	registered := map[string]bool{}
	for _, r := range reg.Routes() {
		registered[r.ID()] = true
		require.True(t, served[r.ID()], "registered but not served: %s", r.ID())
		require.NotEmpty(t, r.Summary, r.ID())
		require.NotEmpty(t, r.Description, r.ID())
		require.NotEmpty(t, r.OperationID, r.ID())
		require.NotEmpty(t, r.Responses, r.ID())
		if r.Auth == registry.AuthKey {
			require.True(t, registry.KnownCapability(r.Capability), "%s: capability %q", r.ID(), r.Capability)
		}
	}
	for id := range served {
		require.True(t, registered[id], "served without metadata: %s", id)
	}
}

// Every plugin that registers routes has a function folder whose catch-all
// route reaches them, and every plugin folder exists.
func TestRegistry_PluginsHaveFunctions(t *testing.T) {
	t.Parallel()
	defs, err := functions.Definitions()
	require.NoError(t, err)
	httpRoutes := map[string]string{}
	for _, d := range defs {
		if d.TriggerType() == functions.TriggerHTTP {
			httpRoutes[d.Name] = d.Route()
		}
	}
	for _, p := range registry.Plugins {
		require.Equal(t, p+"/{*path}", httpRoutes[p], "function folder for plugin %s", p)
	}
	for _, r := range routesOnly(t).Routes() {
		route, ok := httpRoutes[r.Plugin]
		require.True(t, ok, "no function folder serves plugin %s (%s)", r.Plugin, r.ID())
		prefix := strings.TrimSuffix(route, "{*path}")
		require.True(t, strings.HasPrefix(strings.TrimPrefix(r.Path, "/"), prefix), "%s is outside %s", r.ID(), route)
	}
}

func TestRegistry_CatalogueSorted(t *testing.T) {
	t.Parallel()
	names := registry.CapabilityNames()
	require.True(t, slices.IsSorted(names))
	require.Len(t, slices.Compact(slices.Clone(names)), len(names))
	for _, r := range routesOnly(t).Routes() {
		if r.Idempotent {
			require.Equal(t, http.MethodPost, r.Method, r.ID())
		}
	}
}

package functions

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

var plugins = []string{"agents", "analytics", "api-management", "chat", "files", "integrations", "knowledge", "organizations", "reports", "scheduler"}

func TestDefinitions(t *testing.T) {
	t.Parallel()
	defs, err := Definitions()
	require.NoError(t, err)
	byName := map[string]Definition{}
	for _, d := range defs {
		byName[d.Name] = d
	}

	t.Run("EveryFolderEmbedded", func(t *testing.T) {
		t.Parallel()
		entries, err := os.ReadDir(".")
		require.NoError(t, err)
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			_, err := os.Stat(filepath.Join(e.Name(), "function.json"))
			require.NoError(t, err, "folder %s has no function.json", e.Name())
			require.Contains(t, byName, e.Name())
		}
	})

	t.Run("Plugins", func(t *testing.T) {
		t.Parallel()
		for _, p := range plugins {
			d, ok := byName[p]
			require.True(t, ok, "plugin %s missing", p)
			require.Equal(t, TriggerHTTP, d.TriggerType(), p)
			require.Equal(t, "anonymous", d.Trigger.AuthLevel, p)
			require.Equal(t, p+"/{*path}", d.Route(), p)
			require.ElementsMatch(t, []string{"get", "post", "put", "patch", "delete", "head", "options"}, d.Trigger.Methods, p)
			require.Len(t, d.Bindings, 2, p)
			require.Equal(t, "http", d.Bindings[1].Type, p)
			require.Equal(t, "out", d.Bindings[1].Direction, p)
		}
	})

	t.Run("Health", func(t *testing.T) {
		t.Parallel()
		d, ok := byName["health"]
		require.True(t, ok)
		require.Equal(t, TriggerHTTP, d.TriggerType())
		require.Equal(t, "health", d.Route())
		require.Equal(t, []string{"get"}, d.Trigger.Methods)
		require.Equal(t, "anonymous", d.Trigger.AuthLevel)
	})

	t.Run("UsageDrainTimer", func(t *testing.T) {
		t.Parallel()
		d, ok := byName["usage-drain"]
		require.True(t, ok)
		require.Equal(t, TriggerTimer, d.TriggerType())
		require.Equal(t, "0 */1 * * * *", d.Schedule())
		require.Equal(t, "timer", d.TriggerBinding().Name)
	})

	t.Run("SortedByName", func(t *testing.T) {
		t.Parallel()
		require.IsIncreasing(t, names(defs))
	})
}

func names(defs []Definition) []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.Name
	}
	return out
}

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		wantErr string
	}{
		{"InvalidJSON", `{"bindings": [`, "decode JSON"},
		{"NoTrigger", `{"bindings": [{"type": "http", "direction": "out", "name": "res"}]}`, "has 0 trigger bindings"},
		{"TwoTriggers", `{"bindings": [{"type": "timerTrigger", "direction": "in", "name": "a", "schedule": "0 * * * * *"}, {"type": "timerTrigger", "direction": "in", "name": "b", "schedule": "0 * * * * *"}]}`, "has 2 trigger bindings"},
		{"UnnamedBinding", `{"bindings": [{"type": "httpTrigger", "direction": "in", "route": "x"}]}`, "has no name"},
		{"HTTPWithoutRoute", `{"bindings": [{"type": "httpTrigger", "direction": "in", "name": "req"}]}`, "has no route"},
		{"FiveFieldSchedule", `{"bindings": [{"type": "timerTrigger", "direction": "in", "name": "timer", "schedule": "*/5 * * * *"}]}`, "six NCRONTAB fields"},
		{"ServiceBusWithoutQueue", `{"bindings": [{"type": "serviceBusTrigger", "direction": "in", "name": "message", "connection": "ServiceBus"}]}`, "needs queueName"},
		{"ServiceBusWithoutConnection", `{"bindings": [{"type": "serviceBusTrigger", "direction": "in", "name": "message", "queueName": "jobs"}]}`, "has no connection"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parse("f", []byte(tc.body))
			require.ErrorContains(t, err, tc.wantErr)
		})
	}

	t.Run("ServiceBusTopic", func(t *testing.T) {
		t.Parallel()
		body, err := json.Marshal(map[string]any{"bindings": []map[string]any{{
			"type": "serviceBusTrigger", "direction": "in", "name": "messages",
			"topicName": "events", "subscriptionName": "fanout", "connection": "ServiceBus",
			"cardinality": "many",
		}}})
		require.NoError(t, err)
		d, err := parse("event-fanout", body)
		require.NoError(t, err)
		require.Equal(t, "events", d.TopicName())
		require.Equal(t, "fanout", d.SubscriptionName())
		require.Equal(t, []string{"ServiceBus"}, d.Connections())
		require.True(t, d.TriggerBinding().Batch())
	})

	t.Run("BadFileNamesFolder", func(t *testing.T) {
		t.Parallel()
		_, err := parseAll(fstest.MapFS{"broken/function.json": {Data: []byte(`{}`)}})
		require.ErrorContains(t, err, "parse broken/function.json")
	})
}

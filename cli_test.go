package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/infra/redis/redistest"
)

// The command line reads its configuration from the environment, so these
// tests set it with t.Setenv and cannot run in parallel.
func TestCLI_TenantsAndKeys(t *testing.T) {
	t.Setenv("DATABASE_URL", pgtest.NewDatabase(t))
	t.Setenv("REDIS_URL", redistest.URL())
	t.Setenv("APIKEY_PBKDF2_ITERATIONS", "1000")
	ctx := context.Background()
	runJSON := func(args ...string) (map[string]any, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, &out, &errOut)
		if err != nil {
			return nil, err
		}
		var m map[string]any
		require.NoError(t, json.Unmarshal(out.Bytes(), &m), "output: %s", out.String())
		return m, nil
	}

	corp, err := runJSON("tenants", "create", "--name", "Acme", "--type", "corporate")
	require.NoError(t, err)
	require.Regexp(t, `^ten_`, corp["id"])
	require.Equal(t, corp["id"], corp["tenant_id"])
	require.Regexp(t, `^bk_[a-z0-9]{12}_`, corp["api_key"])

	dev, err := runJSON("tenants", "create", "--name", "Solo", "--type", "developer", "--email", "dev@example.com")
	require.NoError(t, err)
	require.NotContains(t, dev, "api_key", "developer tenants get no key")
	require.Equal(t, "dev@example.com", dev["email"])

	_, err = runJSON("tenants", "create", "--name", "X", "--type", "enterprise")
	require.ErrorContains(t, err, "--type must be corporate or developer")

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"tenants", "list"}, &out, &bytes.Buffer{}))
	require.Equal(t, 2, strings.Count(out.String(), `"id": "ten_`))

	key, err := runJSON("keys", "create", "--tenant", corp["id"].(string), "--name", "ci", "--scopes", "files:read,files:write")
	require.NoError(t, err)
	require.Equal(t, []any{"files:read", "files:write"}, key["scopes"])

	_, err = runJSON("keys", "create", "--tenant", "ten_01m91aj75pr53g4z8hb12a6cgn", "--name", "ci")
	require.ErrorContains(t, err, "no tenant with id")

	err = run(ctx, []string{"frobnicate"}, &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorIs(t, err, errUsage)
}

func TestCLI_InvalidConfigNamesVariable(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
	var errOut bytes.Buffer
	err := run(context.Background(), []string{"migrate"}, &bytes.Buffer{}, &errOut)
	require.ErrorContains(t, err, "DATABASE_URL is required")
	require.Contains(t, errOut.String(), "DATABASE_URL")
}

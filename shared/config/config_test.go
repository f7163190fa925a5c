package config

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func lookup(values map[string]string) LookupFunc {
	return func(k string) (string, bool) { v, ok := values[k]; return v, ok }
}

func TestLoadFrom_Defaults(t *testing.T) {
	t.Parallel()
	c, err := LoadFrom(lookup(map[string]string{
		"DATABASE_URL": "postgres://u:secret@db/booga", "REDIS_URL": "redis://127.0.0.1:6379/0"}))
	require.NoError(t, err)
	require.Equal(t, EnvLocal, c.Env)
	require.Equal(t, 600_000, c.PBKDF2Iterations)
	require.Equal(t, 24*time.Hour, c.RotationGrace)
	require.False(t, c.RateLimitFailClosed)
}

func TestLoadFrom_ReportsEveryInvalidSetting(t *testing.T) {
	t.Parallel()
	_, err := LoadFrom(lookup(map[string]string{
		"APP_ENV":                  "staging",
		"REDIS_URL":                "http://127.0.0.1",
		"APIKEY_PBKDF2_ITERATIONS": "ten",
		"APIKEY_CACHE_TTL":         "forever",
		"RATE_LIMIT_REDIS_DOWN":    "maybe",
		"DATABASE_AUTH":            "kerberos",
	}))
	require.Error(t, err)
	for _, name := range []string{"APP_ENV", "DATABASE_URL", "REDIS_URL", "APIKEY_PBKDF2_ITERATIONS", "APIKEY_CACHE_TTL", "RATE_LIMIT_REDIS_DOWN", "DATABASE_AUTH"} {
		require.Contains(t, err.Error(), name)
	}
}

func TestConfig_LogValueMasksSecrets(t *testing.T) {
	t.Parallel()
	c, err := LoadFrom(lookup(map[string]string{
		"DATABASE_URL": "postgres://u:hunter2@db/booga", "REDIS_URL": "redis://:s3cret@127.0.0.1:6379/0"}))
	require.NoError(t, err)
	out := c.LogValue().String()
	require.NotContains(t, out, "hunter2")
	require.NotContains(t, out, "s3cret")
}

// The README's configuration table documents every setting the code reads.
func TestSettings_DocumentedInREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, s := range Settings() {
		require.True(t, strings.Contains(string(readme), "| `"+s.Name+"` |"), "README.md has no row for %s", s.Name)
	}
}

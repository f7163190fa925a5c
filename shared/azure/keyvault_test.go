package azure

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/require"
)

// vaultServer is a local Key Vault speaking the secrets REST protocol over
// TLS. A request without a bearer token gets 401 with the challenge that
// names the authority and resource to get a token for. GET
// /secrets/{name}/?api-version=... returns the current version.
type vaultServer struct {
	*httptest.Server
	token string // the only bearer token accepted

	mu      sync.Mutex
	secrets map[string]string
	reads   map[string]int
}

func startVaultServer(t *testing.T, token string) *vaultServer {
	t.Helper()
	v := &vaultServer{token: token, secrets: map[string]string{}, reads: map[string]int{}}
	v.Server = httptest.NewTLSServer(http.HandlerFunc(v.serve))
	t.Cleanup(v.Close)
	return v
}

func (v *vaultServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+v.token {
		w.Header().Set("WWW-Authenticate", `Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net"`)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer or PoP token."}})
		return
	}
	name, ok := strings.CutPrefix(strings.TrimSuffix(r.URL.Path, "/"), "/secrets/")
	if r.Method != http.MethodGet || !ok || strings.Contains(name, "/") || r.URL.Query().Get("api-version") == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{"code": "BadParameter", "message": "unsupported request"}})
		return
	}

	v.mu.Lock()
	value, found := v.secrets[name]
	v.reads[name]++
	v.mu.Unlock()
	if !found {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]string{"code": "SecretNotFound", "message": "A secret with (name/id) " + name + " was not found in this key vault."}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"value":      value,
		"id":         v.URL + "/secrets/" + name + "/0123456789abcdef0123456789abcdef",
		"attributes": map[string]any{"enabled": true, "created": 1700000000, "updated": 1700000000},
	})
}

func (v *vaultServer) set(name, value string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.secrets[name] = value
}

func (v *vaultServer) readCount(name string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reads[name]
}

// newTestVault starts an identity endpoint and a vault that accepts the
// endpoint's first Key Vault token, and returns a loader signed in through
// both with the process credential.
func newTestVault(t *testing.T) (*KeyVaultSecrets, *vaultServer, *identityServer, *clock) {
	t.Helper()
	ids := startIdentityServer(t, time.Hour)
	vault := startVaultServer(t, "token-1-for-https://vault.azure.net")
	cred, err := NewCredential(CredentialOptions{ClientID: ids.clientID})
	require.NoError(t, err)

	clk := &clock{now: time.Now()}
	secrets, err := NewKeyVaultSecrets(vault.URL, cred, KeyVaultOptions{
		TTL: time.Minute,
		Now: clk.Now,
		Client: azsecrets.ClientOptions{
			ClientOptions:                        azcore.ClientOptions{Transport: vault.Client(), Retry: policy.RetryOptions{MaxRetries: -1}},
			DisableChallengeResourceVerification: true,
		},
	})
	require.NoError(t, err)
	return secrets, vault, ids, clk
}

func TestKeyVaultSecrets_Load(t *testing.T) {
	t.Run("LoadsEveryNamedSecret", func(t *testing.T) {
		secrets, vault, ids, _ := newTestVault(t)
		vault.set("webhook-signing-key", "whsec-one")
		vault.set("openai-api-key", "sk-two")

		require.NoError(t, secrets.Load(context.Background(), "webhook-signing-key", "openai-api-key"))

		require.Equal(t, 1, vault.readCount("webhook-signing-key"))
		require.Equal(t, 1, vault.readCount("openai-api-key"))
		require.Equal(t, 1, ids.count("https://vault.azure.net"))
	})

	t.Run("ErrorNamesEveryMissingSecret", func(t *testing.T) {
		secrets, vault, _, _ := newTestVault(t)
		vault.set("webhook-signing-key", "whsec-one")

		err := secrets.Load(context.Background(), "missing-one", "webhook-signing-key", "missing-two")

		require.ErrorIs(t, err, ErrSecretNotFound)
		require.ErrorContains(t, err, `"missing-one"`)
		require.ErrorContains(t, err, `"missing-two"`)
		require.NotContains(t, err.Error(), `"webhook-signing-key"`)
	})
}

func TestKeyVaultSecrets_Secret(t *testing.T) {
	t.Run("ServedFromCacheWithinTTL", func(t *testing.T) {
		secrets, vault, _, clk := newTestVault(t)
		vault.set("webhook-signing-key", "whsec-one")
		ctx := context.Background()
		require.NoError(t, secrets.Load(ctx, "webhook-signing-key"))

		vault.set("webhook-signing-key", "whsec-two")
		clk.Advance(59 * time.Second)
		got, err := secrets.Secret(ctx, "webhook-signing-key")

		require.NoError(t, err)
		require.Equal(t, "whsec-one", got)
		require.Equal(t, 1, vault.readCount("webhook-signing-key"))
	})

	t.Run("FetchedAgainAfterTTL", func(t *testing.T) {
		secrets, vault, _, clk := newTestVault(t)
		vault.set("webhook-signing-key", "whsec-one")
		ctx := context.Background()
		require.NoError(t, secrets.Load(ctx, "webhook-signing-key"))

		vault.set("webhook-signing-key", "whsec-two")
		clk.Advance(time.Minute)
		got, err := secrets.Secret(ctx, "webhook-signing-key")

		require.NoError(t, err)
		require.Equal(t, "whsec-two", got)
		require.Equal(t, 2, vault.readCount("webhook-signing-key"))
	})

	t.Run("FetchedOnDemandWhenNotLoaded", func(t *testing.T) {
		secrets, vault, _, _ := newTestVault(t)
		vault.set("crm-client-secret", "c-one")

		got, err := secrets.Secret(context.Background(), "crm-client-secret")

		require.NoError(t, err)
		require.Equal(t, "c-one", got)
	})

	t.Run("MissingSecretNamed", func(t *testing.T) {
		secrets, vault, _, _ := newTestVault(t)

		_, err := secrets.Secret(context.Background(), "crm-client-secret")

		require.ErrorIs(t, err, ErrSecretNotFound)
		require.ErrorContains(t, err, `"crm-client-secret"`)
		require.ErrorContains(t, err, vault.URL)
	})

	t.Run("DeletedSecretLeavesCache", func(t *testing.T) {
		secrets, vault, _, _ := newTestVault(t)
		vault.set("crm-client-secret", "c-one")
		ctx := context.Background()
		require.NoError(t, secrets.Load(ctx, "crm-client-secret"))

		vault.mu.Lock()
		delete(vault.secrets, "crm-client-secret")
		vault.mu.Unlock()
		_, refreshErr := secrets.Refresh(ctx, "crm-client-secret")
		_, err := secrets.Secret(ctx, "crm-client-secret")

		require.ErrorIs(t, refreshErr, ErrSecretNotFound)
		require.ErrorIs(t, err, ErrSecretNotFound)
	})

	t.Run("TokenRejectedIsNotNotFound", func(t *testing.T) {
		secrets, vault, _, _ := newTestVault(t)
		vault.token = "a-token-the-identity-never-issues"

		_, err := secrets.Secret(context.Background(), "crm-client-secret")

		require.Error(t, err)
		require.False(t, errors.Is(err, ErrSecretNotFound))
		var re *azcore.ResponseError
		require.ErrorAs(t, err, &re)
		require.Equal(t, http.StatusUnauthorized, re.StatusCode)
	})
}

func TestMapSecrets_Secret(t *testing.T) {
	t.Parallel()
	secrets := MapSecrets{"webhook-signing-key": "whsec-local"}

	got, err := secrets.Secret(context.Background(), "webhook-signing-key")
	require.NoError(t, err)
	require.Equal(t, "whsec-local", got)

	_, err = secrets.Secret(context.Background(), "crm-client-secret")
	require.ErrorIs(t, err, ErrSecretNotFound)
	require.ErrorContains(t, err, "CRM_CLIENT_SECRET")
}

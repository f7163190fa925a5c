package azure

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/stretchr/testify/require"
)

func TestNewCredential_ManagedIdentity(t *testing.T) {
	ids := startIdentityServer(t, time.Hour)

	cred, err := NewCredential(CredentialOptions{ClientID: ids.clientID})
	require.NoError(t, err)
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{PostgresScope}})
	require.NoError(t, err)

	require.Equal(t, "token-1-for-https://ossrdbms-aad.database.windows.net", tok.Token)
	require.Equal(t, 1, ids.count("https://ossrdbms-aad.database.windows.net"))
	require.WithinDuration(t, time.Now().Add(time.Hour), tok.ExpiresOn, 5*time.Second)
}

func TestNewCredential_ManagedIdentityFailure(t *testing.T) {
	ids := startIdentityServer(t, time.Hour)
	ids.setReject(true)

	cred, err := NewCredential(CredentialOptions{ClientID: ids.clientID})
	require.NoError(t, err)
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{RedisScope}})

	require.Error(t, err)
	require.Contains(t, err.Error(), "identity endpoint failure")
}

func TestNewCredential_WrongClientID(t *testing.T) {
	ids := startIdentityServer(t, time.Hour)

	cred, err := NewCredential(CredentialOptions{ClientID: "00000000-0000-0000-0000-000000000000"})
	require.NoError(t, err)
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{RedisScope}})

	require.Error(t, err)
	require.Contains(t, err.Error(), "unknown client_id")
	require.Zero(t, ids.count("https://redis.azure.com"))
}

// fakeAzureCLI puts an az program on PATH that prints what
// `az account get-access-token -o json --resource R` prints.
func fakeAzureCLI(t *testing.T, token string) {
	t.Helper()
	dir := t.TempDir()
	expires := time.Now().Add(time.Hour).Unix()
	script := "#!/bin/sh\n" +
		"case \"$*\" in\n" +
		"  'account get-access-token -o json --resource https://redis.azure.com')\n" +
		"    printf '{\"accessToken\":\"" + token + "\",\"expires_on\":%d,\"tokenType\":\"Bearer\"}\\n' " + strconv.FormatInt(expires, 10) + " ;;\n" +
		"  *) echo \"unexpected arguments: $*\" >&2; exit 2 ;;\n" +
		"esac\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "az"), []byte(script), 0o755))
	t.Setenv("PATH", dir)
}

func TestNewCredential_DeveloperLogin(t *testing.T) {
	fakeAzureCLI(t, "developer-token")

	cred, err := NewCredential(CredentialOptions{})
	require.NoError(t, err)
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{RedisScope}})

	require.NoError(t, err)
	require.Equal(t, "developer-token", tok.Token)
}

func TestNewCredential_LocalNeverUsesManagedIdentity(t *testing.T) {
	ids := startIdentityServer(t, time.Hour)
	t.Setenv("PATH", t.TempDir()) // neither az nor azd

	cred, err := NewCredential(CredentialOptions{})
	require.NoError(t, err)
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{RedisScope}})

	require.Error(t, err)
	require.Contains(t, err.Error(), "AzureCLICredential")
	require.Zero(t, ids.count("https://redis.azure.com"))
}

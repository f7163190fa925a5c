// Package azure reaches Azure services with one credential: the Function
// App's user-assigned managed identity in Azure, the developer's own Azure CLI
// login locally. It turns that credential into PostgreSQL and Redis passwords
// (Entra ID access tokens, refreshed before they expire) and loads secrets from
// Key Vault.
package azure

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialOptions configures NewCredential.
type CredentialOptions struct {
	// ClientID is the client id of the user-assigned managed identity
	// (AZURE_CLIENT_ID). Empty means "not in Azure".
	ClientID string

	// ClientOptions are passed to every credential, for example a Transport
	// that trusts a test server's certificate.
	ClientOptions azcore.ClientOptions
}

// NewCredential returns the one credential the process uses for every Azure
// service.
//
// With a ClientID it is a ManagedIdentityCredential for that user-assigned
// identity: the Functions host publishes its token endpoint in
// IDENTITY_ENDPOINT and IDENTITY_HEADER. Without one it is the developer's
// Azure CLI login, then the Azure Developer CLI login. The local chain leaves
// out managed identity on purpose, so a laptop never probes the instance
// metadata address, and leaves out EnvironmentCredential because
// AZURE_CLIENT_ID already means the managed identity here.
func NewCredential(opts CredentialOptions) (azcore.TokenCredential, error) {
	if opts.ClientID != "" {
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: opts.ClientOptions,
			ID:            azidentity.ClientID(opts.ClientID),
		})
		if err != nil {
			return nil, fmt.Errorf("create managed identity credential for client id %s: %w", opts.ClientID, err)
		}
		return cred, nil
	}

	cli, err := azidentity.NewAzureCLICredential(nil)
	if err != nil {
		return nil, fmt.Errorf("create Azure CLI credential: %w", err)
	}
	azd, err := azidentity.NewAzureDeveloperCLICredential(nil)
	if err != nil {
		return nil, fmt.Errorf("create Azure Developer CLI credential: %w", err)
	}
	chain, err := azidentity.NewChainedTokenCredential([]azcore.TokenCredential{cli, azd}, nil)
	if err != nil {
		return nil, fmt.Errorf("chain developer credentials: %w", err)
	}
	return chain, nil
}

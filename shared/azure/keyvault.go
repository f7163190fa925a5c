package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// ErrSecretNotFound is wrapped by every error for a secret that the source
// does not have (Key Vault returned 404, or a local map has no such name).
var ErrSecretNotFound = errors.New("secret not found")

// DefaultSecretTTL is how long a secret read from Key Vault is served from
// the cache when KeyVaultOptions.TTL is zero.
const DefaultSecretTTL = 5 * time.Minute

// SecretSource returns the current value of a named secret. Key Vault secret
// names use letters, digits and dashes only, such as webhook-signing-key.
type SecretSource interface {
	Secret(ctx context.Context, name string) (string, error)
}

// KeyVaultOptions configures NewKeyVaultSecrets.
type KeyVaultOptions struct {
	// TTL is how long a fetched secret is served from the cache;
	// DefaultSecretTTL when zero.
	TTL time.Duration

	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// Client configures the azsecrets client: its Transport, and
	// DisableChallengeResourceVerification for a vault not under
	// vault.azure.net.
	Client azsecrets.ClientOptions
}

// KeyVaultSecrets reads secrets from one Key Vault with the process's
// credential and caches each value for the TTL. It is safe for concurrent use.
type KeyVaultSecrets struct {
	vaultURL string
	client   *azsecrets.Client
	ttl      time.Duration
	now      func() time.Time

	mu    sync.Mutex
	cache map[string]cachedSecret
}

type cachedSecret struct {
	value     string
	fetchedAt time.Time
}

// NewKeyVaultSecrets returns a loader for the vault at vaultURL
// (KEY_VAULT_URL). It makes no request until Load or Secret is called.
func NewKeyVaultSecrets(vaultURL string, cred azcore.TokenCredential, opts KeyVaultOptions) (*KeyVaultSecrets, error) {
	client, err := azsecrets.NewClient(vaultURL, cred, &opts.Client)
	if err != nil {
		return nil, fmt.Errorf("create Key Vault client for %s: %w", vaultURL, err)
	}
	s := &KeyVaultSecrets{
		vaultURL: vaultURL,
		client:   client,
		ttl:      opts.TTL,
		now:      opts.Now,
		cache:    map[string]cachedSecret{},
	}
	if s.ttl <= 0 {
		s.ttl = DefaultSecretTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Load fetches every named secret into the cache, for use at start-up so
// that a missing secret stops the process before it serves traffic. The
// error names every secret that failed, not only the first.
func (s *KeyVaultSecrets) Load(ctx context.Context, names ...string) error {
	var errs []error
	for _, name := range names {
		if _, err := s.Refresh(ctx, name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Secret returns the named secret from the cache while it is younger than
// the TTL, and fetches it from Key Vault otherwise.
func (s *KeyVaultSecrets) Secret(ctx context.Context, name string) (string, error) {
	s.mu.Lock()
	c, ok := s.cache[name]
	s.mu.Unlock()
	if ok && s.now().Sub(c.fetchedAt) < s.ttl {
		return c.value, nil
	}
	return s.Refresh(ctx, name)
}

// Refresh fetches the current version of the named secret from Key Vault,
// whatever the cache contains, for example after a credential it protects was
// rejected. A secret Key Vault no longer has is removed from the cache. After
// any other failure the cached value stays, so a throttled or unreachable
// vault does not take away a secret that was already loaded.
func (s *KeyVaultSecrets) Refresh(ctx context.Context, name string) (string, error) {
	resp, err := s.client.GetSecret(ctx, name, "", nil)
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			s.forget(name)
			return "", fmt.Errorf("read secret %q from Key Vault %s: %w; create it with az keyvault secret set --vault-name VAULT --name %s", name, s.vaultURL, ErrSecretNotFound, name)
		}
		return "", fmt.Errorf("read secret %q from Key Vault %s: %w", name, s.vaultURL, err)
	}
	if resp.Value == nil {
		return "", fmt.Errorf("read secret %q from Key Vault %s: the response has no value", name, s.vaultURL)
	}

	s.mu.Lock()
	s.cache[name] = cachedSecret{value: *resp.Value, fetchedAt: s.now()}
	s.mu.Unlock()
	return *resp.Value, nil
}

func (s *KeyVaultSecrets) forget(name string) {
	s.mu.Lock()
	delete(s.cache, name)
	s.mu.Unlock()
}

// MapSecrets is the local stand-in for Key Vault: secrets given by the
// developer, normally read from settings in shared/config.
type MapSecrets map[string]string

// Secret returns the named value or an error wrapping ErrSecretNotFound.
func (m MapSecrets) Secret(_ context.Context, name string) (string, error) {
	v, ok := m[name]
	if !ok {
		return "", fmt.Errorf("read secret %q: %w among the local settings; set the variable %s", name, ErrSecretNotFound, EnvName(name))
	}
	return v, nil
}

// EnvName returns the environment variable that contains the Key Vault secret
// name locally: webhook-signing-key is WEBHOOK_SIGNING_KEY.
func EnvName(secret string) string {
	return strings.ToUpper(strings.ReplaceAll(secret, "-", "_"))
}

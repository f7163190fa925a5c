// Package oidctest is an OpenID Connect issuer for tests: its own RSA keys,
// a discovery document and a JSON Web Key Set on a loopback httptest server.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"
)

// Issuer signs tokens and publishes the public half of its current keys.
type Issuer struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	key       *rsa.PrivateKey
	kid       string
	generated int

	// JWKSFetches counts requests for the key set.
	JWKSFetches atomic.Int64
}

// New starts an issuer on loopback; it stops when the test ends.
func New(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{t: t}
	is.Rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL(), "jwks_uri": is.URL() + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		is.JWKSFetches.Add(1)
		is.mu.Lock()
		pub, kid := is.key.PublicKey, is.kid
		is.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

// URL returns the issuer URL, which is also the iss of its tokens.
func (is *Issuer) URL() string { return is.srv.URL }

// Rotate replaces the signing key with a new one under a new key id. The
// key set publishes only the new key from then on.
func (is *Issuer) Rotate() {
	is.t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(is.t, err)
	is.mu.Lock()
	defer is.mu.Unlock()
	is.generated++
	is.key, is.kid = key, "key-"+string(rune('a'+is.generated-1))
}

// KeyID returns the id of the current signing key.
func (is *Issuer) KeyID() string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.kid
}

// Claims returns a valid claim set for a user of directory: iss, aud, tid,
// oid, email, iat, nbf and exp an hour after now.
func (is *Issuer) Claims(audience, directory, subject, email string, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": is.URL(), "aud": audience, "tid": directory, "oid": subject, "sub": subject,
		"email": email, "name": "Test User",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// Sign signs claims with the current key, RS256, with its key id.
func (is *Issuer) Sign(claims jwt.MapClaims) string {
	is.mu.Lock()
	key, kid := is.key, is.kid
	is.mu.Unlock()
	return SignWith(is.t, key, kid, claims)
}

// SignWith signs claims with any RSA key and key id, for forged tokens.
func SignWith(t testing.TB, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

// Unsigned returns claims as an alg=none token, which must never be accepted.
func Unsigned(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	return s
}

// HS256 returns claims signed with HMAC and secret, the algorithm-confusion
// attack that uses a public key as the shared secret.
func HS256(t testing.TB, secret []byte, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(secret)
	require.NoError(t, err)
	return s
}

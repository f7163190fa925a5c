// Package apikeys issues, stores and verifies API keys.
//
// A key reads "bk_<prefix>_<secret>". The 12-character prefix is public: it
// finds the key's row and is shown in listings. The secret is 32 random bytes
// (256 bits) in unpadded base64url. Only PBKDF2-HMAC-SHA256 of the secret, with
// a per-key salt and a per-key iteration count, is stored.
package apikeys

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
)

const (
	keyPrefix    = "bk_"
	prefixLength = 12
	secretBytes  = 32
	saltBytes    = 16
	hashBytes    = 32
	// DefaultIterations is OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
	DefaultIterations = 600_000
)

var secretLength = base64.RawURLEncoding.EncodedLen(secretBytes)

const prefixAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// Plaintext is a newly issued key; it is shown to the caller once.
type Plaintext struct {
	Key    string // the full key
	Prefix string
	Secret string
}

// Generate returns a new random key.
func Generate() (Plaintext, error) {
	prefix, err := randomPrefix()
	if err != nil {
		return Plaintext{}, err
	}
	secret, err := randomSecret()
	if err != nil {
		return Plaintext{}, err
	}
	return Plaintext{Key: keyPrefix + prefix + "_" + secret, Prefix: prefix, Secret: secret}, nil
}

func randomPrefix() (string, error) {
	b := make([]byte, prefixLength)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random prefix: %w", err)
	}
	for i := range b {
		// 256 is not a multiple of 36, so the first 4 symbols are a little
		// likelier; the prefix is public, so only its uniqueness matters.
		b[i] = prefixAlphabet[int(b[i])%len(prefixAlphabet)]
	}
	return string(b), nil
}

func randomSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Parse splits a presented key into prefix and secret. It reports false for
// anything that is not exactly the issued format.
func Parse(presented string) (prefix, secret string, ok bool) {
	rest, found := strings.CutPrefix(presented, keyPrefix)
	if !found || len(rest) != prefixLength+1+secretLength || rest[prefixLength] != '_' {
		return "", "", false
	}
	prefix, secret = rest[:prefixLength], rest[prefixLength+1:]
	for i := 0; i < len(prefix); i++ {
		if !strings.ContainsRune(prefixAlphabet, rune(prefix[i])) {
			return "", "", false
		}
	}
	if b, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(b) != secretBytes {
		return "", "", false
	}
	return prefix, secret, true
}

// DisplayPrefix returns the part of a key that listings show: enough to recognise it.
func DisplayPrefix(prefix string) string { return keyPrefix + prefix + "_…" }

// Hashed is the stored form of a secret.
type Hashed struct {
	Hash       []byte
	Salt       []byte
	Iterations int
}

// HashSecret derives the stored hash of secret with a new random salt.
func HashSecret(secret string, iterations int) (Hashed, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return Hashed{}, fmt.Errorf("read random salt: %w", err)
	}
	h, err := pbkdf2.Key(sha256.New, secret, salt, iterations, hashBytes)
	if err != nil {
		return Hashed{}, fmt.Errorf("derive key hash: %w", err)
	}
	return Hashed{Hash: h, Salt: salt, Iterations: iterations}, nil
}

// Matches reports whether secret derives to h, comparing in constant time.
func (h Hashed) Matches(secret string) bool {
	if len(h.Hash) == 0 || h.Iterations <= 0 {
		return false
	}
	got, err := pbkdf2.Key(sha256.New, secret, h.Salt, h.Iterations, len(h.Hash))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(got, h.Hash) == 1
}

// Fingerprint is the fast hash the verification cache is keyed by. It is
// SHA-256 of the whole presented key, so the cache never holds a secret.
func Fingerprint(presented string) [32]byte { return sha256.Sum256([]byte(presented)) }

// Package webhooks delivers events to tenants' HTTPS endpoints, signed per
// the Standard Webhooks specification 1.0 (github.com/standard-webhooks).
// It contains the subscriptions and their secrets, and the fan-out from the
// events topic to one delivery per matching endpoint. It also contains the
// delivery itself with retries and attempt records, and the dial-time guard
// against server-side request forgery.
package webhooks

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as Standard Webhooks recommends.
const SecretPrefix = "whsec_"

// secretBytes is the random key length: 256 bits, the HMAC-SHA256 block
// size is larger but 32 bytes matches the hash output.
const secretBytes = 32

// Header names of Standard Webhooks.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// NewSecret returns a new signing secret: SecretPrefix and the standard
// base64 of 32 random bytes.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// secretKey returns the HMAC key of secret: the base64 after SecretPrefix.
func secretKey(secret string) ([]byte, error) {
	rest, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, errors.New("webhook secret does not start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret is not whsec_ followed by standard base64")
	}
	return key, nil
}

// Sign returns the webhook-signature header value for one message: for
// each secret, "v1," and the base64 HMAC-SHA256 of "id.timestamp.body",
// joined by spaces. Receivers accept the message when any one signature
// matches a secret they hold, which is how two secrets sign during a
// rotation overlap.
func Sign(secrets []string, msgID string, timestamp time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("sign webhook: no secret")
	}
	ts := strconv.FormatInt(timestamp.Unix(), 10)
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := secretKey(s)
		if err != nil {
			return "", fmt.Errorf("sign webhook: %w", err)
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(msgID))
		mac.Write([]byte{'.'})
		mac.Write([]byte(ts))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

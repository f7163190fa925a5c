package apikeys

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/booga-enterprise/functions/shared/problem"
)

// Key status values.
const (
	StatusActive  = "active"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
)

// Limits on key fields.
const (
	MaxNameLength     = 100
	MaxAllowedIPs     = 100
	MaxScopes         = 100
	MaxRatePerMinute  = 1_000_000
	MaxRatePerHour    = 60_000_000
	minExpiryDistance = time.Minute
)

// Key is an API key's public metadata. The secret is never part of it.
type Key struct {
	ID                 string     `json:"id" example:"key_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Name               string     `json:"name" example:"CI pipeline"`
	Prefix             string     `json:"prefix" example:"bk_k3v9q2m8x1c4_…"`
	Status             string     `json:"status" enum:"active,expired,revoked"`
	Scopes             []string   `json:"scopes" example:"[\"files:read\"]"`
	AllowedIPs         []string   `json:"allowed_ips" example:"[\"203.0.113.0/24\"]"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute"`
	RateLimitPerHour   *int       `json:"rate_limit_per_hour"`
	ExpiresAt          *time.Time `json:"expires_at"`
	CreatedBy          string     `json:"created_by"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
	RotatedAt          *time.Time `json:"rotated_at"`
	// PreviousSecretExpiresAt is when the secret replaced by the last rotation stops working.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	LastUsedAt              *time.Time `json:"last_used_at"`
	RevokedAt               *time.Time `json:"revoked_at"`
}

func (k *Key) setStatus(now time.Time) {
	switch {
	case k.RevokedAt != nil:
		k.Status = StatusRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		k.Status = StatusExpired
	default:
		k.Status = StatusActive
	}
}

// IssuedKey is a key together with its plaintext, returned once by create and rotate.
type IssuedKey struct {
	Key
	APIKey string `json:"api_key" example:"bk_k3v9q2m8x1c4_8jX2b0r9Yq7m3K1v5W6t4Z8a2C0e9G7i5L3n1P0s2U4"`
}

// CreateRequest is the body of POST /api-management/keys.
// The examples form a valid request, which the generated Postman collection sends.
type CreateRequest struct {
	Name               string     `json:"name" minLength:"1" maxLength:"100" example:"CI pipeline"`
	Scopes             []string   `json:"scopes" example:"[\"api_keys:read\"]"`
	AllowedIPs         []string   `json:"allowed_ips,omitempty"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute,omitempty"`
	RateLimitPerHour   *int       `json:"rate_limit_per_hour,omitempty"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
}

// Optional is a JSON merge-patch field: absent, null, or a value.
type Optional[T any] struct {
	Set   bool // the field was present
	Null  bool // the field was null
	Value T
}

// UnmarshalJSON records presence and null.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// UpdateRequest is the body of PATCH /api-management/keys/{id} (JSON merge
// patch): absent fields stay, null clears a limit, expiry or allow-list.
type UpdateRequest struct {
	Name               Optional[string]     `json:"name"`
	Scopes             Optional[[]string]   `json:"scopes"`
	AllowedIPs         Optional[[]string]   `json:"allowed_ips"`
	RateLimitPerMinute Optional[int]        `json:"rate_limit_per_minute"`
	RateLimitPerHour   Optional[int]        `json:"rate_limit_per_hour"`
	ExpiresAt          Optional[*time.Time] `json:"expires_at"`
}

// validator collects field errors.
type validator struct{ fields []problem.FieldError }

func (v *validator) add(field, code, format string, args ...any) {
	v.fields = append(v.fields, problem.FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return problem.Invalid(v.fields...)
}

func (v *validator) name(name string) string {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		v.add("name", "required", "is required: give the key a name of 1 to %d characters", MaxNameLength)
	case len([]rune(name)) > MaxNameLength:
		v.add("name", "too_long", "must be at most %d characters, got %d", MaxNameLength, len([]rune(name)))
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		v.add("name", "invalid", "must not contain control characters")
	}
	return name
}

// scopes checks each scope against the known capabilities.
func (v *validator) scopes(scopes []string, known []string) []string {
	if len(scopes) == 0 {
		v.add("scopes", "required", "must list at least one capability, such as %q", firstOr(known, "files:read"))
		return nil
	}
	if len(scopes) > MaxScopes {
		v.add("scopes", "too_many", "must list at most %d capabilities", MaxScopes)
		return nil
	}
	out := make([]string, 0, len(scopes))
	for i, s := range scopes {
		if !slices.Contains(known, s) {
			v.add(fmt.Sprintf("scopes[%d]", i), "unknown", "%q is not a capability; valid values: %s", s, strings.Join(known, ", "))
			continue
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func firstOr(list []string, fallback string) string {
	if len(list) > 0 {
		return list[0]
	}
	return fallback
}

// allowedIPs parses CIDRs and bare addresses (IPv4 and IPv6) into canonical
// CIDR strings.
func (v *validator) allowedIPs(entries []string) []string {
	if len(entries) > MaxAllowedIPs {
		v.add("allowed_ips", "too_many", "must list at most %d entries", MaxAllowedIPs)
		return nil
	}
	out := make([]string, 0, len(entries))
	for i, e := range entries {
		p, err := ParseAllowedIP(e)
		if err != nil {
			v.add(fmt.Sprintf("allowed_ips[%d]", i), "invalid", "%q is not an IP address or CIDR such as 203.0.113.0/24 or 2001:db8::/32", e)
			continue
		}
		if s := p.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// ParseAllowedIP parses one allow-list entry. A bare address is a /32 or /128.
func ParseAllowedIP(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (v *validator) limits(perMinute, perHour *int) {
	if perMinute != nil && (*perMinute < 1 || *perMinute > MaxRatePerMinute) {
		v.add("rate_limit_per_minute", "range", "must be from 1 to %d, got %d", MaxRatePerMinute, *perMinute)
	}
	if perHour != nil && (*perHour < 1 || *perHour > MaxRatePerHour) {
		v.add("rate_limit_per_hour", "range", "must be from 1 to %d, got %d", MaxRatePerHour, *perHour)
	}
	if perMinute != nil && perHour != nil && *perHour < *perMinute {
		v.add("rate_limit_per_hour", "range", "must be at least rate_limit_per_minute (%d), got %d", *perMinute, *perHour)
	}
}

func (v *validator) expiry(at *time.Time, now time.Time) {
	if at != nil && at.Before(now.Add(minExpiryDistance)) {
		v.add("expires_at", "past", "must be at least a minute in the future, got %s", at.UTC().Format(time.RFC3339))
	}
}

// UpdateFields documents the PATCH body for the API reference: every field is
// optional, and null resets it. UpdateRequest is what the server decodes.
type UpdateFields struct {
	Name               *string    `json:"name,omitempty" minLength:"1" maxLength:"100" example:"CI pipeline (renamed)"`
	Scopes             []string   `json:"scopes,omitempty"`
	AllowedIPs         []string   `json:"allowed_ips,omitempty"`
	RateLimitPerMinute *int       `json:"rate_limit_per_minute,omitempty"`
	RateLimitPerHour   *int       `json:"rate_limit_per_hour,omitempty"`
	ExpiresAt          *time.Time `json:"expires_at,omitempty"`
}

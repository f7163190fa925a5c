// Package ids makes the platform's public identifiers: a type prefix and a
// ULID in lower-case Crockford base32, such as "key_01jd8x3k6m4v0q9s7t2w5y8z1a".
// The ULID's time part makes ids sort by creation, which cursor pagination uses.
package ids

import (
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// Prefixes of the id types.
const (
	Tenant  = "ten"
	User    = "usr"
	APIKey  = "key"
	Request = "req"
	Usage   = "use"
	Message = "msg"
)

var (
	mu      sync.Mutex
	entropy = ulid.Monotonic(rand.Reader, 0)
)

// New returns a new id with the given prefix. Ids made in the same millisecond
// by one process still sort in creation order.
func New(prefix string) string {
	mu.Lock()
	id := ulid.MustNew(ulid.Timestamp(time.Now()), entropy)
	mu.Unlock()
	// Built in one buffer: ids are made twice per API request.
	buf := make([]byte, len(prefix)+1+ulid.EncodedSize)
	copy(buf, prefix)
	buf[len(prefix)] = '_'
	text := buf[len(prefix)+1:]
	_ = id.MarshalTextTo(text) // text has exactly ulid.EncodedSize bytes
	for i, c := range text {
		if 'A' <= c && c <= 'Z' {
			text[i] = c + ('a' - 'A')
		}
	}
	return string(buf)
}

// Valid reports whether s is an id of the given prefix.
func Valid(prefix, s string) bool {
	rest, ok := strings.CutPrefix(s, prefix+"_")
	if !ok || len(rest) != ulid.EncodedSize {
		return false
	}
	_, err := ulid.ParseStrict(strings.ToUpper(rest))
	return err == nil
}

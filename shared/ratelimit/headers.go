package ratelimit

import (
	"net/http"
	"strconv"
	"time"

	"github.com/booga-enterprise/functions/shared/request"
)

// Header names of the per-window counters.
const (
	HeaderLimitMinute     = "X-RateLimit-Limit-Minute"
	HeaderRemainingMinute = "X-RateLimit-Remaining-Minute"
	HeaderLimitHour       = "X-RateLimit-Limit-Hour"
	HeaderRemainingHour   = "X-RateLimit-Remaining-Hour"
	HeaderPolicy          = "RateLimit-Policy"
	HeaderRateLimit       = "RateLimit"
)

// SetHeaders writes st to h as the X-RateLimit-* counters and as the
// RateLimit-Policy and RateLimit fields of the IETF draft
// draft-ietf-httpapi-ratelimit-headers-10 (September 2025). In that draft
// each field is a Structured Fields list with one item per quota policy,
// named by a string. A RateLimit-Policy item carries the quota q and the
// window w in seconds. A RateLimit item carries the remaining quota r and
// the seconds t until the window resets.
func SetHeaders(h http.Header, st request.RateState) {
	SetHeadersAt(h, st, time.Now())
}

// Canonical forms of the header names, so the hot path can assign the map
// entries without canonicalising on every request.
var (
	canonLimitMinute     = http.CanonicalHeaderKey(HeaderLimitMinute)
	canonRemainingMinute = http.CanonicalHeaderKey(HeaderRemainingMinute)
	canonLimitHour       = http.CanonicalHeaderKey(HeaderLimitHour)
	canonRemainingHour   = http.CanonicalHeaderKey(HeaderRemainingHour)
	canonPolicy          = http.CanonicalHeaderKey(HeaderPolicy)
	canonRateLimit       = http.CanonicalHeaderKey(HeaderRateLimit)
)

// SetHeadersAt is SetHeaders with the time the reset delays are counted from.
func SetHeadersAt(h http.Header, st request.RateState, now time.Time) {
	// One backing array for the six values saves five allocations per request.
	v := make([]string, 6)
	v[0] = strconv.Itoa(st.LimitMinute)
	v[1] = strconv.Itoa(st.RemainingMinute)
	v[2] = strconv.Itoa(st.LimitHour)
	v[3] = strconv.Itoa(st.RemainingHour)
	v[4] = `"minute";q=` + v[0] + ";w=" + strconv.Itoa(int(Minute/time.Second)) +
		`, "hour";q=` + v[2] + ";w=" + strconv.Itoa(int(Hour/time.Second))
	v[5] = `"minute";r=` + v[1] + ";t=" + strconv.Itoa(secondsUntil(now, st.ResetMinute)) +
		`, "hour";r=` + v[3] + ";t=" + strconv.Itoa(secondsUntil(now, st.ResetHour))

	h[canonLimitMinute] = v[0:1:1]
	h[canonRemainingMinute] = v[1:2:2]
	h[canonLimitHour] = v[2:3:3]
	h[canonRemainingHour] = v[3:4:4]
	h[canonPolicy] = v[4:5:5]
	h[canonRateLimit] = v[5:6:6]
}

// secondsUntil rounds up, so a client that waits t seconds is past the reset.
func secondsUntil(now, reset time.Time) int {
	d := reset.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

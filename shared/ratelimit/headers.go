package ratelimit

import (
	"fmt"
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
	setHeadersAt(h, st, time.Now())
}

func setHeadersAt(h http.Header, st request.RateState, now time.Time) {
	h.Set(HeaderLimitMinute, strconv.Itoa(st.LimitMinute))
	h.Set(HeaderRemainingMinute, strconv.Itoa(st.RemainingMinute))
	h.Set(HeaderLimitHour, strconv.Itoa(st.LimitHour))
	h.Set(HeaderRemainingHour, strconv.Itoa(st.RemainingHour))

	h.Set(HeaderPolicy, fmt.Sprintf(`"minute";q=%d;w=%d, "hour";q=%d;w=%d`,
		st.LimitMinute, int(Minute/time.Second), st.LimitHour, int(Hour/time.Second)))
	h.Set(HeaderRateLimit, fmt.Sprintf(`"minute";r=%d;t=%d, "hour";r=%d;t=%d`,
		st.RemainingMinute, secondsUntil(now, st.ResetMinute), st.RemainingHour, secondsUntil(now, st.ResetHour)))
}

// secondsUntil rounds up, so a client that waits t seconds is past the reset.
func secondsUntil(now, reset time.Time) int {
	d := reset.Sub(now)
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

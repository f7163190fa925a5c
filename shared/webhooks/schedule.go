package webhooks

import (
	"math/rand/v2"
	"time"
)

// Schedule is the retry policy of a delivery. Attempt 1 is made at once.
// Attempt n+1 follows attempt n after Delays[n-1], scaled by a random factor
// in [1-Jitter, 1+Jitter] so that deliveries that failed together do not
// retry together. MaxAttempts is len(Delays)+1.
type Schedule struct {
	Delays []time.Duration
	Jitter float64
	// Rand returns a number in [0, 1); default math/rand/v2.Float64.
	Rand func() float64
}

// DefaultSchedule retries 7 times, each delay four times the previous
// from one minute and capped at ten hours, with ±25% jitter. Without
// jitter the attempts are made at 0, 1m, 5m, 21m, 1h25m, 5h41m, 15h41m and
// 25h41m, about a day in all.
func DefaultSchedule() Schedule {
	return Schedule{
		Delays: []time.Duration{
			time.Minute, 4 * time.Minute, 16 * time.Minute, 64 * time.Minute,
			256 * time.Minute, 10 * time.Hour, 10 * time.Hour,
		},
		Jitter: 0.25,
	}
}

// MaxAttempts returns how many attempts a delivery gets before it is
// exhausted.
func (s Schedule) MaxAttempts() int { return len(s.Delays) + 1 }

// Delay returns how long to wait after failed attempt n (1-based) before
// the next, and false when n was the last attempt.
func (s Schedule) Delay(n int) (time.Duration, bool) {
	if n < 1 || n > len(s.Delays) {
		return 0, false
	}
	d := s.Delays[n-1]
	if s.Jitter > 0 {
		r := rand.Float64
		if s.Rand != nil {
			r = s.Rand
		}
		factor := 1 - s.Jitter + 2*s.Jitter*r()
		d = time.Duration(float64(d) * factor)
	}
	return d, true
}

// pauseAfter returns how long a failing endpoint gets no new sends after
// its k-th consecutive failure: 10 seconds doubling, at most 5 minutes.
// Deliveries due meanwhile are moved to the end of the pause without
// counting an attempt, so a dead endpoint costs one timed-out send per
// pause whatever its backlog, and other tenants' deliveries are not stuck
// behind it.
func pauseAfter(k int) time.Duration {
	if k < 1 {
		return 0
	}
	d := 10 * time.Second
	for i := 1; i < k && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

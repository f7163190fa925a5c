package ratelimit

import (
	"sync"
	"time"
)

// localLimiter is the in-process fallback used while Redis is unreachable.
// It applies the same fixed windows as the Redis script, exactly, but only to
// the requests this instance receives, so N instances admit up to N times the limit.
type localLimiter struct {
	mu        sync.Mutex
	counters  map[string]*localCounter
	revoked   map[string]time.Time // key id -> marker expiry
	lastSweep time.Time
}

type localCounter struct {
	minuteStart, hourStart time.Time
	minute, hour           int
}

func newLocalLimiter() *localLimiter {
	return &localLimiter{counters: map[string]*localCounter{}, revoked: map[string]time.Time{}}
}

func (l *localLimiter) revoke(keyID string, until time.Time) {
	l.mu.Lock()
	l.revoked[keyID] = until
	l.mu.Unlock()
}

func (l *localLimiter) allow(keyID string, perMinute, perHour int, w windows, now time.Time) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(w)

	if until, ok := l.revoked[keyID]; ok && now.Before(until) {
		return decide(-1, 0, 0, perMinute, perHour, w)
	}
	c := l.counters[keyID]
	if c == nil {
		c = &localCounter{}
		l.counters[keyID] = c
	}
	if !c.minuteStart.Equal(w.minuteStart) {
		c.minuteStart, c.minute = w.minuteStart, 0
	}
	if !c.hourStart.Equal(w.hourStart) {
		c.hourStart, c.hour = w.hourStart, 0
	}
	if c.minute >= perMinute || c.hour >= perHour {
		return decide(0, c.minute, c.hour, perMinute, perHour, w)
	}
	c.minute++
	c.hour++
	return decide(1, c.minute, c.hour, perMinute, perHour, w)
}

// sweep drops counters of past hours and expired revocation markers, at most
// once a minute, so memory contains only keys used since the previous hour
// began.
func (l *localLimiter) sweep(w windows) {
	if w.now.Sub(l.lastSweep) < Minute {
		return
	}
	l.lastSweep = w.now
	for id, c := range l.counters {
		if c.hourStart.Before(w.hourStart) {
			delete(l.counters, id)
		}
	}
	for id, until := range l.revoked {
		if !w.now.Before(until) {
			delete(l.revoked, id)
		}
	}
}

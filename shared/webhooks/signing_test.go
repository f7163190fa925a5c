package webhooks

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSign(t *testing.T) {
	t.Parallel()
	// A fixed vector; the root package's webhook test also verifies real
	// deliveries with the npm standardwebhooks package.
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"test": 2432232314}`)
	sig, err := Sign([]string{secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
	require.NoError(t, err)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig)

	t.Run("TwoSecrets", func(t *testing.T) {
		other, err := NewSecret()
		require.NoError(t, err)
		both, err := Sign([]string{other, secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), body)
		require.NoError(t, err)
		parts := strings.Split(both, " ")
		require.Len(t, parts, 2)
		require.Equal(t, sig, parts[1])
	})

	t.Run("InvalidSecret", func(t *testing.T) {
		_, err := Sign([]string{"not-a-secret"}, "id", time.Unix(1, 0), body)
		require.Error(t, err)
		_, err = Sign(nil, "id", time.Unix(1, 0), body)
		require.Error(t, err)
	})
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, err := NewSecret()
	require.NoError(t, err)
	b, err := NewSecret()
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	require.True(t, strings.HasPrefix(a, SecretPrefix))
	key, err := secretKey(a)
	require.NoError(t, err)
	require.Len(t, key, 32)
}

func TestSchedule_Delay(t *testing.T) {
	t.Parallel()
	s := DefaultSchedule()
	require.Equal(t, 8, s.MaxAttempts())

	t.Run("WithoutJitter", func(t *testing.T) {
		s := DefaultSchedule()
		s.Rand = func() float64 { return 0.5 } // factor exactly 1
		want := []time.Duration{time.Minute, 4 * time.Minute, 16 * time.Minute, 64 * time.Minute, 256 * time.Minute, 10 * time.Hour, 10 * time.Hour}
		var total time.Duration
		for n := 1; n <= 7; n++ {
			d, ok := s.Delay(n)
			require.True(t, ok, "attempt %d", n)
			require.Equal(t, want[n-1], d, "attempt %d", n)
			total += d
		}
		_, ok := s.Delay(8)
		require.False(t, ok, "attempt 8 is the last")
		require.Equal(t, 25*time.Hour+41*time.Minute, total)
	})

	t.Run("JitterBounds", func(t *testing.T) {
		low := DefaultSchedule()
		low.Rand = func() float64 { return 0 }
		high := DefaultSchedule()
		high.Rand = func() float64 { return 0.999999 }
		d, _ := low.Delay(1)
		require.Equal(t, 45*time.Second, d)
		d, _ = high.Delay(1)
		require.InDelta(t, float64(75*time.Second), float64(d), float64(time.Millisecond))
	})

	t.Run("OutOfRange", func(t *testing.T) {
		_, ok := s.Delay(0)
		require.False(t, ok)
	})
}

func TestPauseAfter(t *testing.T) {
	t.Parallel()
	require.Zero(t, pauseAfter(0))
	require.Equal(t, 10*time.Second, pauseAfter(1))
	require.Equal(t, 20*time.Second, pauseAfter(2))
	require.Equal(t, 5*time.Minute, pauseAfter(20))
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	require.Equal(t, 120*time.Second, parseRetryAfter("120", now))
	require.Equal(t, time.Hour, parseRetryAfter(now.Add(time.Hour).Format(http1123), now))
	require.Zero(t, parseRetryAfter("soon", now))
	require.Zero(t, parseRetryAfter("", now))
	require.Equal(t, maxRetryAfter, parseRetryAfter("9999999", now))
}

const http1123 = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestMatches(t *testing.T) {
	t.Parallel()
	require.True(t, Matches([]string{"*"}, "file.uploaded"))
	require.True(t, Matches([]string{"file.*"}, "file.uploaded"))
	require.True(t, Matches([]string{"agent.*"}, "agent.run.failed"))
	require.True(t, Matches([]string{"api_key.revoked"}, "api_key.revoked"))
	require.False(t, Matches([]string{"file.*"}, "files.x"))
	require.False(t, Matches([]string{"file.*"}, "file"))
	require.False(t, Matches([]string{"api_key.created"}, "api_key.revoked"))
	require.False(t, Matches(nil, "file.uploaded"))
}

func TestValidPattern(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"*", "file.*", "agent.*", "agent.run.*", "api_key.created"} {
		require.True(t, validPattern(ok), ok)
	}
	for _, bad := range []string{"", "file", "nope.*", "*.uploaded", "file.**", ".*", "file.uploaded.*"} {
		require.False(t, validPattern(bad), bad)
	}
}

// Package redistest connects tests to the local Redis with a key prefix of
// their own, so parallel tests never see each other's keys.
package redistest

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

var counter atomic.Int64

// URL is TEST_REDIS_URL, else the local Redis on 127.0.0.1:6379.
func URL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// New returns a client and a unique key prefix; the prefix's keys are deleted
// when the test ends.
func New(t testing.TB) (*goredis.Client, string) {
	t.Helper()
	opts, err := goredis.ParseURL(URL())
	if err != nil {
		t.Fatalf("parse TEST_REDIS_URL: %v", err)
	}
	c := goredis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("connect to Redis at %s: %v (start it or set TEST_REDIS_URL)", URL(), err)
	}
	prefix := fmt.Sprintf("test:%d:%d:%d:", os.Getpid(), time.Now().UnixNano(), counter.Add(1))
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		_ = c.Close()
	})
	return c, prefix
}

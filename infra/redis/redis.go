// Package redis opens the platform's Redis client.
package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Open parses a redis:// or rediss:// URL and returns a client. It does not
// wait for Redis: the platform starts and reports Redis as down in /api/health
// rather than refusing to start.
func Open(url string, configure func(*goredis.Options)) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	opts.DialTimeout = 2 * time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	opts.MaxRetries = 1
	if configure != nil {
		configure(opts)
	}
	return goredis.NewClient(opts), nil
}

// Ping checks that Redis replies to PING within timeout.
func Ping(ctx context.Context, c goredis.UniversalClient, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.Ping(ctx).Err()
}

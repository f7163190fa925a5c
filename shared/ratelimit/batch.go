package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds how many script calls one pipeline carries.
const maxBatch = 128

// batchWorkers is how many pipelines may be in flight at once.
const batchWorkers = 2

// scriptCall is one pending run of the allow script.
type scriptCall struct {
	ctx  context.Context
	keys []string
	args []any
	done chan scriptResult
}

type scriptResult struct {
	values []int64
	err    error
}

// batcher sends the allow script for concurrent requests in shared
// pipelines: under load, one write and one read system call carry many
// requests instead of one each, which is where the request path spent most
// of its CPU. A call that finds the queue empty is sent at once, so a lone
// request waits for nothing. Each script run is still atomic in Redis, so
// batching changes no count.
type batcher struct {
	rdb   redis.UniversalClient
	calls chan *scriptCall
	once  sync.Once
}

func newBatcher(rdb redis.UniversalClient) *batcher {
	return &batcher{rdb: rdb, calls: make(chan *scriptCall, 4096)}
}

func (b *batcher) start() {
	for i := 0; i < batchWorkers; i++ {
		go b.work()
	}
}

// run queues one script call and waits for its result or for ctx to end.
func (b *batcher) run(ctx context.Context, keys []string, args ...any) ([]int64, error) {
	b.once.Do(b.start)
	call := &scriptCall{ctx: ctx, keys: keys, args: args, done: make(chan scriptResult, 1)}
	select {
	case b.calls <- call:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-call.done:
		return res.values, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// work takes whatever calls are queued, up to maxBatch, and sends them in
// one pipeline. The workers live as long as the process, like the client's
// connection pool.
func (b *batcher) work() {
	batch := make([]*scriptCall, 0, maxBatch)
	for first := range b.calls {
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case c := <-b.calls:
				batch = append(batch, c)
			default:
				break fill
			}
		}
		b.send(batch)
	}
}

func (b *batcher) send(batch []*scriptCall) {
	live := batch[:0]
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.done <- scriptResult{err: err}
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	// The calls' own contexts may end while the pipeline runs; the client's
	// read and write timeouts bound it instead.
	ctx := context.WithoutCancel(live[0].ctx)
	cmds, err := b.pipeline(ctx, live)
	if err != nil && isNoScript(err) {
		// The server lost its script cache (restart, SCRIPT FLUSH): load the
		// script once and send the batch again.
		if lerr := allowScript.Load(ctx, b.rdb).Err(); lerr == nil {
			cmds, err = b.pipeline(ctx, live)
		}
	}
	for i, c := range live {
		if cmds == nil {
			c.done <- scriptResult{err: err}
			continue
		}
		values, cerr := cmds[i].Int64Slice()
		c.done <- scriptResult{values: values, err: cerr}
	}
}

func (b *batcher) pipeline(ctx context.Context, calls []*scriptCall) ([]*redis.Cmd, error) {
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = allowScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, err := pipe.Exec(ctx)
	if err != nil && !isNoScript(err) && !isRedisReply(err) {
		return nil, fmt.Errorf("send rate limit pipeline of %d calls: %w", len(calls), err)
	}
	return cmds, err
}

func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }

// isRedisReply reports whether err is an error reply of one command, which
// leaves the other commands' results usable, rather than a connection fault.
func isRedisReply(err error) bool {
	var reply redis.Error
	return errors.As(err, &reply)
}

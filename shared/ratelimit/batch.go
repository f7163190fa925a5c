package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// maxBatch bounds how many checks one pipeline carries.
const maxBatch = 128

// batchWorkers is how many pipelines may be in flight at once. With one,
// checks that arrive while a pipeline is in flight wait for it and go out
// together in the next one, so batches grow with the load.
const batchWorkers = 1

// check is one request's pending rate-limit check.
type check struct {
	ctx                            context.Context
	minuteKey, hourKey, revokedKey string
	perMinute, perHour             int
	// minuteTTL and hourTTL are the counters' expiries in milliseconds.
	minuteTTL, hourTTL int64
	done               chan checkResult
}

// checkResult is the script's result for one request.
type checkResult struct {
	// status is 1 when the request is allowed, 0 when a window is at its
	// limit and -1 when the key is revoked.
	status       int64
	minute, hour int64
	err          error
}

// groupKey identifies the checks in one batch that share a key, window and
// limits; one script run counts them all.
type groupKey struct {
	minuteKey, hourKey string
	perMinute, perHour int
}

// checkPool recycles checks and their result channels. A check goes back to
// the pool only after its result was received, so no late send can reach a
// new owner.
var checkPool = sync.Pool{New: func() any { return &check{done: make(chan checkResult, 1)} }}

// batcher sends the allow script for concurrent requests in shared
// pipelines: under load, one write and one read system call carry many
// requests instead of one each. Requests of the same key that arrive
// together are counted by one script run with their number, so a busy key
// costs Redis one script per batch rather than one per request. A lone
// request waits only for a pipeline already in flight. Every script run is
// atomic in Redis and admits requests only up to the limits, so batching
// changes no count.
//
// NOTE: the client retries a pipeline once after a network error
// (MaxRetries in infra/redis). If Redis ran the scripts before the
// connection failed, the retry counts those requests twice, which can
// cause early 429s but never admits more than a limit.
type batcher struct {
	rdb    redis.UniversalClient
	checks chan *check
	once   sync.Once
}

func newBatcher(rdb redis.UniversalClient) *batcher {
	return &batcher{rdb: rdb, checks: make(chan *check, 4096)}
}

func (b *batcher) start() {
	for i := 0; i < batchWorkers; i++ {
		w := &worker{rdb: b.rdb, index: make(map[groupKey]int)}
		go w.work(b.checks)
	}
}

// run queues one check and waits for its result or for ctx to end. The
// caller's c is copied, so it may live on the caller's stack.
func (b *batcher) run(ctx context.Context, c check) (checkResult, error) {
	b.once.Do(b.start)
	pending := checkPool.Get().(*check)
	done := pending.done
	*pending = c
	pending.ctx = ctx
	pending.done = done
	select {
	case b.checks <- pending:
	case <-ctx.Done():
		pending.ctx = nil
		checkPool.Put(pending)
		return checkResult{}, ctx.Err()
	}
	select {
	case res := <-done:
		pending.ctx = nil
		checkPool.Put(pending)
		return res, res.err
	case <-ctx.Done():
		// The worker still owns pending and will send to its channel, so it
		// is left to the garbage collector.
		return checkResult{}, ctx.Err()
	}
}

// worker sends batches; each worker keeps its own scratch space.
type worker struct {
	rdb    redis.UniversalClient
	batch  []*check
	groups [][]*check
	index  map[groupKey]int
}

// work takes whatever checks are queued, up to maxBatch, and sends them in
// one pipeline. The workers live as long as the process, like the client's
// connection pool.
func (w *worker) work(checks chan *check) {
	w.batch = make([]*check, 0, maxBatch)
	for first := range checks {
		w.batch = append(w.batch[:0], first)
	fill:
		for len(w.batch) < maxBatch {
			select {
			case c := <-checks:
				w.batch = append(w.batch, c)
			default:
				break fill
			}
		}
		w.send()
	}
}

// send groups the batch by key, window and limits, in arrival order, and
// runs the script once per group.
func (w *worker) send() {
	clear(w.index)
	w.groups = w.groups[:0]
	var ctx context.Context
	for _, c := range w.batch {
		if err := c.ctx.Err(); err != nil {
			c.done <- checkResult{err: err}
			continue
		}
		if ctx == nil {
			// The checks' own contexts may end while the pipeline runs; the
			// client's read and write timeouts bound it instead.
			ctx = context.WithoutCancel(c.ctx)
		}
		k := groupKey{minuteKey: c.minuteKey, hourKey: c.hourKey, perMinute: c.perMinute, perHour: c.perHour}
		i, ok := w.index[k]
		if !ok {
			i = len(w.groups)
			w.index[k] = i
			if i < cap(w.groups) {
				w.groups = w.groups[:i+1]
				w.groups[i] = w.groups[i][:0]
			} else {
				w.groups = append(w.groups, make([]*check, 0, 4))
			}
		}
		w.groups[i] = append(w.groups[i], c)
	}
	if ctx == nil {
		return
	}
	cmds, err := w.pipeline(ctx, w.groups)
	if cmds != nil {
		w.reloadAndRetry(ctx, cmds)
	}
	for i, g := range w.groups {
		if cmds == nil {
			deliver(g, checkResult{err: err})
			continue
		}
		values, cerr := cmds[i].Int64Slice()
		if cerr == nil && len(values) != 3 {
			cerr = fmt.Errorf("rate limit script returned %d values, expected 3", len(values))
		}
		if cerr != nil {
			deliver(g, checkResult{err: cerr})
			continue
		}
		share(g, values[0], values[1], values[2])
	}
}

// share hands one script result to the checks of its group. The first
// admitted checks, in arrival order, are allowed, and each gets the counts as
// they were after it. The rest are rejected and get the final counts.
func share(g []*check, admitted, minute, hour int64) {
	if admitted < 0 {
		deliver(g, checkResult{status: -1})
		return
	}
	for i, c := range g {
		n := int64(i)
		if n < admitted {
			c.done <- checkResult{status: 1, minute: minute - admitted + n + 1, hour: hour - admitted + n + 1}
		} else {
			c.done <- checkResult{status: 0, minute: minute, hour: hour}
		}
	}
}

func deliver(g []*check, res checkResult) {
	for _, c := range g {
		c.done <- res
	}
}

// reloadAndRetry handles groups whose script run failed with NOSCRIPT
// because the server lost its script cache (restart, SCRIPT FLUSH). It loads
// the script and sends those groups again, and only those: the others were
// counted already. Their commands in cmds are replaced by the new ones.
func (w *worker) reloadAndRetry(ctx context.Context, cmds []*redis.Cmd) {
	var again []int
	for i, cmd := range cmds {
		if isNoScript(cmd.Err()) {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return
	}
	if err := allowScript.Load(ctx, w.rdb).Err(); err != nil {
		loadErr := fmt.Errorf("load rate limit script after NOSCRIPT: %w", err)
		for _, i := range again {
			cmds[i] = redis.NewCmd(ctx)
			cmds[i].SetErr(loadErr)
		}
		return
	}
	groups := make([][]*check, len(again))
	for j, i := range again {
		groups[j] = w.groups[i]
	}
	retried, err := w.pipeline(ctx, groups)
	for j, i := range again {
		if retried == nil {
			cmds[i] = redis.NewCmd(ctx)
			cmds[i].SetErr(err)
			continue
		}
		cmds[i] = retried[j]
	}
}

// pipeline runs the script once per group in one pipeline. It returns nil
// commands when the pipeline failed as a whole; otherwise each command
// carries its own result or error reply.
func (w *worker) pipeline(ctx context.Context, groups [][]*check) ([]*redis.Cmd, error) {
	pipe := w.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(groups))
	for i, g := range groups {
		c := g[0]
		cmds[i] = allowScript.EvalSha(ctx, pipe, []string{c.minuteKey, c.hourKey, c.revokedKey},
			c.perMinute, c.perHour, c.minuteTTL, c.hourTTL, len(g))
	}
	_, err := pipe.Exec(ctx)
	if err != nil && !isRedisReply(err) {
		return nil, fmt.Errorf("send rate limit pipeline of %d scripts: %w", len(groups), err)
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

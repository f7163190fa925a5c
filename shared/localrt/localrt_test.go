package localrt

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/functions"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/shared/customhandler"
	"github.com/booga-enterprise/functions/shared/queue"
)

// waitLimit only stops a broken test from hanging; no assertion depends on it.
const waitLimit = 20 * time.Second

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func timerDef(name, schedule string) functions.Definition {
	b := functions.Binding{Type: functions.TriggerTimer, Direction: "in", Name: "timer", Schedule: schedule}
	return functions.Definition{Name: name, Trigger: b, Bindings: []functions.Binding{b}}
}

func queueDef(name, queueName, cardinality string) functions.Definition {
	b := functions.Binding{Type: functions.TriggerServiceBus, Direction: "in", Name: "message", QueueName: queueName, Connection: "ServiceBus", Cardinality: cardinality}
	return functions.Definition{Name: name, Trigger: b, Bindings: []functions.Binding{b}}
}

// start runs rt until the test ends and returns a channel closed when Run returns.
func start(t *testing.T, rt *Runtime) (context.CancelFunc, <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		require.NoError(t, rt.Run(ctx))
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return cancel, done
}

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatal("no invocation arrived")
		panic("unreachable")
	}
}

func newQueue(t *testing.T, opts ...queue.Option) (*queue.Store, *pgxpool.Pool) {
	t.Helper()
	pool, _ := pgtest.NewPool(t)
	return queue.NewStore(pool, opts...), pool
}

func queueRow(t *testing.T, pool *pgxpool.Pool, id string) (exists, deadLettered bool, deliveries int) {
	t.Helper()
	err := pool.QueryRow(context.Background(),
		`SELECT true, dead_lettered_at IS NOT NULL, delivery_count FROM queue_messages WHERE message_id = $1`, id).
		Scan(&exists, &deadLettered, &deliveries)
	if err != nil {
		return false, false, 0
	}
	return exists, deadLettered, deliveries
}

func TestRuntime_Run(t *testing.T) {
	t.Parallel()

	t.Run("TimerFires", func(t *testing.T) {
		t.Parallel()
		seen := make(chan customhandler.Invocation, 4)
		def := timerDef("tick", "* * * * * *")
		h := customhandler.NewHandler(map[string]customhandler.FunctionFunc{
			"tick": func(ctx context.Context, inv customhandler.Invocation) (any, error) {
				seen <- inv
				return nil, nil
			},
		}, quiet)
		rt, err := New(Options{Handler: h, Functions: []functions.Definition{def}, Logger: quiet})
		require.NoError(t, err)
		start(t, rt)

		first := receive(t, seen)
		require.Equal(t, "tick", first.FunctionName)
		require.NotEmpty(t, first.InvocationID)
		info, err := customhandler.ParseTimer(first, def.TriggerBinding())
		require.NoError(t, err)
		require.False(t, info.HasStatus, "the first run has no previous occurrence")

		second := receive(t, seen)
		info, err = customhandler.ParseTimer(second, def.TriggerBinding())
		require.NoError(t, err)
		require.True(t, info.HasStatus)
		require.False(t, info.Last.IsZero())
		require.True(t, info.Next.After(info.Last))
		require.Equal(t, 0, info.Next.Nanosecond(), "a seconds schedule fires on whole seconds")
		sys, err := customhandler.ParseSystem(second)
		require.NoError(t, err)
		require.Equal(t, "tick", sys.MethodName)
	})

	t.Run("QueueMessageCompleted", func(t *testing.T) {
		t.Parallel()
		store, pool := newQueue(t)
		def := queueDef("work", "jobs", "")
		seen := make(chan customhandler.Message, 4)
		h := customhandler.NewHandler(map[string]customhandler.FunctionFunc{
			"work": func(ctx context.Context, inv customhandler.Invocation) (any, error) {
				msgs, err := customhandler.ParseServiceBus(inv, def.TriggerBinding())
				if err != nil {
					return nil, err
				}
				for _, m := range msgs {
					seen <- m
				}
				return nil, nil
			},
		}, quiet)
		require.NoError(t, store.Publish(context.Background(), "jobs", queue.Message{ID: "m1", Body: []byte(`{"tenant_id":"ten_1","n":1}`)}))
		rt, err := New(Options{Handler: h, Functions: []functions.Definition{def}, Queue: store, Logger: quiet, PollInterval: 10 * time.Millisecond})
		require.NoError(t, err)
		start(t, rt)

		m := receive(t, seen)
		require.Equal(t, "m1", m.ID)
		require.JSONEq(t, `{"tenant_id":"ten_1","n":1}`, string(m.Body))
		require.Equal(t, 1, m.DeliveryCount)
		require.Equal(t, "application/json", m.ContentType)
		require.False(t, m.EnqueuedAt.IsZero())
		require.Eventually(t, func() bool {
			exists, _, _ := queueRow(t, pool, "m1")
			return !exists
		}, waitLimit, 10*time.Millisecond, "message completed and deleted")
	})

	t.Run("QueueBatch", func(t *testing.T) {
		t.Parallel()
		store, _ := newQueue(t)
		def := queueDef("work-batch", "batch-jobs", "many")
		seen := make(chan []customhandler.Message, 4)
		h := customhandler.NewHandler(map[string]customhandler.FunctionFunc{
			"work-batch": func(ctx context.Context, inv customhandler.Invocation) (any, error) {
				msgs, err := customhandler.ParseServiceBus(inv, def.TriggerBinding())
				if err != nil {
					return nil, err
				}
				seen <- msgs
				return nil, nil
			},
		}, quiet)
		require.NoError(t, store.Publish(context.Background(), "batch-jobs",
			queue.Message{ID: "b1", Body: []byte(`{"n":1}`)},
			queue.Message{ID: "b2", Body: []byte("plain text"), ContentType: "text/plain"},
			queue.Message{ID: "b3", Body: []byte{0xff, 0x00}, ContentType: "application/octet-stream"},
		))
		rt, err := New(Options{Handler: h, Functions: []functions.Definition{def}, Queue: store, Logger: quiet, PollInterval: 10 * time.Millisecond})
		require.NoError(t, err)
		start(t, rt)

		msgs := receive(t, seen)
		require.Len(t, msgs, 3)
		require.Equal(t, []string{"b1", "b2", "b3"}, []string{msgs[0].ID, msgs[1].ID, msgs[2].ID})
		require.JSONEq(t, `{"n":1}`, string(msgs[0].Body))
		require.Equal(t, "plain text", string(msgs[1].Body))
		require.Equal(t, "text/plain", msgs[1].ContentType)
		require.NotEmpty(t, msgs[2].Body, "binary body arrives as base64")
	})

	t.Run("FailingFunctionDeadLettered", func(t *testing.T) {
		t.Parallel()
		store, pool := newQueue(t, queue.WithMaxDeliveryCount(3))
		def := queueDef("flaky", "flaky-jobs", "one")
		var mu sync.Mutex
		var counts []int
		h := customhandler.NewHandler(map[string]customhandler.FunctionFunc{
			"flaky": func(ctx context.Context, inv customhandler.Invocation) (any, error) {
				msgs, err := customhandler.ParseServiceBus(inv, def.TriggerBinding())
				if err != nil {
					return nil, err
				}
				mu.Lock()
				counts = append(counts, msgs[0].DeliveryCount)
				mu.Unlock()
				return nil, errors.New("downstream unavailable")
			},
		}, quiet)
		require.NoError(t, store.Publish(context.Background(), "flaky-jobs", queue.Message{ID: "poison", Body: []byte(`{}`)}))
		rt, err := New(Options{
			Handler: h, Functions: []functions.Definition{def}, Queue: store, Logger: quiet,
			PollInterval: 10 * time.Millisecond,
			Backoff:      func(int) time.Duration { return 0 },
		})
		require.NoError(t, err)
		cancel, done := start(t, rt)

		require.Eventually(t, func() bool {
			_, dead, _ := queueRow(t, pool, "poison")
			return dead
		}, waitLimit, 10*time.Millisecond)
		cancel()
		<-done

		mu.Lock()
		defer mu.Unlock()
		require.Equal(t, []int{1, 2, 3}, counts, "delivered three times, then dead-lettered")
		var lastError string
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT last_error FROM queue_messages WHERE message_id = 'poison'`).Scan(&lastError))
		require.Contains(t, lastError, "downstream unavailable")
	})

	t.Run("StopFinishesInFlight", func(t *testing.T) {
		t.Parallel()
		store, pool := newQueue(t)
		def := queueDef("slow", "slow-jobs", "")
		started := make(chan struct{})
		release := make(chan struct{})
		var invocationErr error
		h := customhandler.NewHandler(map[string]customhandler.FunctionFunc{
			"slow": func(ctx context.Context, inv customhandler.Invocation) (any, error) {
				close(started)
				<-release
				invocationErr = ctx.Err()
				return nil, nil
			},
		}, quiet)
		require.NoError(t, store.Publish(context.Background(), "slow-jobs", queue.Message{ID: "s1", Body: []byte(`{}`)}))
		rt, err := New(Options{Handler: h, Functions: []functions.Definition{def}, Queue: store, Logger: quiet, PollInterval: 10 * time.Millisecond})
		require.NoError(t, err)
		cancel, done := start(t, rt)

		receive(t, started)
		cancel()
		select {
		case <-done:
			t.Fatal("Run returned while an invocation was in flight")
		default:
		}
		close(release)
		<-done

		require.NoError(t, invocationErr, "the invocation context is not canceled by shutdown")
		exists, _, _ := queueRow(t, pool, "s1")
		require.False(t, exists, "the in-flight message was completed")
	})
}

func TestRuntime_Fire(t *testing.T) {
	t.Parallel()
	seen := make(chan customhandler.Invocation, 1)
	def := timerDef("usage-drain", "0 0 0 1 1 *")
	h := customhandler.NewHandler(map[string]customhandler.FunctionFunc{
		"usage-drain": func(ctx context.Context, inv customhandler.Invocation) (any, error) {
			seen <- inv
			return nil, errors.New("fails on purpose")
		},
	}, quiet)
	rt, err := New(Options{Handler: h, Functions: []functions.Definition{def}, Logger: quiet})
	require.NoError(t, err)

	err = rt.Fire(context.Background(), "usage-drain")
	require.ErrorContains(t, err, "responded 500")
	require.ErrorContains(t, err, "fails on purpose")
	info, err := customhandler.ParseTimer(<-seen, def.TriggerBinding())
	require.NoError(t, err)
	require.False(t, info.HasStatus)

	require.ErrorContains(t, rt.Fire(context.Background(), "nope"), `no timer function named "nope"`)
}

func TestNew(t *testing.T) {
	t.Parallel()
	h := customhandler.NewHandler(nil, quiet)
	store := queue.NewStore(nil)

	t.Run("NoHandler", func(t *testing.T) {
		t.Parallel()
		_, err := New(Options{})
		require.ErrorContains(t, err, "Handler is required")
	})

	t.Run("BadSchedule", func(t *testing.T) {
		t.Parallel()
		_, err := New(Options{Handler: h, Functions: []functions.Definition{timerDef("t", "0 */1 * * *")}})
		require.ErrorContains(t, err, "parse schedule")
	})

	t.Run("ServiceBusWithoutQueue", func(t *testing.T) {
		t.Parallel()
		_, err := New(Options{Handler: h, Functions: []functions.Definition{queueDef("w", "jobs", "")}})
		require.ErrorContains(t, err, "Options.Queue is nil")
	})

	t.Run("TwoConsumersOfOneQueue", func(t *testing.T) {
		t.Parallel()
		_, err := New(Options{Handler: h, Queue: store, Functions: []functions.Definition{queueDef("a", "jobs", ""), queueDef("b", "jobs", "")}})
		require.ErrorContains(t, err, `both consume local queue "jobs"`)
	})

	t.Run("EmbeddedDefinitions", func(t *testing.T) {
		t.Parallel()
		defs, err := functions.Definitions()
		require.NoError(t, err)
		rt, err := New(Options{Handler: h, Queue: store, Functions: defs})
		require.NoError(t, err)
		var want, got []string
		for _, d := range defs {
			if d.TriggerType() == functions.TriggerTimer {
				want = append(want, d.Name)
			}
		}
		for _, tj := range rt.timers {
			got = append(got, tj.def.Name)
		}
		require.ElementsMatch(t, want, got, "every timer folder is scheduled")
		require.Contains(t, got, "usage-drain")
	})
}

func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		deliveries int
		max        time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {9, 256 * time.Second}, {10, 5 * time.Minute}, {1000, 5 * time.Minute}}
	for _, tc := range cases {
		for range 50 {
			d := DefaultBackoff(tc.deliveries)
			require.GreaterOrEqual(t, d, tc.max/2, "delivery %d", tc.deliveries)
			require.LessOrEqual(t, d, tc.max, "delivery %d", tc.deliveries)
		}
	}
}

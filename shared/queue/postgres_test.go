package queue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
)

// fakeClock starts a little ahead of the real time, because messages
// published without NotBefore become visible at the database's now().
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now().Add(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newStore(t *testing.T, opts ...Option) (*Store, *fakeClock, *pgxpool.Pool) {
	t.Helper()
	pool, _ := pgtest.NewPool(t)
	clock := newFakeClock()
	return NewStore(pool, append([]Option{WithClock(clock.Now)}, opts...)...), clock, pool
}

type row struct {
	DeliveryCount int
	DeadLettered  bool
	LastError     *string
	VisibleAt     time.Time
}

func readRow(t *testing.T, pool *pgxpool.Pool, queue, id string) row {
	t.Helper()
	var r row
	err := pool.QueryRow(context.Background(),
		`SELECT delivery_count, dead_lettered_at IS NOT NULL, last_error, visible_at FROM queue_messages WHERE queue = $1 AND message_id = $2`,
		queue, id).Scan(&r.DeliveryCount, &r.DeadLettered, &r.LastError, &r.VisibleAt)
	require.NoError(t, err)
	return r
}

func countRows(t *testing.T, pool *pgxpool.Pool, queue string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM queue_messages WHERE queue = $1`, queue).Scan(&n))
	return n
}

func TestStore_Publish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, pool := newStore(t)

	t.Run("DuplicateIDIsNoOp", func(t *testing.T) {
		require.NoError(t, store.Publish(ctx, "dedupe", Message{ID: "a", Body: []byte(`{"n":1}`)}))
		require.NoError(t, store.Publish(ctx, "dedupe", Message{ID: "a", Body: []byte(`{"n":2}`)}, Message{ID: "a", Body: []byte(`{"n":3}`)}))
		require.Equal(t, 1, countRows(t, pool, "dedupe"))
		ds, err := store.Receive(ctx, "dedupe", 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.JSONEq(t, `{"n":1}`, string(ds[0].Body), "the first publish wins")
	})

	t.Run("SameIDOtherQueue", func(t *testing.T) {
		require.NoError(t, store.Publish(ctx, "q1", Message{ID: "shared"}))
		require.NoError(t, store.Publish(ctx, "q2", Message{ID: "shared"}))
		require.Equal(t, 1, countRows(t, pool, "q1"))
		require.Equal(t, 1, countRows(t, pool, "q2"))
	})

	t.Run("Defaults", func(t *testing.T) {
		require.NoError(t, store.Publish(ctx, "defaults", Message{Body: []byte(`{}`)}, Message{Body: []byte(`{}`)}))
		ds, err := store.Receive(ctx, "defaults", 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, ds, 2)
		require.NotEqual(t, ds[0].ID, ds[1].ID, "empty ids get distinct generated ids")
		require.Equal(t, "application/json", ds[0].ContentType)
	})

	t.Run("NotBefore", func(t *testing.T) {
		store, clock, _ := newStore(t)
		require.NoError(t, store.Publish(ctx, "later", Message{ID: "x", NotBefore: clock.Now().Add(time.Hour)}))
		ds, err := store.Receive(ctx, "later", 10, time.Minute)
		require.NoError(t, err)
		require.Empty(t, ds)
		clock.Advance(time.Hour)
		ds, err = store.Receive(ctx, "later", 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, ds, 1)
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		require.ErrorIs(t, store.Publish(ctx, "", Message{}), ErrInvalid)
		long := make([]byte, 129)
		for i := range long {
			long[i] = 'x'
		}
		require.ErrorIs(t, store.Publish(ctx, "q", Message{ID: string(long)}), ErrInvalid)
	})
}

func TestPublishTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, pool := newStore(t)

	t.Run("RollbackDiscards", func(t *testing.T) {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		require.NoError(t, PublishTx(ctx, tx, "outbox", Message{ID: "rolled-back"}))
		require.NoError(t, tx.Rollback(ctx))
		require.Equal(t, 0, countRows(t, pool, "outbox"))
	})

	t.Run("CommitWithChange", func(t *testing.T) {
		err := postgres.InTenant(ctx, pool, "ten_1", func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO tenants (id, name, type, rate_limit_per_minute, rate_limit_per_hour) VALUES ('ten_1', 'Acme', 'corporate', 10, 100)`); err != nil {
				return err
			}
			return PublishTx(ctx, tx, "outbox", Message{ID: "tenant-created"})
		})
		require.NoError(t, err)
		ds, err := store.Receive(ctx, "outbox", 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		require.Equal(t, "tenant-created", ds[0].ID)
	})
}

func TestStore_Receive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("LeaseHidesMessage", func(t *testing.T) {
		t.Parallel()
		store, clock, pool := newStore(t)
		require.NoError(t, store.Publish(ctx, "jobs", Message{ID: "m1", Body: []byte(`{"a":1}`)}))

		first, err := store.Receive(ctx, "jobs", 10, time.Minute)
		require.NoError(t, err)
		require.Len(t, first, 1)
		require.Equal(t, 1, first[0].DeliveryCount)
		require.Equal(t, clock.Now().Add(time.Minute), first[0].LockedUntil)
		require.WithinDuration(t, clock.Now().Add(time.Minute), readRow(t, pool, "jobs", "m1").VisibleAt, time.Millisecond)

		again, err := store.Receive(ctx, "jobs", 10, time.Minute)
		require.NoError(t, err)
		require.Empty(t, again, "a leased message is not delivered again during its lease")
	})

	t.Run("RedeliveredAfterLeaseExpires", func(t *testing.T) {
		t.Parallel()
		store, clock, _ := newStore(t)
		require.NoError(t, store.Publish(ctx, "jobs", Message{ID: "m1"}))
		first, err := store.Receive(ctx, "jobs", 1, 30*time.Second)
		require.NoError(t, err)
		require.Len(t, first, 1)

		clock.Advance(30 * time.Second)
		second, err := store.Receive(ctx, "jobs", 1, 30*time.Second)
		require.NoError(t, err)
		require.Len(t, second, 1)
		require.Equal(t, 2, second[0].DeliveryCount)
		require.NotEqual(t, first[0].LockToken, second[0].LockToken)

		require.ErrorIs(t, store.Complete(ctx, first[0].LockToken), ErrLockLost, "the crashed consumer's token no longer completes")
		require.NoError(t, store.Complete(ctx, second[0].LockToken))
	})

	t.Run("OrderAndMax", func(t *testing.T) {
		t.Parallel()
		store, _, _ := newStore(t)
		for i := range 5 {
			require.NoError(t, store.Publish(ctx, "jobs", Message{ID: fmt.Sprintf("m%d", i)}))
		}
		ds, err := store.Receive(ctx, "jobs", 3, time.Minute)
		require.NoError(t, err)
		require.Len(t, ds, 3)
		require.Equal(t, []string{"m0", "m1", "m2"}, []string{ds[0].ID, ds[1].ID, ds[2].ID})
	})

	t.Run("OtherQueueInvisible", func(t *testing.T) {
		t.Parallel()
		store, _, _ := newStore(t)
		require.NoError(t, store.Publish(ctx, "a", Message{ID: "m"}))
		ds, err := store.Receive(ctx, "b", 10, time.Minute)
		require.NoError(t, err)
		require.Empty(t, ds)
	})

	t.Run("InvalidArguments", func(t *testing.T) {
		t.Parallel()
		store, _, _ := newStore(t)
		_, err := store.Receive(ctx, "jobs", 0, time.Minute)
		require.ErrorIs(t, err, ErrInvalid)
		_, err = store.Receive(ctx, "jobs", 1, 0)
		require.ErrorIs(t, err, ErrInvalid)
		_, err = store.Receive(ctx, "", 1, time.Minute)
		require.ErrorIs(t, err, ErrInvalid)
	})

	t.Run("ConcurrentConsumersExactlyOnce", func(t *testing.T) {
		t.Parallel()
		store, _, _ := newStore(t)
		const total = 200
		msgs := make([]Message, total)
		for i := range msgs {
			msgs[i] = Message{ID: fmt.Sprintf("m%03d", i)}
		}
		require.NoError(t, store.Publish(ctx, "jobs", msgs...))

		const consumers = 6
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		errs := make(chan error, consumers)
		for range consumers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					ds, err := store.Receive(ctx, "jobs", 7, time.Hour)
					if err != nil {
						errs <- err
						return
					}
					if len(ds) == 0 {
						return
					}
					mu.Lock()
					for _, d := range ds {
						seen[d.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		require.Len(t, seen, total)
		for id, n := range seen {
			require.Equal(t, 1, n, "message %s delivered %d times in one lease", id, n)
		}
	})
}

func TestStore_Complete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, _, pool := newStore(t)
	require.NoError(t, store.Publish(ctx, "jobs", Message{ID: "m1"}))
	ds, err := store.Receive(ctx, "jobs", 1, time.Minute)
	require.NoError(t, err)
	require.Len(t, ds, 1)

	require.NoError(t, store.Complete(ctx, ds[0].LockToken))
	require.Equal(t, 0, countRows(t, pool, "jobs"))
	require.ErrorIs(t, store.Complete(ctx, ds[0].LockToken), ErrLockLost, "completing twice")

	for _, bad := range []string{"", "abc", "1", "1.x", "0.1", "-1.2", "1.0"} {
		require.ErrorIs(t, store.Complete(ctx, bad), ErrInvalid, "token %q", bad)
	}
}

func TestStore_Abandon(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("RetryAfter", func(t *testing.T) {
		t.Parallel()
		store, clock, pool := newStore(t)
		require.NoError(t, store.Publish(ctx, "jobs", Message{ID: "m1"}))
		ds, err := store.Receive(ctx, "jobs", 1, time.Minute)
		require.NoError(t, err)

		require.NoError(t, store.Abandon(ctx, ds[0].LockToken, errors.New("upstream 503"), 10*time.Second))
		r := readRow(t, pool, "jobs", "m1")
		require.Equal(t, "upstream 503", *r.LastError)
		require.False(t, r.DeadLettered)

		clock.Advance(9 * time.Second)
		none, err := store.Receive(ctx, "jobs", 1, time.Minute)
		require.NoError(t, err)
		require.Empty(t, none, "not visible before retryAfter")

		clock.Advance(time.Second)
		again, err := store.Receive(ctx, "jobs", 1, time.Minute)
		require.NoError(t, err)
		require.Len(t, again, 1)
		require.Equal(t, 2, again[0].DeliveryCount)
		require.ErrorIs(t, store.Abandon(ctx, ds[0].LockToken, nil, 0), ErrLockLost, "stale token")
	})

	t.Run("DeadLetterAfterMaxDeliveries", func(t *testing.T) {
		t.Parallel()
		store, clock, pool := newStore(t)
		require.Equal(t, 10, store.MaxDeliveryCount())
		require.NoError(t, store.Publish(ctx, "jobs", Message{ID: "poison"}))
		for attempt := 1; attempt <= MaxDeliveryCount; attempt++ {
			ds, err := store.Receive(ctx, "jobs", 1, time.Minute)
			require.NoError(t, err)
			require.Len(t, ds, 1, "attempt %d", attempt)
			require.Equal(t, attempt, ds[0].DeliveryCount)
			require.NoError(t, store.Abandon(ctx, ds[0].LockToken, fmt.Errorf("attempt %d failed", attempt), time.Second))
			clock.Advance(time.Second)
		}
		r := readRow(t, pool, "jobs", "poison")
		require.True(t, r.DeadLettered)
		require.Equal(t, "attempt 10 failed", *r.LastError)

		ds, err := store.Receive(ctx, "jobs", 1, time.Minute)
		require.NoError(t, err)
		require.Empty(t, ds, "a dead-lettered message is not delivered")
		require.NoError(t, store.Publish(ctx, "jobs", Message{ID: "poison"}))
		require.Equal(t, 1, countRows(t, pool, "jobs"), "a dead-lettered id stays taken")
	})

	t.Run("DeadLetterAfterLastLeaseExpires", func(t *testing.T) {
		t.Parallel()
		store, clock, pool := newStore(t, WithMaxDeliveryCount(2))
		require.NoError(t, store.Publish(ctx, "jobs", Message{ID: "crashy"}))
		for range 2 {
			ds, err := store.Receive(ctx, "jobs", 1, time.Minute)
			require.NoError(t, err)
			require.Len(t, ds, 1)
			clock.Advance(time.Minute)
		}
		ds, err := store.Receive(ctx, "jobs", 1, time.Minute)
		require.NoError(t, err)
		require.Empty(t, ds)
		r := readRow(t, pool, "jobs", "crashy")
		require.True(t, r.DeadLettered)
		require.Contains(t, *r.LastError, "maximum delivery count reached")
	})

	t.Run("LongErrorTruncated", func(t *testing.T) {
		t.Parallel()
		store, _, pool := newStore(t)
		require.NoError(t, store.Publish(ctx, "jobs", Message{ID: "m1"}))
		ds, err := store.Receive(ctx, "jobs", 1, time.Minute)
		require.NoError(t, err)
		long := make([]byte, 10000)
		for i := range long {
			long[i] = 'e'
		}
		require.NoError(t, store.Abandon(ctx, ds[0].LockToken, errors.New(string(long)), 0))
		require.Len(t, *readRow(t, pool, "jobs", "m1").LastError, maxLastErrorLength)
	})
}

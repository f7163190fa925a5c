package queue_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/shared/queue"
)

// recordingPublisher is a fake Service Bus publisher. It records the
// messages it accepts, and fails while failing is set.
type recordingPublisher struct {
	mu      sync.Mutex
	sent    map[string][]queue.Message
	failing bool
}

func (p *recordingPublisher) Publish(_ context.Context, q string, msgs ...queue.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing {
		return errors.New("broker unavailable")
	}
	if p.sent == nil {
		p.sent = map[string][]queue.Message{}
	}
	p.sent[q] = append(p.sent[q], msgs...)
	return nil
}

func TestForwarder_Forward(t *testing.T) {
	t.Parallel()
	pool, _ := pgtest.NewPool(t)
	ctx := context.Background()
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	require.NoError(t, queue.PublishTx(ctx, pool, "file-processing",
		queue.Message{ID: "process-1", Body: []byte(`{"a":1}`)},
		queue.Message{ID: "process-2", Body: []byte(`{"a":2}`), NotBefore: later}))
	require.NoError(t, queue.PublishTx(ctx, pool, "org-unit-deletions", queue.Message{ID: "del-1", Body: []byte(`{}`)}))

	pub := &recordingPublisher{failing: true}
	f := &queue.Forwarder{Pool: pool, Publisher: pub, Batch: 2}
	_, err := f.Forward(ctx)
	require.ErrorContains(t, err, "broker unavailable")
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM queue_messages`).Scan(&left))
	require.Equal(t, 3, left, "nothing is deleted when the broker refuses")

	pub.failing = false
	res, err := f.Forward(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, res.Forwarded)
	require.Len(t, pub.sent["file-processing"], 2)
	require.Len(t, pub.sent["org-unit-deletions"], 1)
	require.Equal(t, "process-1", pub.sent["file-processing"][0].ID)
	require.True(t, pub.sent["file-processing"][1].NotBefore.Equal(later), "a delayed message keeps its delay")
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM queue_messages`).Scan(&left))
	require.Zero(t, left)

	res, err = f.Forward(ctx)
	require.NoError(t, err)
	require.Zero(t, res.Forwarded, "a second run finds nothing")
}

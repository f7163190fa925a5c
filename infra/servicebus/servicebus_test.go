package servicebus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/shared/queue"
)

func TestToMessage(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.FixedZone("X", 3600))
	m := toMessage(queue.Message{ID: "evt_1", Body: []byte(`{}`), NotBefore: at})
	require.Equal(t, "evt_1", *m.MessageID, "the message id drives duplicate detection")
	require.Equal(t, "application/json", *m.ContentType)
	require.Equal(t, at.UTC(), *m.ScheduledEnqueueTime)

	plain := toMessage(queue.Message{Body: []byte(`{}`), ContentType: "text/plain"})
	require.NotEmpty(t, *plain.MessageID, "an empty id gets a generated one")
	require.Equal(t, "text/plain", *plain.ContentType)
	require.Nil(t, plain.ScheduledEnqueueTime)
}

func TestNew_RequiresNamespace(t *testing.T) {
	t.Parallel()
	_, err := New("", nil)
	require.Error(t, err)
}

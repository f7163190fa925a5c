package customhandler

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func loadSample(t testing.TB, name string) Invocation {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "host", name))
	require.NoError(t, err)
	var inv Invocation
	require.NoError(t, json.Unmarshal(b, &inv))
	return inv
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestParseTimer(t *testing.T) {
	t.Parallel()
	timer := Binding{Name: "timer"}

	t.Run("WithStatus", func(t *testing.T) {
		t.Parallel()
		info, err := ParseTimer(loadSample(t, "timer_with_status.json"), timer)
		require.NoError(t, err)
		require.True(t, info.HasStatus)
		require.False(t, info.IsPastDue)
		require.True(t, info.AdjustForDST)
		require.Equal(t, utc("2025-11-20T10:14:00.0051234Z"), info.Last)
		require.Equal(t, utc("2025-11-20T10:15:00Z"), info.Next)
		require.Equal(t, utc("2025-11-20T10:14:00.0051234Z"), info.LastUpdated, "a zone-less time is read as UTC")
	})

	t.Run("NullStatus", func(t *testing.T) {
		t.Parallel()
		info, err := ParseTimer(loadSample(t, "timer_null_status.json"), timer)
		require.NoError(t, err)
		require.False(t, info.HasStatus)
		require.True(t, info.IsPastDue)
		require.True(t, info.Last.IsZero())
		require.True(t, info.Next.IsZero())
	})

	t.Run("StringEncodedValue", func(t *testing.T) {
		t.Parallel()
		inv := Invocation{Data: map[string]json.RawMessage{
			"timer": json.RawMessage(`"{\"Schedule\":{\"AdjustForDST\":false},\"ScheduleStatus\":{\"Last\":\"0001-01-01T00:00:00\",\"Next\":\"11/20/2025 10:15:00\",\"LastUpdated\":\"2025-11-20 10:14:00Z\"},\"IsPastDue\":false}"`),
		}}
		info, err := ParseTimer(inv, timer)
		require.NoError(t, err)
		require.True(t, info.HasStatus)
		require.True(t, info.Last.IsZero(), ".NET DateTime.MinValue is the zero time")
		require.Equal(t, utc("2025-11-20T10:15:00Z"), info.Next)
		require.Equal(t, utc("2025-11-20T10:14:00Z"), info.LastUpdated)
	})

	t.Run("MissingBinding", func(t *testing.T) {
		t.Parallel()
		_, err := ParseTimer(loadSample(t, "timer_null_status.json"), Binding{Name: "myTimer"})
		require.ErrorContains(t, err, `Data["myTimer"]`)
	})

	t.Run("EmptyBindingName", func(t *testing.T) {
		t.Parallel()
		_, err := ParseTimer(loadSample(t, "timer_null_status.json"), Binding{})
		require.ErrorContains(t, err, "binding name is empty")
	})

	t.Run("InvalidTime", func(t *testing.T) {
		t.Parallel()
		inv := Invocation{Data: map[string]json.RawMessage{
			"timer": json.RawMessage(`{"ScheduleStatus":{"Last":"yesterday"},"IsPastDue":false}`),
		}}
		_, err := ParseTimer(inv, timer)
		require.ErrorContains(t, err, `invalid time "yesterday"`)
	})

	t.Run("NotAnObject", func(t *testing.T) {
		t.Parallel()
		inv := Invocation{Data: map[string]json.RawMessage{"timer": json.RawMessage(`42`)}}
		_, err := ParseTimer(inv, timer)
		require.ErrorContains(t, err, "decode timer")
	})
}

func TestParseServiceBus(t *testing.T) {
	t.Parallel()
	single := Binding{Name: "message"}

	t.Run("SingleHostEncoded", func(t *testing.T) {
		t.Parallel()
		msgs, err := ParseServiceBus(loadSample(t, "servicebus_single.json"), single)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		m := msgs[0]
		require.JSONEq(t, `{"tenant_id":"ten_01JD0000000000000000000001","kind":"usage.rollup"}`, string(m.Body))
		require.Equal(t, "msg-0001", m.ID)
		require.Equal(t, "application/json", m.ContentType)
		require.Equal(t, "req_01JD0000000000000000000009", m.CorrelationID)
		require.Equal(t, "usage.rollup", m.Subject)
		require.Equal(t, 2, m.DeliveryCount)
		require.Equal(t, int64(4211), m.SequenceNumber)
		require.Equal(t, "2c5f1d3a-9b7e-4c6d-8e1f-0a2b3c4d5e6f", m.LockToken)
		require.Equal(t, utc("2025-11-20T10:14:59.123Z"), m.EnqueuedAt)
		require.Equal(t, utc("2025-12-04T10:14:59.123Z"), m.ExpiresAt)
		require.Equal(t, "ten_01JD0000000000000000000001", m.ApplicationProperties["tenant_id"])
	})

	t.Run("SinglePlain", func(t *testing.T) {
		t.Parallel()
		msgs, err := ParseServiceBus(loadSample(t, "servicebus_single_plain.json"), single)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		m := msgs[0]
		require.JSONEq(t, `{"tenant_id":"ten_01JD0000000000000000000001","kind":"usage.rollup"}`, string(m.Body))
		require.Equal(t, "msg-0002", m.ID)
		require.Equal(t, 1, m.DeliveryCount)
		require.Equal(t, int64(4212), m.SequenceNumber)
		require.Equal(t, utc("2025-11-20T10:14:59Z"), m.EnqueuedAt)
		require.Equal(t, utc("2025-12-04T10:14:59Z"), m.ExpiresAt)
		require.NotNil(t, m.ApplicationProperties, "UserProperties fills ApplicationProperties")
	})

	t.Run("SingleBase64", func(t *testing.T) {
		t.Parallel()
		msgs, err := ParseServiceBus(loadSample(t, "servicebus_single_base64.json"), single)
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		require.JSONEq(t, `{"tenant_id":"ten_01JD0000000000000000000001","kind":"usage.rollup"}`, string(msgs[0].Body))
		require.Equal(t, "msg-0003", msgs[0].ID)
		require.Equal(t, utc("2025-11-20T10:14:59.5Z"), msgs[0].EnqueuedAt)
	})

	t.Run("Batch", func(t *testing.T) {
		t.Parallel()
		msgs, err := ParseServiceBus(loadSample(t, "servicebus_batch.json"), Binding{Name: "messages", Cardinality: "many"})
		require.NoError(t, err)
		require.Len(t, msgs, 3)
		require.JSONEq(t, `{"tenant_id":"ten_01JD0000000000000000000001","seq":1}`, string(msgs[0].Body))
		require.JSONEq(t, `{"tenant_id":"ten_01JD0000000000000000000002","seq":2}`, string(msgs[1].Body))
		require.Equal(t, "plain text body", string(msgs[2].Body))
		require.Equal(t, []string{"msg-0101", "msg-0102", "msg-0103"}, []string{msgs[0].ID, msgs[1].ID, msgs[2].ID})
		require.Equal(t, "text/plain", msgs[2].ContentType)
		require.Equal(t, 3, msgs[2].DeliveryCount)
		require.Equal(t, int64(5002), msgs[1].SequenceNumber)
		require.Equal(t, "a1b2c3d4-0000-4000-8000-000000000003", msgs[2].LockToken)
		require.Equal(t, utc("2025-11-20T10:14:58.2345678Z"), msgs[1].EnqueuedAt)
		require.Equal(t, utc("2025-12-04T10:14:58.3456789Z"), msgs[2].ExpiresAt)
		require.Equal(t, "ten_01JD0000000000000000000002", msgs[1].ApplicationProperties["tenant_id"])
	})

	t.Run("BatchLengthMismatch", func(t *testing.T) {
		t.Parallel()
		inv := Invocation{
			Data:     map[string]json.RawMessage{"messages": json.RawMessage(`[{"a":1},{"a":2}]`)},
			Metadata: map[string]json.RawMessage{"MessageIdArray": json.RawMessage(`["only-one"]`)},
		}
		_, err := ParseServiceBus(inv, Binding{Name: "messages", Cardinality: "many"})
		require.ErrorContains(t, err, "MessageIdArray has 1 elements for 2 messages")
	})

	t.Run("BatchNotArray", func(t *testing.T) {
		t.Parallel()
		inv := Invocation{Data: map[string]json.RawMessage{"messages": json.RawMessage(`{"a":1}`)}}
		_, err := ParseServiceBus(inv, Binding{Name: "messages", Cardinality: "many"})
		require.ErrorContains(t, err, "expected a JSON array")
	})

	t.Run("BinaryDataType", func(t *testing.T) {
		t.Parallel()
		inv := Invocation{Data: map[string]json.RawMessage{"message": json.RawMessage(`"AAEC/w=="`)}}
		msgs, err := ParseServiceBus(inv, Binding{Name: "message", DataType: "binary"})
		require.NoError(t, err)
		require.Equal(t, []byte{0, 1, 2, 255}, msgs[0].Body)
	})

	t.Run("BinaryInvalidBase64", func(t *testing.T) {
		t.Parallel()
		inv := Invocation{Data: map[string]json.RawMessage{"message": json.RawMessage(`"not base64!"`)}}
		_, err := ParseServiceBus(inv, Binding{Name: "message", DataType: "binary"})
		require.ErrorContains(t, err, "not valid base64")
	})

	t.Run("TextThatLooksLikeBase64", func(t *testing.T) {
		t.Parallel()
		// "test" is valid base64 but decodes to bytes that are not JSON, so
		// the text is kept.
		inv := Invocation{Data: map[string]json.RawMessage{"message": json.RawMessage(`"test"`)}}
		msgs, err := ParseServiceBus(inv, single)
		require.NoError(t, err)
		require.Equal(t, "test", string(msgs[0].Body))
	})

	t.Run("NullBody", func(t *testing.T) {
		t.Parallel()
		inv := Invocation{Data: map[string]json.RawMessage{"message": json.RawMessage(`null`)}}
		_, err := ParseServiceBus(inv, single)
		require.ErrorContains(t, err, `no Data["message"]`)
	})

	t.Run("InvalidDeliveryCount", func(t *testing.T) {
		t.Parallel()
		inv := Invocation{
			Data:     map[string]json.RawMessage{"message": json.RawMessage(`{"a":1}`)},
			Metadata: map[string]json.RawMessage{"DeliveryCount": json.RawMessage(`"many"`)},
		}
		_, err := ParseServiceBus(inv, single)
		require.ErrorContains(t, err, `DeliveryCount: invalid integer "many"`)
	})
}

func TestParseSystem(t *testing.T) {
	t.Parallel()
	sys, err := ParseSystem(loadSample(t, "servicebus_single.json"))
	require.NoError(t, err)
	require.Equal(t, "agent-runs", sys.MethodName)
	require.Equal(t, "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", sys.RandGuid)
	require.Equal(t, utc("2025-11-20T10:15:00.2345678Z"), sys.UtcNow)
}

func FuzzParseServiceBus(f *testing.F) {
	for _, name := range []string{"servicebus_single.json", "servicebus_single_plain.json", "servicebus_single_base64.json", "servicebus_batch.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "host", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte(`{"Data":{"message":"\"\\\"\\\"\""}}`), false)
	f.Fuzz(func(t *testing.T, body []byte, batch bool) {
		var inv Invocation
		if json.Unmarshal(body, &inv) != nil {
			return
		}
		for _, binding := range []Binding{
			{Name: "message", Cardinality: cardinality(batch)},
			{Name: "messages", Cardinality: cardinality(batch)},
			{Name: "message", DataType: "binary"},
		} {
			msgs, err := ParseServiceBus(inv, binding)
			if err != nil {
				continue
			}
			if !binding.Batch() && len(msgs) != 1 {
				t.Fatalf("single binding returned %d messages", len(msgs))
			}
			for _, m := range msgs {
				if m.Body == nil {
					t.Fatalf("parsed message %q has a nil body", m.ID)
				}
			}
		}
	})
}

func cardinality(batch bool) string {
	if batch {
		return "many"
	}
	return "one"
}

func FuzzParseTimer(f *testing.F) {
	for _, name := range []string{"timer_with_status.json", "timer_null_status.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "host", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Data":{"timer":"{\"ScheduleStatus\":{\"Next\":\"1/2/2006 3:04:05 PM\"}}"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var inv Invocation
		if json.Unmarshal(body, &inv) != nil {
			return
		}
		info, err := ParseTimer(inv, Binding{Name: "timer"})
		if err != nil {
			return
		}
		if !info.HasStatus && !(info.Last.IsZero() && info.Next.IsZero() && info.LastUpdated.IsZero()) {
			t.Fatal("times set although ScheduleStatus was null")
		}
		for _, ts := range []time.Time{info.Last, info.Next, info.LastUpdated} {
			if !ts.IsZero() && ts.Location() != time.UTC {
				t.Fatalf("time %v is not UTC", ts)
			}
		}
	})
}

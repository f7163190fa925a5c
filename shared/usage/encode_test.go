package usage

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleRecords() []Record {
	at := time.Date(2030, 1, 2, 10, 20, 30, 123456789, time.UTC)
	return []Record{
		{ID: "use_1", TenantID: "ten_1", KeyID: "key_1", Endpoint: "GET /api-management/keys/current", Method: "GET",
			Status: 200, LatencyMicros: 412, RequestBytes: 0, ResponseBytes: 812, ClientIP: "127.0.0.1", RequestID: "req_1", OccurredAt: at},
		{ID: "use_2", TenantID: "ten_1", KeyID: "key_1", Endpoint: "POST /files", Method: "POST", Status: 500,
			LatencyMicros: -1, RequestBytes: 1 << 40, ClientIP: "2001:db8::1", RequestID: `a"b\c<d>&e`, OccurredAt: at.Add(time.Nanosecond)},
		{ID: "use_3", Endpoint: "GET /é\u2028\x00\x1f\xff", OccurredAt: time.Date(2030, 1, 2, 10, 0, 0, 0, time.FixedZone("X", 3600))},
		{},
	}
}

// TestAppendRecordsJSON_MatchesEncodingJSON pins the hand-written encoder to
// encoding/json byte for byte, special characters and time zones included.
func TestAppendRecordsJSON_MatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	recs := sampleRecords()
	want, err := json.Marshal(recs)
	require.NoError(t, err)
	got, err := appendRecordsJSON(nil, recs)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got))

	got, err = appendRecordsJSON(nil, nil)
	require.NoError(t, err)
	require.Equal(t, "[]", string(got))

	_, err = appendRecordsJSON(nil, []Record{{ID: "use_y", OccurredAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}})
	require.ErrorContains(t, err, "use_y", "a time encoding/json refuses is refused too")
}

func FuzzAppendRecordsJSON(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(r.Endpoint, r.ClientIP, r.RequestID, r.LatencyMicros, r.OccurredAt.UnixNano())
	}
	f.Fuzz(func(t *testing.T, endpoint, clientIP, requestID string, latency, unixNano int64) {
		recs := []Record{{ID: "use_f", Endpoint: endpoint, ClientIP: clientIP, RequestID: requestID,
			LatencyMicros: latency, OccurredAt: time.Unix(0, unixNano).UTC()}}
		want, wantErr := json.Marshal(recs)
		got, err := appendRecordsJSON(nil, recs)
		if wantErr != nil {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	})
}

func BenchmarkEncodeRecords(b *testing.B) {
	recs := make([]Record, 500)
	for i := range recs {
		recs[i] = sampleRecords()[0]
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(recs)
		}
	})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf, _ = appendRecordsJSON(buf[:0], recs)
		}
	})
}

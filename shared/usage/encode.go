package usage

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecordsJSON appends recs to buf as the JSON array that
// json.Marshal(recs) makes, field for field, so Drain reads it with
// json.Unmarshal. It avoids reflection, because the flush loop encodes every
// request's record, and with encoding/json that took about 6% of the
// handler's CPU time under load.
func appendRecordsJSON(buf []byte, recs []Record) ([]byte, error) {
	buf = append(buf, '[')
	for i := range recs {
		if i > 0 {
			buf = append(buf, ',')
		}
		var err error
		if buf, err = appendRecordJSON(buf, &recs[i]); err != nil {
			return nil, fmt.Errorf("usage record %s has an invalid occurred_at: %w", recs[i].ID, err)
		}
	}
	return append(buf, ']'), nil
}

func appendRecordJSON(buf []byte, r *Record) ([]byte, error) {
	buf = append(buf, `{"id":`...)
	buf = appendJSONString(buf, r.ID)
	buf = append(buf, `,"tenant_id":`...)
	buf = appendJSONString(buf, r.TenantID)
	buf = append(buf, `,"key_id":`...)
	buf = appendJSONString(buf, r.KeyID)
	buf = append(buf, `,"endpoint":`...)
	buf = appendJSONString(buf, r.Endpoint)
	buf = append(buf, `,"method":`...)
	buf = appendJSONString(buf, r.Method)
	buf = append(buf, `,"status":`...)
	buf = strconv.AppendInt(buf, int64(r.Status), 10)
	buf = append(buf, `,"latency_us":`...)
	buf = strconv.AppendInt(buf, r.LatencyMicros, 10)
	buf = append(buf, `,"request_bytes":`...)
	buf = strconv.AppendInt(buf, r.RequestBytes, 10)
	buf = append(buf, `,"response_bytes":`...)
	buf = strconv.AppendInt(buf, r.ResponseBytes, 10)
	buf = append(buf, `,"client_ip":`...)
	buf = appendJSONString(buf, r.ClientIP)
	buf = append(buf, `,"request_id":`...)
	buf = appendJSONString(buf, r.RequestID)
	buf = append(buf, `,"occurred_at":`...)
	buf, err := appendJSONTime(buf, r.OccurredAt)
	if err != nil {
		return nil, err
	}
	return append(buf, '}'), nil
}

// appendJSONString writes s as a JSON string. Printable ASCII without quotes
// or backslashes, which is what ids, routes and addresses are, is copied as
// it is; anything else goes through encoding/json.
func appendJSONString(buf []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(buf, b...)
		}
	}
	buf = append(buf, '"')
	buf = append(buf, s...)
	return append(buf, '"')
}

// appendJSONTime writes t as time.Time's MarshalJSON does. A UTC time in
// the years 0 to 9999, which is what records carry, is formatted here; any
// other goes through MarshalJSON and its checks.
func appendJSONTime(buf []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); t.Location() != time.UTC || y < 0 || y > 9999 {
		b, err := t.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return append(buf, b...), nil
	}
	buf = append(buf, '"')
	buf = t.AppendFormat(buf, time.RFC3339Nano)
	return append(buf, '"'), nil
}

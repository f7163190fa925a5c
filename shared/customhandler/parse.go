package customhandler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxUnwrap bounds how many JSON-string layers are peeled off one value. The
// host adds at most two; the bound stops hostile input from looping long.
const maxUnwrap = 4

// ParseTimer reads the timer value named by binding from inv.
//
// The value may be an object or a JSON string holding the object.
// ScheduleStatus may be null, and its times may be RFC 3339 or .NET's
// zone-less "2006-01-02T15:04:05.9999999" (read as UTC), among the layouts
// parseTime accepts.
func ParseTimer(inv Invocation, binding Binding) (TimerInfo, error) {
	raw, err := triggerValue(inv, binding)
	if err != nil {
		return TimerInfo{}, err
	}
	raw = unwrapObject(raw)

	var wire struct {
		Schedule *struct {
			AdjustForDST bool `json:"AdjustForDST"`
		} `json:"Schedule"`
		ScheduleStatus *struct {
			Last        json.RawMessage `json:"Last"`
			Next        json.RawMessage `json:"Next"`
			LastUpdated json.RawMessage `json:"LastUpdated"`
		} `json:"ScheduleStatus"`
		IsPastDue bool `json:"IsPastDue"`
	}
	if err := json.Unmarshal(raw, &wire); err != nil {
		return TimerInfo{}, fmt.Errorf("decode timer %q: %w", binding.Name, err)
	}

	info := TimerInfo{IsPastDue: wire.IsPastDue}
	if wire.Schedule != nil {
		info.AdjustForDST = wire.Schedule.AdjustForDST
	}
	if s := wire.ScheduleStatus; s != nil {
		info.HasStatus = true
		fields := []struct {
			name string
			raw  json.RawMessage
			dst  *time.Time
		}{{"Last", s.Last, &info.Last}, {"Next", s.Next, &info.Next}, {"LastUpdated", s.LastUpdated, &info.LastUpdated}}
		for _, f := range fields {
			t, err := metadataTime(f.raw)
			if err != nil {
				return TimerInfo{}, fmt.Errorf("decode timer %q ScheduleStatus.%s: %w", binding.Name, f.name, err)
			}
			*f.dst = t
		}
	}
	return info, nil
}

// ParseServiceBus reads the Service Bus messages named by binding from inv:
// one message, or every message of a batch when binding.Batch().
//
// A body that arrived as a JSON object, array, number or boolean is kept as
// that JSON text. A body that arrived as a string is read in this order:
//   - with dataType "binary", as base64, and invalid base64 is an error;
//   - when the string is JSON text of an object or array, as that JSON;
//   - when the string is strict base64 of valid JSON, as the decoded JSON,
//     because the host base64-encodes bodies it received as bytes;
//   - otherwise as the string's UTF-8 bytes.
//
// Single messages carry metadata such as MessageId and EnqueuedTimeUtc. A
// batch carries arrays such as MessageIdArray and EnqueuedTimeUtcArray, and
// each array that is present must have one entry per body.
func ParseServiceBus(inv Invocation, binding Binding) ([]Message, error) {
	raw, err := triggerValue(inv, binding)
	if err != nil {
		return nil, err
	}
	if !binding.Batch() {
		body, err := messageBody(raw, binding)
		if err != nil {
			return nil, fmt.Errorf("decode Service Bus message %q: %w", binding.Name, err)
		}
		msg := Message{Body: body}
		if err := fillMessage(&msg, singleMetadata(inv.Metadata)); err != nil {
			return nil, fmt.Errorf("decode Service Bus metadata: %w", err)
		}
		return []Message{msg}, nil
	}

	items, err := jsonArray(raw)
	if err != nil {
		return nil, fmt.Errorf("decode Service Bus batch %q: %w", binding.Name, err)
	}
	msgs := make([]Message, len(items))
	for i, item := range items {
		body, err := messageBody(item, binding)
		if err != nil {
			return nil, fmt.Errorf("decode Service Bus message %d of batch %q: %w", i, binding.Name, err)
		}
		msgs[i].Body = body
	}
	columns, err := batchMetadata(inv.Metadata, len(items))
	if err != nil {
		return nil, fmt.Errorf("decode Service Bus batch metadata: %w", err)
	}
	for i := range msgs {
		if err := fillMessage(&msgs[i], columns.row(i)); err != nil {
			return nil, fmt.Errorf("decode Service Bus metadata of message %d: %w", i, err)
		}
	}
	return msgs, nil
}

// ParseSystem reads Metadata.sys. A missing sys is not an error.
func ParseSystem(inv Invocation) (SystemMetadata, error) {
	raw, ok := inv.Metadata["sys"]
	if !ok || isNull(raw) {
		return SystemMetadata{}, nil
	}
	var wire struct {
		MethodName json.RawMessage `json:"MethodName"`
		UtcNow     json.RawMessage `json:"UtcNow"`
		RandGuid   json.RawMessage `json:"RandGuid"`
	}
	if err := json.Unmarshal(unwrapObject(raw), &wire); err != nil {
		return SystemMetadata{}, fmt.Errorf("decode Metadata.sys: %w", err)
	}
	var sys SystemMetadata
	var err error
	if sys.MethodName, err = metadataString(wire.MethodName); err != nil {
		return SystemMetadata{}, fmt.Errorf("decode Metadata.sys.MethodName: %w", err)
	}
	if sys.RandGuid, err = metadataString(wire.RandGuid); err != nil {
		return SystemMetadata{}, fmt.Errorf("decode Metadata.sys.RandGuid: %w", err)
	}
	if sys.UtcNow, err = metadataTime(wire.UtcNow); err != nil {
		return SystemMetadata{}, fmt.Errorf("decode Metadata.sys.UtcNow: %w", err)
	}
	return sys, nil
}

// triggerValue finds the binding's value in Data, or in Metadata for hosts
// that put it there only.
func triggerValue(inv Invocation, binding Binding) (json.RawMessage, error) {
	if binding.Name == "" {
		return nil, errors.New("binding name is empty: set it to the trigger's \"name\" in function.json")
	}
	if raw, ok := inv.Data[binding.Name]; ok && !isNull(raw) {
		return raw, nil
	}
	if raw, ok := inv.Metadata[binding.Name]; ok && !isNull(raw) {
		return raw, nil
	}
	return nil, fmt.Errorf("invocation has no Data[%q]: check the trigger binding name in function.json", binding.Name)
}

// messageBody turns one delivered body into bytes by the rules on ParseServiceBus.
func messageBody(raw json.RawMessage, binding Binding) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil, errors.New("message body is missing or null")
	}
	if raw[0] != '"' {
		if !json.Valid(raw) {
			return nil, errors.New("message body is not valid JSON")
		}
		return bytes.Clone(raw), nil
	}

	s, err := unquote(raw)
	if err != nil {
		return nil, err
	}
	if binding.DataType == "binary" {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("binary message body is not valid base64: %w", err)
		}
		return b, nil
	}
	// A string the host serialized once more arrives as "\"...\"".
	for i := 0; i < maxUnwrap && strings.HasPrefix(s, `"`); i++ {
		inner, err := unquote([]byte(s))
		if err != nil {
			break
		}
		s = inner
	}
	if isJSONContainer([]byte(s)) {
		return []byte(s), nil
	}
	if b, err := base64.StdEncoding.Strict().DecodeString(s); err == nil && len(b) > 0 && isJSONContainer(b) {
		return b, nil
	}
	return []byte(s), nil
}

func isJSONContainer(b []byte) bool {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return false
	}
	return utf8.Valid(t) && json.Valid(t)
}

// metadataFields is one message's metadata, each value still raw.
type metadataFields map[string]json.RawMessage

// Metadata names per field, newest first. The Service Bus extension 5.x sends
// both the Azure.Messaging names (EnqueuedTime, Subject, ApplicationProperties)
// and the older ones (EnqueuedTimeUtc, Label, UserProperties).
var (
	keysID         = []string{"MessageId"}
	keysContent    = []string{"ContentType"}
	keysCorrelate  = []string{"CorrelationId"}
	keysSubject    = []string{"Subject", "Label"}
	keysDelivery   = []string{"DeliveryCount"}
	keysSequence   = []string{"SequenceNumber"}
	keysLockToken  = []string{"LockToken"}
	keysEnqueued   = []string{"EnqueuedTimeUtc", "EnqueuedTime"}
	keysExpires    = []string{"ExpiresAtUtc", "ExpiresAt"}
	keysProperties = []string{"ApplicationProperties", "UserProperties"}
	allKeys        = [][]string{keysID, keysContent, keysCorrelate, keysSubject, keysDelivery, keysSequence, keysLockToken, keysEnqueued, keysExpires, keysProperties}
)

func singleMetadata(md map[string]json.RawMessage) metadataFields {
	out := metadataFields{}
	for _, names := range allKeys {
		for _, n := range names {
			if v, ok := md[n]; ok && !isNull(v) {
				out[n] = v
			}
		}
	}
	return out
}

// batchColumns contains each "<Name>Array" metadata value split into elements.
type batchColumns map[string][]json.RawMessage

func batchMetadata(md map[string]json.RawMessage, n int) (batchColumns, error) {
	out := batchColumns{}
	for _, names := range allKeys {
		for _, name := range names {
			v, ok := md[name+"Array"]
			if !ok || isNull(v) {
				continue
			}
			items, err := jsonArray(v)
			if err != nil {
				return nil, fmt.Errorf("%sArray: %w", name, err)
			}
			if len(items) != n {
				return nil, fmt.Errorf("%sArray has %d elements for %d messages", name, len(items), n)
			}
			out[name] = items
		}
	}
	return out, nil
}

func (c batchColumns) row(i int) metadataFields {
	out := metadataFields{}
	for name, items := range c {
		if !isNull(items[i]) {
			out[name] = items[i]
		}
	}
	return out
}

func (f metadataFields) first(names []string) json.RawMessage {
	for _, n := range names {
		if v, ok := f[n]; ok {
			return v
		}
	}
	return nil
}

func fillMessage(m *Message, f metadataFields) error {
	var err error
	strs := []struct {
		names []string
		dst   *string
	}{{keysID, &m.ID}, {keysContent, &m.ContentType}, {keysCorrelate, &m.CorrelationID}, {keysSubject, &m.Subject}, {keysLockToken, &m.LockToken}}
	for _, s := range strs {
		if *s.dst, err = metadataString(f.first(s.names)); err != nil {
			return fmt.Errorf("%s: %w", s.names[0], err)
		}
	}

	delivery, err := metadataInt(f.first(keysDelivery))
	if err != nil {
		return fmt.Errorf("DeliveryCount: %w", err)
	}
	m.DeliveryCount = int(delivery)
	if m.SequenceNumber, err = metadataInt(f.first(keysSequence)); err != nil {
		return fmt.Errorf("SequenceNumber: %w", err)
	}
	if m.EnqueuedAt, err = metadataTime(f.first(keysEnqueued)); err != nil {
		return fmt.Errorf("EnqueuedTimeUtc: %w", err)
	}
	if m.ExpiresAt, err = metadataTime(f.first(keysExpires)); err != nil {
		return fmt.Errorf("ExpiresAtUtc: %w", err)
	}
	if raw := f.first(keysProperties); raw != nil {
		obj := unwrapObject(raw)
		if err := json.Unmarshal(obj, &m.ApplicationProperties); err != nil {
			return fmt.Errorf("ApplicationProperties: %w", err)
		}
	}
	return nil
}

// unquote decodes one JSON string literal.
func unquote(raw []byte) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("decode JSON string: %w", err)
	}
	return s, nil
}

// unwrapObject peels JSON-string layers off raw while they hold an object or
// array, and returns raw unchanged otherwise.
func unwrapObject(raw json.RawMessage) json.RawMessage {
	for i := 0; i < maxUnwrap; i++ {
		t := bytes.TrimSpace(raw)
		if len(t) == 0 || t[0] != '"' {
			return t
		}
		s, err := unquote(t)
		if err != nil {
			return t
		}
		inner := bytes.TrimSpace([]byte(s))
		if len(inner) == 0 || (inner[0] != '{' && inner[0] != '[' && inner[0] != '"') || !json.Valid(inner) {
			return t
		}
		raw = inner
	}
	return raw
}

// jsonArray splits an array, or a JSON string holding an array, into elements.
func jsonArray(raw json.RawMessage) ([]json.RawMessage, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(unwrapObject(raw), &items); err != nil {
		return nil, fmt.Errorf("expected a JSON array: %w", err)
	}
	return items, nil
}

// metadataString reads a string that may be plain, JSON-encoded once more,
// or a number. Absent or null gives "".
func metadataString(raw json.RawMessage) (string, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || isNull(t) {
		return "", nil
	}
	if t[0] != '"' {
		if !json.Valid(t) {
			return "", errors.New("value is not valid JSON")
		}
		return string(t), nil
	}
	s, err := unquote(t)
	if err != nil {
		return "", err
	}
	for i := 0; i < maxUnwrap && len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"'; i++ {
		inner, err := unquote([]byte(s))
		if err != nil {
			break
		}
		s = inner
	}
	if s == "null" {
		return "", nil
	}
	return s, nil
}

func metadataInt(raw json.RawMessage) (int64, error) {
	s, err := metadataString(raw)
	if err != nil || s == "" {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid integer %q", truncate(s))
	}
	return n, nil
}

func metadataTime(raw json.RawMessage) (time.Time, error) {
	s, err := metadataString(raw)
	if err != nil || s == "" {
		return time.Time{}, err
	}
	return parseTime(s)
}

// timeLayouts are the forms the host has been seen to send: RFC 3339 with
// 7 fractional digits from Newtonsoft.Json, the same without a zone for a
// DateTime of unspecified kind, and .NET's invariant-culture ToString forms.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05Z",
	"01/02/2006 15:04:05",
	"1/2/2006 3:04:05 PM",
	"01/02/2006 15:04:05 -07:00",
	"1/2/2006 3:04:05 PM -07:00",
	time.RFC1123Z,
	time.RFC1123,
}

// parseTime reads s in any of timeLayouts. A time without a zone is UTC,
// which is what the host's clock runs in on Azure. The .NET DateTime minimum
// "0001-01-01T00:00:00" gives the zero time.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range timeLayouts {
		t, err := time.ParseInLocation(layout, s, time.UTC)
		if err == nil {
			if t.Year() <= 1 {
				return time.Time{}, nil
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid time %q: expected RFC 3339 or a .NET date-time form", truncate(s))
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// truncate shortens a value quoted in an error message.
func truncate(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}

// Package customhandler implements the Azure Functions custom-handler protocol
// for triggers that are not proxied HTTP requests (timers, Service Bus).
//
// The Functions host POSTs such an invocation to /{FunctionName} with the JSON
// body {"Data": {...}, "Metadata": {...}} and reads {"Outputs": {...},
// "Logs": [...], "ReturnValue": ...} from a 2xx response. Any other status is a
// failed invocation, so Service Bus abandons the message and redelivers it.
//
// The shapes below follow the host's own serializer
// (ScriptInvocationContextExtensions.GetHttpScriptInvocationContextValue in
// Azure/azure-functions-host). A value the host can turn into a JSON object
// arrives as an object, and byte arrays arrive as base64 strings. Every other
// value, strings, numbers, dates and arrays included, arrives as a JSON string
// containing that value's own JSON text. So a message id arrives as "\"abc\"", a
// delivery count as "1" and a batch's times as "[\"2020-...\",...]". The
// parsers here accept the encoded and the plain form of each value.
package customhandler

import (
	"encoding/json"
	"time"
)

// Header names the host sets on every invocation request
// (HttpWorkerConstants in Azure/azure-functions-host).
const (
	HeaderInvocationID = "X-Azure-Functions-InvocationId"
	HeaderHostVersion  = "X-Azure-Functions-HostVersion"
)

// Invocation is one request from the host for a non-HTTP trigger.
type Invocation struct {
	// Data contains the trigger and input binding values, keyed by binding name.
	Data map[string]json.RawMessage `json:"Data"`
	// Metadata contains the trigger metadata, keyed by metadata name, plus "sys".
	Metadata map[string]json.RawMessage `json:"Metadata"`

	// FunctionName is the function folder name taken from the request path.
	FunctionName string `json:"-"`
	// InvocationID is the host's X-Azure-Functions-InvocationId header, or
	// Metadata.sys.RandGuid when the header is missing.
	InvocationID string `json:"-"`
}

// Response is the body returned for an invocation.
//
// The host ignores ReturnValue unless the function declares a "$return"
// output binding, and reads Outputs only for declared output bindings. When
// it does read a string value, it tries base64 first: a binding without
// "dataType": "binary" gets the decoded bytes whenever the string is valid
// base64, and the string itself otherwise (HttpScriptInvocationResultExtensions
// in Azure/azure-functions-host). A function that adds a string output must
// therefore either base64-encode it or declare the binding binary.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// Binding is the part of a function.json trigger binding the parsers need.
type Binding struct {
	// Name is the binding's "name", the key of its value in Invocation.Data.
	Name string
	// DataType is the binding's "dataType": "", "string", "binary" or "stream".
	DataType string
	// Cardinality is "many" for a batch trigger, else "one" or "".
	Cardinality string
}

// Batch reports whether the binding delivers several messages per invocation.
func (b Binding) Batch() bool { return b.Cardinality == "many" }

// SystemMetadata is Metadata.sys, which the host adds to every invocation.
type SystemMetadata struct {
	MethodName string
	UtcNow     time.Time
	RandGuid   string
}

// TimerInfo is a timer trigger's value.
type TimerInfo struct {
	// IsPastDue is true when the host fired the timer later than scheduled,
	// for example after a restart.
	IsPastDue bool
	// AdjustForDST mirrors Schedule.AdjustForDST.
	AdjustForDST bool
	// HasStatus is false when ScheduleStatus was null, which the host sends
	// when the schedule monitor is off or has no record yet. Last, Next and
	// LastUpdated are then zero.
	HasStatus   bool
	Last        time.Time
	Next        time.Time
	LastUpdated time.Time
}

// Message is one Service Bus message as the host delivered it.
type Message struct {
	ID string
	// Body is the message body: JSON bodies as their JSON text, text bodies
	// as UTF-8 and binary bodies as raw bytes. See ParseServiceBus for how a
	// body that arrived as a string is interpreted.
	Body          []byte
	ContentType   string
	CorrelationID string
	Subject       string
	// DeliveryCount counts deliveries including this one, starting at 1.
	DeliveryCount  int
	SequenceNumber int64
	LockToken      string
	// EnqueuedAt and ExpiresAt are UTC; zero when the host did not send them.
	EnqueuedAt time.Time
	ExpiresAt  time.Time
	// ApplicationProperties are the sender's custom properties.
	ApplicationProperties map[string]any
}

package integrations

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/booga-enterprise/functions/shared/customhandler"
	"github.com/booga-enterprise/functions/shared/events"
)

// Function names, the folders under functions/ with their function.json.
const (
	FunctionFanOut   = "event-fanout"
	FunctionDelivery = "webhook-delivery"
	FunctionRelay    = "event-relay"
)

// Trigger bindings as declared in those function.json files.
var (
	fanOutBinding   = customhandler.Binding{Name: "event"}
	deliveryBinding = customhandler.Binding{Name: "deliveries", Cardinality: "many"}
)

// overdueGrace is how late a delivery's next attempt must be before the
// relay timer republishes its message.
const overdueGrace = time.Minute

// sweepLimit bounds the overdue deliveries one timer run republishes.
const sweepLimit = 1000

// Functions returns the non-HTTP functions of the plugin by name.
func (m *Module) Functions() map[string]customhandler.FunctionFunc {
	return map[string]customhandler.FunctionFunc{
		FunctionFanOut:   m.fanOut,
		FunctionDelivery: m.deliver,
		FunctionRelay:    m.relay,
	}
}

// FanOutResult is the return value of an event-fanout invocation.
type FanOutResult struct {
	EventID    string `json:"event_id"`
	Deliveries int    `json:"deliveries"`
}

func (m *Module) fanOut(ctx context.Context, inv customhandler.Invocation) (any, error) {
	msgs, err := customhandler.ParseServiceBus(inv, fanOutBinding)
	if err != nil {
		return nil, err
	}
	var out []FanOutResult
	for _, msg := range msgs {
		var e events.Event
		if err := json.Unmarshal(msg.Body, &e); err != nil || e.ID == "" || e.TenantID == "" {
			// No retry can fix the body; completing the message drops it.
			m.Webhooks.Logger.ErrorContext(ctx, "dropping malformed event message", "message_id", msg.ID, "error", err)
			continue
		}
		n, err := m.Webhooks.FanOut(ctx, e)
		if err != nil {
			return nil, err
		}
		out = append(out, FanOutResult{EventID: e.ID, Deliveries: n})
	}
	return out, nil
}

func (m *Module) deliver(ctx context.Context, inv customhandler.Invocation) (any, error) {
	msgs, err := customhandler.ParseServiceBus(inv, deliveryBinding)
	if err != nil {
		return nil, err
	}
	bodies := make([][]byte, len(msgs))
	for i, msg := range msgs {
		bodies[i] = msg.Body
	}
	if err := m.Webhooks.DeliverBatch(ctx, bodies); err != nil {
		return nil, err
	}
	return map[string]int{"messages": len(msgs)}, nil
}

// RelayResult is the return value of an event-relay invocation.
type RelayResult struct {
	Events     int `json:"events"`
	Deliveries int `json:"deliveries"`
}

func (m *Module) relay(ctx context.Context, _ customhandler.Invocation) (any, error) {
	n, err := m.Relay.RepublishMissed(ctx)
	if err != nil {
		return nil, fmt.Errorf("republish missed events: %w", err)
	}
	d, err := m.Webhooks.SweepOverdue(ctx, overdueGrace, sweepLimit)
	if err != nil {
		return nil, err
	}
	return RelayResult{Events: n, Deliveries: d}, nil
}

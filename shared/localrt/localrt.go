// Package localrt is the local-mode stand-in for the Functions host's
// non-HTTP triggers. It fires timer functions on their function.json
// schedules and drains the PostgreSQL queue for Service Bus functions, and
// in both cases invokes the function by POSTing the same JSON payload the
// host would to /{FunctionName} on the application's own http.Handler.
package localrt

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"

	"github.com/booga-enterprise/functions/functions"
	"github.com/booga-enterprise/functions/shared/customhandler"
	"github.com/booga-enterprise/functions/shared/queue"
)

// Queue is the consumer side of queue.Store.
type Queue interface {
	Receive(ctx context.Context, queue string, max int, lease time.Duration) ([]queue.Delivery, error)
	Complete(ctx context.Context, lockToken string) error
	Abandon(ctx context.Context, lockToken string, cause error, retryAfter time.Duration) error
}

// Options configures a Runtime. Handler, Functions and, when any function
// has a serviceBusTrigger, Queue are required.
type Options struct {
	// Handler serves POST /{FunctionName}, normally the whole server.
	Handler http.Handler
	// Functions are the definitions to run; HTTP triggers are skipped.
	Functions []functions.Definition
	Queue     Queue
	// Now is the clock for schedules and payload times; default time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// PollInterval is the wait after an empty or failed receive; default 1s.
	PollInterval time.Duration
	// Lease is how long a received message stays invisible while its
	// function runs; default 10 minutes, the functionTimeout in host.json.
	Lease time.Duration
	// BatchSize is the most messages per receive; default 16. A function
	// with cardinality "one" gets them one invocation each, in order.
	BatchSize int
	// Backoff returns how long a message abandoned after its deliveryCount-th
	// delivery stays invisible; default DefaultBackoff.
	Backoff func(deliveryCount int) time.Duration
}

// Runtime runs the timer and queue triggers of a set of functions.
type Runtime struct {
	opts   Options
	timers []timerJob
	queues []queueJob
}

type timerJob struct {
	def      functions.Definition
	schedule cron.Schedule
}

type queueJob struct {
	def   functions.Definition
	queue string
}

// cronParser reads NCRONTAB: six fields, seconds first, as the Functions
// timer trigger does.
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// New validates opts and parses every timer schedule.
func New(opts Options) (*Runtime, error) {
	if opts.Handler == nil {
		return nil, errors.New("localrt: Options.Handler is required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Minute
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 16
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}

	rt := &Runtime{opts: opts}
	drained := map[string]string{}
	for _, def := range opts.Functions {
		switch def.TriggerType() {
		case functions.TriggerTimer:
			sched, err := cronParser.Parse(def.Schedule())
			if err != nil {
				return nil, fmt.Errorf("localrt: function %s: parse schedule %q: %w", def.Name, def.Schedule(), err)
			}
			rt.timers = append(rt.timers, timerJob{def: def, schedule: sched})
		case functions.TriggerServiceBus:
			if opts.Queue == nil {
				return nil, fmt.Errorf("localrt: function %s has a serviceBusTrigger but Options.Queue is nil", def.Name)
			}
			name := LocalQueueName(def)
			if other, ok := drained[name]; ok {
				return nil, fmt.Errorf("localrt: functions %s and %s both consume local queue %q; local mode has no topic fan-out", other, def.Name, name)
			}
			drained[name] = def.Name
			rt.queues = append(rt.queues, queueJob{def: def, queue: name})
		}
	}
	return rt, nil
}

// LocalQueueName returns the queue_messages queue a Service Bus function
// drains locally: its queueName, else its topicName.
//
// NOTE: local mode has no topic subscriptions. A message published to a
// topic reaches the one function subscribed to it, and New rejects two
// functions on the same topic rather than let them compete.
func LocalQueueName(def functions.Definition) string {
	if def.QueueName() != "" {
		return def.QueueName()
	}
	return def.TopicName()
}

// DefaultBackoff waits 2^(n-1) seconds after the n-th delivery, at most five
// minutes, with up to half of it replaced by random jitter so that messages
// that failed together do not all retry together.
func DefaultBackoff(deliveryCount int) time.Duration {
	if deliveryCount < 1 {
		deliveryCount = 1
	}
	d := 5 * time.Minute
	if deliveryCount <= 9 {
		d = min(time.Duration(1<<(deliveryCount-1))*time.Second, d)
	}
	half := d / 2
	return half + rand.N(half+1)
}

// Run fires timers and drains queues until ctx is canceled, then waits for
// invocations already started to finish and returns nil. Invocations run
// with a context that is not canceled with ctx, so shutdown does not fail
// them half-way.
func (rt *Runtime) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, job := range rt.timers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt.runTimer(ctx, job)
		}()
	}
	for _, job := range rt.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rt.drain(ctx, job)
		}()
	}
	rt.opts.Logger.InfoContext(ctx, "local runtime started", "timers", len(rt.timers), "queues", len(rt.queues))
	wg.Wait()
	rt.opts.Logger.InfoContext(context.WithoutCancel(ctx), "local runtime stopped")
	return nil
}

func (rt *Runtime) runTimer(ctx context.Context, job timerJob) {
	var last time.Time
	next := job.schedule.Next(rt.opts.Now())
	for {
		if !sleep(ctx, next.Sub(rt.opts.Now())) {
			return
		}
		now := rt.opts.Now()
		following := job.schedule.Next(next)
		status := timerStatus{Last: last, Next: following, LastUpdated: now}
		err := rt.fireTimer(context.WithoutCancel(ctx), job.def, status, now.After(following))
		if err != nil {
			rt.opts.Logger.ErrorContext(ctx, "timer invocation failed", "function", job.def.Name, "error", err)
		}
		last = next
		// A run that outlasts its period skips the missed occurrences, as
		// the host's timer does, instead of firing them back to back.
		next = job.schedule.Next(rt.opts.Now())
	}
}

// timerStatus is the host's ScheduleStatus; a zero Last means "no previous
// run", for which the host sends ScheduleStatus null.
type timerStatus struct {
	Last, Next, LastUpdated time.Time
}

// Fire invokes the timer function name once, now, as a first run with
// ScheduleStatus null. It is for running a scheduled job on demand in local
// mode; a non-2xx response is an error.
func (rt *Runtime) Fire(ctx context.Context, name string) error {
	for _, job := range rt.timers {
		if job.def.Name == name {
			return rt.fireTimer(ctx, job.def, timerStatus{}, false)
		}
	}
	return fmt.Errorf("localrt: no timer function named %q", name)
}

// fireTimer invokes a timer function through the handler with the host's
// timer payload. A zero status.Last sends ScheduleStatus null, as the host
// does for a first run. A non-2xx response is an error.
func (rt *Runtime) fireTimer(ctx context.Context, def functions.Definition, status timerStatus, pastDue bool) error {
	value := map[string]any{
		"Schedule":       map[string]any{"AdjustForDST": true},
		"ScheduleStatus": nil,
		"IsPastDue":      pastDue,
	}
	if !status.Last.IsZero() {
		value["ScheduleStatus"] = map[string]any{
			"Last":        status.Last.UTC().Format(time.RFC3339Nano),
			"Next":        status.Next.UTC().Format(time.RFC3339Nano),
			"LastUpdated": status.LastUpdated.UTC().Format(time.RFC3339Nano),
		}
	}
	payload := rt.payload(def, map[string]any{def.Trigger.Name: value}, nil)
	_, err := rt.invoke(ctx, def, payload)
	return err
}

func (rt *Runtime) drain(ctx context.Context, job queueJob) {
	log := rt.opts.Logger.With("function", job.def.Name, "queue", job.queue)
	for {
		if ctx.Err() != nil {
			return
		}
		deliveries, err := rt.opts.Queue.Receive(ctx, job.queue, rt.opts.BatchSize, rt.opts.Lease)
		if err != nil && !errors.Is(err, context.Canceled) {
			log.ErrorContext(ctx, "receive from local queue failed", "error", err)
		}
		if len(deliveries) == 0 {
			if !sleep(ctx, rt.opts.PollInterval) {
				return
			}
			continue
		}

		work := context.WithoutCancel(ctx)
		if job.def.TriggerBinding().Batch() {
			rt.deliver(work, log, job.def, deliveries)
			continue
		}
		for _, d := range deliveries {
			rt.deliver(work, log, job.def, []queue.Delivery{d})
		}
	}
}

// deliver invokes the function with deliveries and settles each of them:
// Complete on a 2xx response, Abandon with backoff otherwise.
func (rt *Runtime) deliver(ctx context.Context, log *slog.Logger, def functions.Definition, deliveries []queue.Delivery) {
	payload := rt.serviceBusPayload(def, deliveries)
	_, invokeErr := rt.invoke(ctx, def, payload)
	for _, d := range deliveries {
		log := log.With("message_id", d.ID, "delivery_count", d.DeliveryCount)
		if invokeErr == nil {
			if err := rt.opts.Queue.Complete(ctx, d.LockToken); err != nil {
				log.ErrorContext(ctx, "complete message failed", "error", err)
			}
			continue
		}
		retryAfter := rt.opts.Backoff(d.DeliveryCount)
		if err := rt.opts.Queue.Abandon(ctx, d.LockToken, invokeErr, retryAfter); err != nil {
			log.ErrorContext(ctx, "abandon message failed", "error", err)
			continue
		}
		log.WarnContext(ctx, "message abandoned after failed invocation", "retry_after", retryAfter, "error", invokeErr)
	}
}

// serviceBusPayload encodes deliveries the way the host's
// GetHttpScriptInvocationContextValue does: strings and arrays as strings
// holding their own JSON text, dictionaries as objects.
func (rt *Runtime) serviceBusPayload(def functions.Definition, ds []queue.Delivery) map[string]any {
	binding := def.TriggerBinding()
	if !binding.Batch() {
		d := ds[0]
		metadata := map[string]any{
			"MessageId":             jsonText(d.ID),
			"ContentType":           jsonText(d.ContentType),
			"DeliveryCount":         jsonText(d.DeliveryCount),
			"LockToken":             jsonText(d.LockToken),
			"EnqueuedTimeUtc":       jsonText(d.EnqueuedAt.UTC().Format(time.RFC3339Nano)),
			"ApplicationProperties": map[string]any{},
		}
		return rt.payload(def, map[string]any{binding.Name: bodyValue(d.Body, binding)}, metadata)
	}

	bodies := make([]any, len(ds))
	idList := make([]string, len(ds))
	types := make([]string, len(ds))
	counts := make([]int, len(ds))
	tokens := make([]string, len(ds))
	enqueued := make([]string, len(ds))
	props := make([]map[string]any, len(ds))
	for i, d := range ds {
		bodies[i] = bodyValue(d.Body, binding)
		idList[i] = d.ID
		types[i] = d.ContentType
		counts[i] = d.DeliveryCount
		tokens[i] = d.LockToken
		enqueued[i] = d.EnqueuedAt.UTC().Format(time.RFC3339Nano)
		props[i] = map[string]any{}
	}
	metadata := map[string]any{
		"MessageIdArray":             jsonText(idList),
		"ContentTypeArray":           jsonText(types),
		"DeliveryCountArray":         jsonText(counts),
		"LockTokenArray":             jsonText(tokens),
		"EnqueuedTimeUtcArray":       jsonText(enqueued),
		"ApplicationPropertiesArray": jsonText(props),
	}
	return rt.payload(def, map[string]any{binding.Name: jsonText(bodies)}, metadata)
}

// bodyValue is one message body as the host sends it: base64 for a binary
// binding or a body that is not UTF-8 text, else the text serialized again.
func bodyValue(body []byte, binding customhandler.Binding) any {
	if binding.DataType == "binary" || !utf8.Valid(body) {
		return body // encoding/json writes []byte as base64
	}
	return jsonText(string(body))
}

func (rt *Runtime) payload(def functions.Definition, data, metadata map[string]any) map[string]any {
	if metadata == nil {
		metadata = map[string]any{}
	}
	metadata["sys"] = map[string]any{
		"MethodName": def.Name,
		"UtcNow":     rt.opts.Now().UTC().Format(time.RFC3339Nano),
		"RandGuid":   newUUID(),
	}
	return map[string]any{"Data": data, "Metadata": metadata}
}

// maxResponseBytes bounds how much of a failed invocation's response body is kept
// for the error message.
const maxResponseBytes = 4096

// invoke POSTs payload to /{def.Name} through the handler in-process and
// returns the response body. A non-2xx status is an error.
func (rt *Runtime) invoke(ctx context.Context, def functions.Definition, payload map[string]any) ([]byte, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode invocation of %s: %w", def.Name, err)
	}
	invocationID := newUUID()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost/"+def.Name, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build invocation of %s: %w", def.Name, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(customhandler.HeaderInvocationID, invocationID)
	req.Header.Set(customhandler.HeaderHostVersion, "localrt")
	req.RemoteAddr = "127.0.0.1:0"

	w := &capturedResponse{header: http.Header{}}
	start := time.Now()
	rt.opts.Handler.ServeHTTP(w, req)
	status := w.statusCode()

	log := rt.opts.Logger.With("function", def.Name, "invocation_id", invocationID, "status", status, "duration", time.Since(start))
	if status < 200 || status > 299 {
		log.WarnContext(ctx, "local invocation failed")
		return w.body.Bytes(), fmt.Errorf("function %s responded %d: %s", def.Name, status, bytes.TrimSpace(w.body.Bytes()))
	}
	log.DebugContext(ctx, "local invocation completed")
	return w.body.Bytes(), nil
}

// capturedResponse is an in-process http.ResponseWriter that keeps the status and the
// first maxResponseBytes of the body.
type capturedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (a *capturedResponse) Header() http.Header { return a.header }

func (a *capturedResponse) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *capturedResponse) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if room := maxResponseBytes - a.body.Len(); room > 0 {
		a.body.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (a *capturedResponse) statusCode() int {
	if a.status == 0 {
		return http.StatusOK
	}
	return a.status
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jsonText returns v's JSON text as a string, the host's form for values
// that are not objects.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("localrt: encode metadata %T: %v", v, err))
	}
	return string(b)
}

func newUUID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

package customhandler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// MaxInvocationBytes caps an invocation body. A Service Bus Premium message
// may be up to 100 MB, so a batch of large messages needs room.
const MaxInvocationBytes = 256 << 20

// FunctionFunc runs one invocation. The result becomes Response.ReturnValue;
// a non-nil error fails the invocation.
type FunctionFunc func(ctx context.Context, inv Invocation) (any, error)

type handler struct {
	funcs  map[string]FunctionFunc
	logger *slog.Logger
}

// NewHandler serves the host's side of the protocol:
//   - any method on "/" gets 200, because the host probes the root until it
//     gets any HTTP response before it sends work;
//   - POST /{FunctionName} decodes the Invocation and calls funcs[FunctionName]
//     (exact name, else a case-insensitive match). A result gets 200 with a
//     Response. An error or panic gets 500 with the error in Logs, which the
//     host counts as a failed invocation, so Service Bus redelivers;
//   - an unknown function gets 404 and a malformed body 400, both as a
//     Response with the reason in Logs. Other methods get 405.
//
// A nil logger uses slog.Default().
func NewHandler(funcs map[string]FunctionFunc, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	copied := make(map[string]FunctionFunc, len(funcs))
	for name, fn := range funcs {
		copied[name] = fn
	}
	return &handler{funcs: copied, logger: logger}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.Trim(r.URL.Path, "/")
	if name == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeResponse(w, http.StatusMethodNotAllowed, failure(fmt.Sprintf("method %s is not allowed on /%s: the host invokes functions with POST", r.Method, name)))
		return
	}
	fn, canonical, ok := h.lookup(name)
	if !ok {
		h.logger.WarnContext(r.Context(), "invocation for unknown function", "function", name)
		writeResponse(w, http.StatusNotFound, failure(fmt.Sprintf("function %q is not registered in this handler", name)))
		return
	}

	inv, err := decodeInvocation(w, r)
	if err != nil {
		h.logger.WarnContext(r.Context(), "invalid invocation body", "function", canonical, "error", err)
		writeResponse(w, http.StatusBadRequest, failure(err.Error()))
		return
	}
	inv.FunctionName = canonical
	inv.InvocationID = invocationID(r, inv)

	h.invoke(w, r, fn, inv)
}

func (h *handler) lookup(name string) (FunctionFunc, string, bool) {
	if fn, ok := h.funcs[name]; ok {
		return fn, name, true
	}
	for n, fn := range h.funcs {
		if strings.EqualFold(n, name) {
			return fn, n, true
		}
	}
	return nil, "", false
}

func (h *handler) invoke(w http.ResponseWriter, r *http.Request, fn FunctionFunc, inv Invocation) {
	ctx := r.Context()
	log := h.logger.With("function", inv.FunctionName, "invocation_id", inv.InvocationID)
	start := time.Now()

	result, err := call(ctx, fn, inv)
	elapsed := time.Since(start)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			log.InfoContext(ctx, "invocation canceled", "duration", elapsed)
		} else {
			log.ErrorContext(ctx, "invocation failed", "duration", elapsed, "error", err)
		}
		writeResponse(w, http.StatusInternalServerError, failure(fmt.Sprintf("function %s failed: %v", inv.FunctionName, err)))
		return
	}

	body, err := json.Marshal(Response{Outputs: map[string]any{}, Logs: []string{}, ReturnValue: result})
	if err != nil {
		log.ErrorContext(ctx, "encode invocation result failed", "error", err)
		writeResponse(w, http.StatusInternalServerError, failure(fmt.Sprintf("function %s returned a value that cannot be encoded as JSON: %v", inv.FunctionName, err)))
		return
	}
	log.DebugContext(ctx, "invocation completed", "duration", elapsed)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// call runs fn and turns a panic into an error, so one bad message fails its
// own invocation instead of the whole handler process.
func call(ctx context.Context, fn FunctionFunc, inv Invocation) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx, inv)
}

func decodeInvocation(w http.ResponseWriter, r *http.Request) (Invocation, error) {
	var inv Invocation
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxInvocationBytes))
	if err := dec.Decode(&inv); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return Invocation{}, fmt.Errorf("invocation body exceeds %d bytes", MaxInvocationBytes)
		}
		return Invocation{}, fmt.Errorf("decode invocation body: %w", err)
	}
	if inv.Data == nil {
		inv.Data = map[string]json.RawMessage{}
	}
	if inv.Metadata == nil {
		inv.Metadata = map[string]json.RawMessage{}
	}
	return inv, nil
}

func invocationID(r *http.Request, inv Invocation) string {
	if id := strings.TrimSpace(r.Header.Get(HeaderInvocationID)); id != "" && len(id) <= 128 {
		return id
	}
	if sys, err := ParseSystem(inv); err == nil {
		return sys.RandGuid
	}
	return ""
}

func failure(msg string) Response {
	return Response{Outputs: map[string]any{}, Logs: []string{msg}}
}

func writeResponse(w http.ResponseWriter, status int, resp Response) {
	body, err := json.Marshal(resp)
	if err != nil {
		body = []byte(`{"Outputs":{},"Logs":["encode response failed"],"ReturnValue":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

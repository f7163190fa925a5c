package customhandler

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// recorder keeps the invocations a test function received.
type recorder struct {
	mu   sync.Mutex
	seen []Invocation
}

func (r *recorder) add(inv Invocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, inv)
}

func newTestServer(t *testing.T, funcs map[string]FunctionFunc) (*httptest.Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(NewHandler(funcs, logger))
	t.Cleanup(srv.Close)
	return srv, &logs
}

func postFile(t *testing.T, srv *httptest.Server, path, sample string, header http.Header) (*http.Response, Response) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "host", sample))
	require.NoError(t, err)
	return post(t, srv, path, body, header)
}

func post(t *testing.T, srv *httptest.Server, path string, body []byte, header http.Header) (*http.Response, Response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out Response
	require.NoError(t, json.Unmarshal(raw, &out), "body: %s", raw)
	return resp, out
}

func TestHandler_ServeHTTP(t *testing.T) {
	t.Parallel()

	samples := []struct {
		name     string
		function string
		file     string
		check    func(t *testing.T, inv Invocation)
	}{
		{"TimerWithStatus", "usage-drain", "timer_with_status.json", func(t *testing.T, inv Invocation) {
			info, err := ParseTimer(inv, Binding{Name: "timer"})
			require.NoError(t, err)
			require.True(t, info.HasStatus)
		}},
		{"TimerNullStatus", "usage-drain", "timer_null_status.json", func(t *testing.T, inv Invocation) {
			info, err := ParseTimer(inv, Binding{Name: "timer"})
			require.NoError(t, err)
			require.False(t, info.HasStatus)
		}},
		{"ServiceBusSingle", "agent-runs", "servicebus_single.json", func(t *testing.T, inv Invocation) {
			msgs, err := ParseServiceBus(inv, Binding{Name: "message"})
			require.NoError(t, err)
			require.Equal(t, "msg-0001", msgs[0].ID)
		}},
		{"ServiceBusSinglePlain", "agent-runs", "servicebus_single_plain.json", func(t *testing.T, inv Invocation) {
			msgs, err := ParseServiceBus(inv, Binding{Name: "message"})
			require.NoError(t, err)
			require.Equal(t, "msg-0002", msgs[0].ID)
		}},
		{"ServiceBusSingleBase64", "agent-runs", "servicebus_single_base64.json", func(t *testing.T, inv Invocation) {
			msgs, err := ParseServiceBus(inv, Binding{Name: "message"})
			require.NoError(t, err)
			require.Equal(t, "msg-0003", msgs[0].ID)
		}},
		{"ServiceBusBatch", "usage-batch", "servicebus_batch.json", func(t *testing.T, inv Invocation) {
			msgs, err := ParseServiceBus(inv, Binding{Name: "messages", Cardinality: "many"})
			require.NoError(t, err)
			require.Len(t, msgs, 3)
		}},
	}
	for _, tc := range samples {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			srv, _ := newTestServer(t, map[string]FunctionFunc{
				tc.function: func(ctx context.Context, inv Invocation) (any, error) {
					rec.add(inv)
					return map[string]string{"status": "done"}, nil
				},
			})

			resp, out := postFile(t, srv, "/"+tc.function, tc.file, http.Header{HeaderInvocationID: {"inv-123"}})

			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			require.Equal(t, map[string]any{"status": "done"}, out.ReturnValue)
			require.NotNil(t, out.Outputs)
			require.NotNil(t, out.Logs)
			require.Len(t, rec.seen, 1)
			require.Equal(t, tc.function, rec.seen[0].FunctionName)
			require.Equal(t, "inv-123", rec.seen[0].InvocationID)
			tc.check(t, rec.seen[0])
		})
	}

	t.Run("InvocationIDFromSys", func(t *testing.T) {
		t.Parallel()
		rec := &recorder{}
		srv, logs := newTestServer(t, map[string]FunctionFunc{
			"usage-drain": func(ctx context.Context, inv Invocation) (any, error) {
				rec.add(inv)
				return nil, errors.New("database unavailable")
			},
		})
		_, _ = postFile(t, srv, "/usage-drain", "timer_with_status.json", nil)
		require.Equal(t, "6f1b7c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b", rec.seen[0].InvocationID)
		require.Contains(t, logs.String(), `"invocation_id":"6f1b7c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"`)
		require.Contains(t, logs.String(), `"function":"usage-drain"`)
	})

	t.Run("FunctionError", func(t *testing.T) {
		t.Parallel()
		srv, logs := newTestServer(t, map[string]FunctionFunc{
			"agent-runs": func(ctx context.Context, inv Invocation) (any, error) {
				return nil, errors.New("database unavailable")
			},
		})
		resp, out := postFile(t, srv, "/agent-runs", "servicebus_single.json", nil)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		require.Len(t, out.Logs, 1)
		require.Contains(t, out.Logs[0], "database unavailable")
		require.Nil(t, out.ReturnValue)
		require.Contains(t, logs.String(), `"level":"ERROR"`)
	})

	t.Run("FunctionPanic", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTestServer(t, map[string]FunctionFunc{
			"agent-runs": func(ctx context.Context, inv Invocation) (any, error) {
				panic("nil map")
			},
		})
		resp, out := postFile(t, srv, "/agent-runs", "servicebus_single.json", nil)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		require.Contains(t, out.Logs[0], "panic: nil map")
	})

	t.Run("UnencodableResult", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTestServer(t, map[string]FunctionFunc{
			"agent-runs": func(ctx context.Context, inv Invocation) (any, error) {
				return func() {}, nil
			},
		})
		resp, out := postFile(t, srv, "/agent-runs", "servicebus_single.json", nil)
		require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
		require.Contains(t, out.Logs[0], "cannot be encoded as JSON")
	})

	t.Run("UnknownFunction", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTestServer(t, map[string]FunctionFunc{})
		resp, out := postFile(t, srv, "/nope", "timer_with_status.json", nil)
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		require.Contains(t, out.Logs[0], `function "nope" is not registered`)
	})

	t.Run("CaseInsensitiveName", func(t *testing.T) {
		t.Parallel()
		rec := &recorder{}
		srv, _ := newTestServer(t, map[string]FunctionFunc{
			"usage-drain": func(ctx context.Context, inv Invocation) (any, error) {
				rec.add(inv)
				return nil, nil
			},
		})
		resp, _ := postFile(t, srv, "/Usage-Drain", "timer_with_status.json", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "usage-drain", rec.seen[0].FunctionName)
	})

	t.Run("MalformedBody", func(t *testing.T) {
		t.Parallel()
		called := false
		srv, _ := newTestServer(t, map[string]FunctionFunc{
			"usage-drain": func(ctx context.Context, inv Invocation) (any, error) {
				called = true
				return nil, nil
			},
		})
		resp, out := post(t, srv, "/usage-drain", []byte(`{"Data": [`), nil)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, out.Logs[0], "decode invocation body")
		require.False(t, called)
	})

	t.Run("WrongMethod", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTestServer(t, map[string]FunctionFunc{
			"usage-drain": func(ctx context.Context, inv Invocation) (any, error) { return nil, nil },
		})
		resp, err := srv.Client().Get(srv.URL + "/usage-drain")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		require.Equal(t, http.MethodPost, resp.Header.Get("Allow"))
	})

	t.Run("HostProbe", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTestServer(t, map[string]FunctionFunc{})
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodOptions} {
			req, err := http.NewRequest(method, srv.URL+"/", strings.NewReader(""))
			require.NoError(t, err)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, method)
		}
	})
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/functions"
	"github.com/booga-enterprise/functions/shared/localrt"
	"github.com/booga-enterprise/functions/shared/queue"
)

// nodeReceiver is testdata/webhooks/receiver.mjs, a receiver that verifies
// every delivery with the npm standardwebhooks package.
type nodeReceiver struct {
	url   string
	mu    sync.Mutex
	lines []receivedHook
}

type receivedHook struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Verified []bool `json:"verified"`
}

func startNodeReceiver(t *testing.T) *nodeReceiver {
	t.Helper()
	dir, err := filepath.Abs(".tools/npm/standardwebhooks/node_modules/standardwebhooks")
	require.NoError(t, err)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("standardwebhooks is not installed at %s: run scripts/lib/install-webhooks.sh (scripts/test runs it)", dir)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "testdata/webhooks/receiver.mjs")
	cmd.Env = append(os.Environ(), "STANDARDWEBHOOKS_DIR="+filepath.Dir(dir))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})

	r := &nodeReceiver{}
	sc := bufio.NewScanner(out)
	require.True(t, sc.Scan(), "the receiver did not print its port")
	var hello struct{ Port int }
	require.NoError(t, json.Unmarshal(sc.Bytes(), &hello))
	r.url = fmt.Sprintf("http://127.0.0.1:%d", hello.Port)
	go func() {
		for sc.Scan() {
			var h receivedHook
			if json.Unmarshal(sc.Bytes(), &h) == nil {
				r.mu.Lock()
				r.lines = append(r.lines, h)
				r.mu.Unlock()
			}
		}
	}()
	return r
}

func (r *nodeReceiver) setSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	body, _ := json.Marshal(secrets)
	resp, err := http.Post(r.url+"/secrets", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
}

// waitFor polls until n deliveries were received. The deadline only
// bounds a hang; the assertions are on what arrived.
func (r *nodeReceiver) waitFor(t *testing.T, n int) []receivedHook {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := append([]receivedHook(nil), r.lines...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("received fewer than %d webhooks within 30s", n)
	return nil
}

// runLocalRuntime drains the queues of the webhook functions through the
// platform's own handler, as local mode does.
func runLocalRuntime(t *testing.T, p *testPlatform) {
	t.Helper()
	runLocalFunctions(t, p, "event-fanout", "webhook-delivery")
}

// runLocalFunctions drains the queues of the named functions through the
// platform's own handler until the test ends, and returns the local queue
// names it drains.
func runLocalFunctions(t *testing.T, p *testPlatform, names ...string) []string {
	t.Helper()
	defs, err := functions.Definitions()
	require.NoError(t, err)
	var mine []functions.Definition
	var queues []string
	for _, d := range defs {
		if slices.Contains(names, d.Name) {
			mine = append(mine, d)
			queues = append(queues, localrt.LocalQueueName(d))
		}
	}
	require.Len(t, mine, len(names), "functions %v", names)
	rt, err := localrt.New(localrt.Options{Handler: p.app.handler(), Functions: mine, Queue: queue.NewStore(p.app.pool),
		PollInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done //nolint:errcheck // the error after cancel is expected
	})
	return queues
}

func TestWebhooks_StandardWebhooksVerifies(t *testing.T) {
	p := newTestPlatform(t, map[string]string{"WEBHOOKS_ALLOW_LOOPBACK": "true"})
	recv := startNodeReceiver(t)
	runLocalRuntime(t, p)
	acme := p.tenant("Acme")

	res := p.do("POST", "/api/integrations/webhooks", acme.APIKey, map[string]any{
		"url": recv.url + "/hook", "event_types": []string{"api_key.*", "webhook.test"}, "description": "CI receiver"})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	ep := res.json(t)
	endpointID, secret := ep["id"].(string), ep["secret"].(string)
	recv.setSecrets(t, secret)

	res = p.do("POST", "/api/api-management/keys", acme.APIKey, map[string]any{"name": "ci", "scopes": []string{"files:read"}})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	keyID := res.json(t)["id"].(string)
	require.Equal(t, http.StatusOK, p.do("POST", "/api/api-management/keys/"+keyID+"/rotate", acme.APIKey, nil).Status)
	require.Equal(t, http.StatusNoContent, p.do("DELETE", "/api/api-management/keys/"+keyID, acme.APIKey, nil).Status)

	got := recv.waitFor(t, 3)
	types := []string{}
	for _, h := range got {
		require.Equal(t, []bool{true}, h.Verified, "standardwebhooks rejects the signature of %s", h.Type)
		types = append(types, h.Type)
	}
	require.ElementsMatch(t, []string{"api_key.created", "api_key.rotated", "api_key.revoked"}, types)

	t.Run("RotationOverlap", func(t *testing.T) {
		res := p.do("POST", "/api/integrations/webhooks/"+endpointID+"/rotate-secret", acme.APIKey, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		newSecret := res.json(t)["secret"].(string)
		recv.setSecrets(t, secret, newSecret)
		res = p.do("POST", "/api/integrations/webhooks/"+endpointID+"/test", acme.APIKey, nil)
		require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
		got := recv.waitFor(t, 4)
		require.Equal(t, "webhook.test", got[3].Type)
		require.Equal(t, res.json(t)["event_id"], got[3].ID)
		require.Equal(t, []bool{true, true}, got[3].Verified, "old and new secrets both verify during the overlap")
	})

	t.Run("DeliveriesListed", func(t *testing.T) {
		// The receiver has the test event; its outcome is recorded just after.
		var data []any
		deadline := time.Now().Add(30 * time.Second)
		for len(data) < 4 && time.Now().Before(deadline) {
			res := p.do("GET", "/api/integrations/webhooks/"+endpointID+"/deliveries?status=succeeded", acme.APIKey, nil)
			require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
			data = res.json(t)["data"].([]any)
			time.Sleep(10 * time.Millisecond)
		}
		require.Len(t, data, 4)
		first := data[0].(map[string]any)
		attempts := first["attempts"].([]any)
		require.Len(t, attempts, 1)
		require.EqualValues(t, 204, attempts[0].(map[string]any)["status_code"])
	})

	t.Run("Catalogue", func(t *testing.T) {
		res := p.do("GET", "/api/integrations/events", acme.APIKey, nil)
		require.Equal(t, http.StatusOK, res.Status)
		require.Contains(t, string(res.Body), `"api_key.created"`)
		require.Contains(t, string(res.Body), `"integration.sync.completed"`)
	})

	t.Run("OtherTenantNotFound", func(t *testing.T) {
		globex := p.tenant("Globex")
		res := p.do("GET", "/api/integrations/webhooks/"+endpointID+"/deliveries", acme.APIKey, nil)
		deliveryID := res.json(t)["data"].([]any)[0].(map[string]any)["id"].(string)

		for _, c := range []struct{ method, path string }{
			{"GET", "/api/integrations/webhooks/" + endpointID},
			{"GET", "/api/integrations/webhooks/" + endpointID + "/deliveries"},
			{"GET", "/api/integrations/webhooks/" + endpointID + "/deliveries/" + deliveryID},
			{"POST", "/api/integrations/webhooks/" + endpointID + "/deliveries/" + deliveryID + "/redeliver"},
			{"POST", "/api/integrations/webhooks/" + endpointID + "/test"},
			{"DELETE", "/api/integrations/webhooks/" + endpointID},
		} {
			res := p.do(c.method, c.path, globex.APIKey, nil)
			require.Equal(t, http.StatusNotFound, res.Status, "%s %s: %s", c.method, c.path, res.Body)
		}
		res = p.do("GET", "/api/integrations/webhooks", globex.APIKey, nil)
		require.Equal(t, http.StatusOK, res.Status)
		require.Empty(t, res.json(t)["data"])
		require.Len(t, recv.waitFor(t, 4), 4, "nothing was redelivered")
	})

	t.Run("Redeliver", func(t *testing.T) {
		res := p.do("GET", "/api/integrations/webhooks/"+endpointID+"/deliveries", acme.APIKey, nil)
		d := res.json(t)["data"].([]any)[0].(map[string]any)
		res = p.do("POST", "/api/integrations/webhooks/"+endpointID+"/deliveries/"+d["id"].(string)+"/redeliver", acme.APIKey, nil)
		require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
		got := recv.waitFor(t, 5)
		require.Equal(t, d["event_id"], got[4].ID, "a redelivery keeps the webhook-id")
	})
}

func TestWebhooks_CreateRejectsRefusedURLs(t *testing.T) {
	t.Parallel()
	p := newTestPlatform(t, nil)
	acme := p.tenant("Acme")
	for _, u := range []string{
		"http://127.0.0.1/hook", "http://[::1]/hook", "http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data",
		"http://100.64.0.1/", "http://224.0.0.1/", "http://0.0.0.0/", "http://localhost/", "ftp://example.com/",
	} {
		res := p.do("POST", "/api/integrations/webhooks", acme.APIKey, map[string]any{"url": u, "event_types": []string{"*"}})
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", u, res.Body)
		require.Equal(t, "url", res.problemField(t), u)
	}
	res := p.do("POST", "/api/integrations/webhooks", acme.APIKey, map[string]any{"url": "http://93.184.215.14/", "event_types": []string{"nope.*"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	require.Equal(t, "event_types[0]", res.problemField(t))
}

package main

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// contractID returns the id field of a JSON response body.
func contractID(t *testing.T, raw []byte) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(raw, &v), "body: %s", raw)
	require.NotEmpty(t, v.ID, "body: %s", raw)
	return v.ID
}

// contractUpload builds a multipart upload body with the form fields first
// and the file part last, and returns it with its Content-Type header.
func contractUpload(t *testing.T, filename string, content string, fields ...string) (string, map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(t, mw.WriteField(fields[i], fields[i+1]))
	}
	if filename != "" {
		part, err := mw.CreateFormFile("file", filename)
		require.NoError(t, err)
		_, err = part.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, mw.Close())
	return buf.String(), map[string]string{"Content-Type": mw.FormDataContentType()}
}

// filesCalls sends the files plugin's contract requests: a multipart upload,
// a two-step upload, folders, downloads with ranges and conditions, share
// links and deletion, with bad input and unknown ids along the way.
func filesCalls(t *testing.T, p *testPlatform, do func(contractCall) []byte, admin string) {
	t.Helper()
	requireAzurite(t)
	const missingFile = "/files/files/fil_01m91aj79d3xnnj8x3cxvch8x3"
	const missingFolder = "/files/folders/fld_01m91aj79d3xnnj8x3cxvch8x3"
	const missingUpload = "/files/uploads/ups_01m91aj79d3xnnj8x3cxvch8x3"
	content := "# Plan\n\nShip the files plugin.\n"

	// Folders.
	folder := contractID(t, do(contractCall{method: "POST", path: "/files/folders", key: admin, body: `{"name":"2026"}`, want: 201}))
	for _, c := range []contractCall{
		{method: "POST", path: "/files/folders", key: admin, body: `{"name":"2026"}`, want: 409},
		{method: "POST", path: "/files/folders", key: admin, body: `{"name":"a/b"}`, want: 422},
		{method: "GET", path: "/files/folders", key: admin, want: 200},
		{method: "GET", path: "/files/folders?limit=0", key: admin, want: 422},
		{method: "GET", path: "/files/folders/" + folder, key: admin, want: 200},
		{method: "GET", path: missingFolder, key: admin, want: 404},
		{method: "PATCH", path: "/files/folders/" + folder, key: admin, body: `{"name":"2027"}`, want: 200},
		{method: "PATCH", path: "/files/folders/" + folder, key: admin, body: `{"parent_id":"` + folder + `"}`, want: 422},
	} {
		do(c)
	}
	sibling := contractID(t, do(contractCall{method: "POST", path: "/files/folders", key: admin, body: `{"name":"Other"}`, want: 201}))
	do(contractCall{method: "PATCH", path: "/files/folders/" + sibling, key: admin, body: `{"name":"2027"}`, want: 409})

	// Multipart upload.
	body, multipartHeader := contractUpload(t, "notes.md", content, "folder_id", folder)
	file := contractID(t, do(contractCall{method: "POST", path: "/files/files", key: admin, headers: multipartHeader, body: body, want: 201}))
	body, multipartHeader = contractUpload(t, "", "", "name", "empty.txt")
	do(contractCall{method: "POST", path: "/files/files", key: admin, headers: multipartHeader, body: body, want: 422})
	body, multipartHeader = contractUpload(t, "notes.md", content, "folder_id", folder)
	do(contractCall{method: "POST", path: "/files/files", key: admin, headers: multipartHeader, body: body, want: 409})
	do(contractCall{method: "POST", path: "/files/files", key: admin, headers: map[string]string{"Content-Type": "text/plain"}, body: content, want: 415})

	// The text appears once the processing function has run.
	do(contractCall{method: "GET", path: "/files/files/" + file + "/text", key: admin, want: 404})
	invokeQueued(t, p, "process-"+file)

	etag := func() string {
		t.Helper()
		req, err := http.NewRequest("GET", p.srv.URL+"/api/files/files/"+file+"/content", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+admin)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.NoError(t, res.Body.Close())
		require.NotEmpty(t, res.Header.Get("ETag"))
		return res.Header.Get("ETag")
	}()
	for _, c := range []contractCall{
		{method: "GET", path: "/files/quota", key: admin, want: 200},
		{method: "GET", path: "/files/files?limit=2&sort=-created_at", key: admin, want: 200},
		{method: "GET", path: "/files/files?folder_id=" + folder + "&type=text/&status=ready", key: admin, want: 200},
		{method: "GET", path: "/files/files?status=lost", key: admin, want: 422},
		{method: "GET", path: "/files/files/" + file, key: admin, want: 200},
		{method: "GET", path: missingFile, key: admin, want: 404},
		{method: "GET", path: "/files/files/" + file + "/text", key: admin, want: 200},
		{method: "GET", path: "/files/files/" + file + "/content", key: admin, want: 200},
		{method: "GET", path: "/files/files/" + file + "/content?disposition=inline", key: admin, headers: map[string]string{"Range": "bytes=0-5"}, want: 206},
		{method: "GET", path: "/files/files/" + file + "/content", key: admin, headers: map[string]string{"If-None-Match": etag}, want: 304},
		{method: "GET", path: "/files/files/" + file + "/content", key: admin, headers: map[string]string{"If-Match": `"other"`}, want: 412},
		{method: "GET", path: missingFile + "/content", key: admin, want: 404},
		{method: "PATCH", path: "/files/files/" + file, key: admin, body: `{"name":"plan.md","embed":true}`, want: 200},
		{method: "PATCH", path: "/files/files/" + file, key: admin, body: `{"name":"../x"}`, want: 422},
		{method: "PATCH", path: missingFile, key: admin, body: `{"name":"x.md"}`, want: 404},
	} {
		do(c)
	}

	// Share links.
	var share struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	require.NoError(t, json.Unmarshal(do(contractCall{method: "POST", path: "/files/files/" + file + "/shares", key: admin,
		body: `{"password":"open sesame","max_downloads":5}`, want: 201}), &share))
	require.NotEmpty(t, share.Token)
	password := map[string]string{"X-Share-Password": "open sesame"}
	for _, c := range []contractCall{
		{method: "POST", path: "/files/files/" + file + "/shares", key: admin, body: `{"max_downloads":0}`, want: 422},
		{method: "POST", path: missingFile + "/shares", key: admin, body: `{}`, want: 404},
		{method: "GET", path: "/files/files/" + file + "/shares", key: admin, want: 200},
		{method: "GET", path: "/files/shared/" + share.Token, headers: password, want: 200},
		{method: "GET", path: "/files/shared/" + share.Token, headers: map[string]string{"X-Share-Password": "open sesame", "Range": "bytes=2-"}, want: 206},
		{method: "GET", path: "/files/shared/" + share.Token, want: 401},
		{method: "GET", path: "/files/shared/" + share.Token + "x", want: 404},
		{method: "DELETE", path: "/files/files/" + file + "/shares/" + share.ID, key: admin, want: 204},
		{method: "DELETE", path: "/files/files/" + file + "/shares/shr_01m91aj79d3xnnj8x3cxvch8x3", key: admin, want: 404},
		{method: "GET", path: "/files/shared/" + share.Token, headers: password, want: 404},
	} {
		do(c)
	}
	require.NoError(t, json.Unmarshal(do(contractCall{method: "POST", path: "/files/files/" + file + "/shares", key: admin,
		body: `{"max_downloads":1}`, want: 201}), &share))
	do(contractCall{method: "GET", path: "/files/shared/" + share.Token, want: 200})
	do(contractCall{method: "GET", path: "/files/shared/" + share.Token, want: 410})

	// Two-step upload.
	block := "id,name\n1,a\n"
	upload := contractID(t, do(contractCall{method: "POST", path: "/files/uploads", key: admin,
		body: `{"name":"data.csv","size":` + jsonNumber(len(block)) + `}`, want: 201}))
	octet := map[string]string{"Content-Type": "application/octet-stream"}
	for _, c := range []contractCall{
		{method: "POST", path: "/files/uploads", key: admin, body: `{"name":"data.csv","size":0}`, want: 422},
		{method: "POST", path: "/files/uploads", key: admin, body: `{"name":"huge.bin","size":100000000000}`, want: 413},
		{method: "POST", path: "/files/uploads/" + upload + "/complete", key: admin, want: 409},
		{method: "PUT", path: "/files/uploads/" + upload + "/blocks/0", key: admin, headers: octet, body: "short", want: 422},
		{method: "PUT", path: "/files/uploads/" + upload + "/blocks/7", key: admin, headers: octet, body: block, want: 422},
		{method: "PUT", path: missingUpload + "/blocks/0", key: admin, headers: octet, body: block, want: 404},
		{method: "PUT", path: "/files/uploads/" + upload + "/blocks/0", key: admin, headers: octet, body: block, want: 204},
		{method: "POST", path: "/files/uploads/" + upload + "/complete", key: admin, want: 201},
		{method: "POST", path: "/files/uploads/" + upload + "/complete", key: admin, want: 404},
		{method: "DELETE", path: missingUpload, key: admin, want: 404},
	} {
		do(c)
	}
	abandoned := contractID(t, do(contractCall{method: "POST", path: "/files/uploads", key: admin, body: `{"name":"later.csv","size":3}`, want: 201}))
	do(contractCall{method: "DELETE", path: "/files/uploads/" + abandoned, key: admin, want: 204})

	// An upload session expires after FILES_UPLOAD_TTL.
	expiring := contractID(t, do(contractCall{method: "POST", path: "/files/uploads", key: admin, body: `{"name":"late.csv","size":3}`, want: 201}))
	p.advance(25 * time.Hour)
	do(contractCall{method: "PUT", path: "/files/uploads/" + expiring + "/blocks/0", key: admin, headers: octet, body: "abc", want: 410})

	// Deletion.
	for _, c := range []contractCall{
		{method: "DELETE", path: "/files/files/" + file, key: admin, want: 204},
		{method: "DELETE", path: "/files/files/" + file, key: admin, want: 404},
		{method: "DELETE", path: "/files/folders/" + folder, key: admin, want: 202},
		{method: "DELETE", path: missingFolder, key: admin, want: 404},
	} {
		do(c)
	}
}

func jsonNumber(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// webhookCalls sends the integrations plugin's contract requests against a
// loopback receiver: the platform must run with WEBHOOKS_ALLOW_LOOPBACK.
// The local runtime fans the test event out, so a delivery exists to read
// and redeliver.
func webhookCalls(t *testing.T, p *testPlatform, do func(contractCall) []byte, admin string) {
	t.Helper()
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	runLocalRuntime(t, p)

	const hooks = "/integrations/webhooks"
	const missing = hooks + "/whe_01m91aj79d3xnnj8x3cxvch8x3"
	once := map[string]string{"Idempotency-Key": "contract-webhook-1"}
	create := `{"url":"` + receiver.URL + `/hook","event_types":["webhook.test","file.*"],"description":"contract"}`
	endpoint := contractID(t, do(contractCall{method: "POST", path: hooks, key: admin, headers: once, body: create, want: 201}))
	do(contractCall{method: "POST", path: hooks, key: admin, headers: once, body: create, want: 201})
	ep := hooks + "/" + endpoint
	for _, c := range []contractCall{
		{method: "GET", path: "/integrations/events", key: admin, want: 200},
		{method: "POST", path: hooks, key: admin, body: `{"url":"https://10.0.0.1/hook","event_types":["*"]}`, want: 422},
		{method: "POST", path: hooks, key: admin, body: `{"url":"` + receiver.URL + `","event_types":["no.such_event"]}`, want: 422},
		{method: "POST", path: hooks, key: admin, body: `{"url":"` + receiver.URL + `","event_types":["*"],"secret":"x"}`, want: 400},
		{method: "GET", path: hooks + "?limit=1", key: admin, want: 200},
		{method: "GET", path: ep, key: admin, want: 200},
		{method: "GET", path: missing, key: admin, want: 404},
		{method: "PATCH", path: ep, key: admin, body: `{"description":"contract receiver"}`, want: 200},
		{method: "PATCH", path: ep, key: admin, body: `{"url":"ftp://example.com"}`, want: 422},
		{method: "PATCH", path: missing, key: admin, body: `{"description":"x"}`, want: 404},
		{method: "POST", path: ep + "/rotate-secret", key: admin, want: 200},
		{method: "POST", path: missing + "/rotate-secret", key: admin, want: 404},
		{method: "POST", path: ep + "/disable", key: admin, want: 200},
		{method: "POST", path: ep + "/test", key: admin, want: 409},
		{method: "POST", path: missing + "/disable", key: admin, want: 404},
		{method: "POST", path: ep + "/enable", key: admin, want: 200},
		{method: "POST", path: missing + "/enable", key: admin, want: 404},
		{method: "POST", path: ep + "/test", key: admin, want: 202},
		{method: "POST", path: missing + "/test", key: admin, want: 404},
		{method: "GET", path: ep + "/deliveries?status=lost", key: admin, want: 422},
		{method: "GET", path: missing + "/deliveries", key: admin, want: 404},
	} {
		do(c)
	}

	// Fan-out and delivery run in the background; wait for the delivery to
	// finish so the redelivery below is not refused as in flight. The
	// deadline only bounds a hang.
	var delivery string
	deadline := time.Now().Add(30 * time.Second)
	for delivery == "" && time.Now().Before(deadline) {
		res := p.do("GET", "/api"+ep+"/deliveries?status=succeeded", admin, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		if data := res.json(t)["data"].([]any); len(data) > 0 {
			delivery = data[0].(map[string]any)["id"].(string)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NotEmpty(t, delivery, "the test event was not delivered within 30s")
	missingDelivery := ep + "/deliveries/whd_01m91aj79d3xnnj8x3cxvch8x3"
	for _, c := range []contractCall{
		{method: "GET", path: ep + "/deliveries", key: admin, want: 200},
		{method: "GET", path: ep + "/deliveries/" + delivery, key: admin, want: 200},
		{method: "GET", path: missingDelivery, key: admin, want: 404},
		{method: "POST", path: ep + "/deliveries/" + delivery + "/redeliver", key: admin, want: 202},
		{method: "POST", path: missingDelivery + "/redeliver", key: admin, want: 404},
		{method: "DELETE", path: ep, key: admin, want: 204},
		{method: "DELETE", path: ep, key: admin, want: 404},
	} {
		do(c)
	}
}

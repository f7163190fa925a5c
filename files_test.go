package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/functions/files"
	"github.com/booga-enterprise/functions/infra/postgres"
)

func requireAzurite(t testing.TB) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:10000", time.Second)
	if err != nil {
		t.Fatalf("Azurite is not reachable on 127.0.0.1:10000 (%v); start it with: bash -c 'source scripts/lib/services.sh; ensure_azurite'", err)
	}
	_ = conn.Close()
}

func newFilesPlatform(t *testing.T, env map[string]string) *testPlatform {
	t.Helper()
	requireAzurite(t)
	return newTestPlatform(t, env)
}

// multipartBody builds an upload whose file part has the given raw
// Content-Disposition parameters, so tests can send names a normal client
// library would clean up first.
func multipartBody(t testing.TB, disposition string, content []byte, fields ...string) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(t, mw.WriteField(fields[i], fields[i+1]))
	}
	part, err := mw.CreatePart(textproto.MIMEHeader{"Content-Disposition": {`form-data; name="file"; ` + disposition},
		"Content-Type": {"image/png"}})
	require.NoError(t, err)
	_, err = part.Write(content)
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	return buf.String(), mw.FormDataContentType()
}

func (p *testPlatform) upload(key, name string, content []byte, fields ...string) response {
	p.t.Helper()
	body, ct := multipartBody(p.t, fmt.Sprintf(`filename*=UTF-8''%s`, encodeName(name)), content, fields...)
	return p.do("POST", "/api/files/files", key, body, "Content-Type", ct)
}

func encodeName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		fmt.Fprintf(&b, "%%%02X", name[i])
	}
	return b.String()
}

func TestFiles_RoundTripsUnusualNames(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, nil)
	acme := p.tenant("Acme")

	for _, name := range []string{`Résumé "final" v2.html`, "日本語 ファイル.md", "spaces  and 'single' quotes.txt"} {
		content := []byte("<html><body>content of " + name + "</body></html>")
		res := p.upload(acme.APIKey, name, content)
		require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
		f := res.json(t)
		require.Equal(t, name, f["name"])
		require.Equal(t, "processing", f["status"])
		require.Equal(t, "text/html; charset=utf-8", f["content_type"], "sniffed, not the declared image/png")
		sum := sha256.Sum256(content)
		require.Equal(t, fmt.Sprintf("%x", sum), f["sha256"])

		dl := p.do("GET", "/api/files/files/"+f["id"].(string)+"/content", acme.APIKey, nil)
		require.Equal(t, http.StatusOK, dl.Status, "body: %s", dl.Body)
		require.Equal(t, content, dl.Body)
		require.Equal(t, "text/html; charset=utf-8", dl.Header.Get("Content-Type"))
		require.Equal(t, fmt.Sprint(len(content)), dl.Header.Get("Content-Length"))
		require.Equal(t, "nosniff", dl.Header.Get("X-Content-Type-Options"))
		require.NotEmpty(t, dl.Header.Get("ETag"))
		require.NotEmpty(t, dl.Header.Get("Last-Modified"))
		disposition, params, err := mime.ParseMediaType(dl.Header.Get("Content-Disposition"))
		require.NoError(t, err)
		require.Equal(t, "attachment", disposition)
		require.Equal(t, name, params["filename"])
	}
}

func TestFiles_RangeAndConditionalRequests(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, nil)
	acme := p.tenant("Acme")
	content := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	res := p.upload(acme.APIKey, "alphabet.txt", content)
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	path := "/api/files/files/" + res.json(t)["id"].(string) + "/content"
	full := p.do("GET", path, acme.APIKey, nil)
	etag, lastModified := full.Header.Get("ETag"), full.Header.Get("Last-Modified")

	t.Run("Head", func(t *testing.T) {
		r := p.do("HEAD", path, acme.APIKey, nil)
		require.Equal(t, http.StatusOK, r.Status)
		require.Empty(t, r.Body)
		require.Equal(t, "36", r.Header.Get("Content-Length"))
		require.Equal(t, etag, r.Header.Get("ETag"))
		require.Equal(t, "bytes", r.Header.Get("Accept-Ranges"))
	})
	t.Run("SingleRange", func(t *testing.T) {
		r := p.do("GET", path, acme.APIKey, nil, "Range", "bytes=10-15")
		require.Equal(t, http.StatusPartialContent, r.Status)
		require.Equal(t, "abcdef", string(r.Body))
		require.Equal(t, "bytes 10-15/36", r.Header.Get("Content-Range"))
		require.Equal(t, "6", r.Header.Get("Content-Length"))
	})
	t.Run("SuffixRange", func(t *testing.T) {
		r := p.do("GET", path, acme.APIKey, nil, "Range", "bytes=-3")
		require.Equal(t, http.StatusPartialContent, r.Status)
		require.Equal(t, "xyz", string(r.Body))
	})
	t.Run("MultipleRanges", func(t *testing.T) {
		r := p.do("GET", path, acme.APIKey, nil, "Range", "bytes=0-1,34-35")
		require.Equal(t, http.StatusPartialContent, r.Status)
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		require.NoError(t, err)
		require.Equal(t, "multipart/byteranges", mt)
		mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
		var parts []string
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			b, _ := io.ReadAll(part)
			parts = append(parts, string(b))
		}
		require.Equal(t, []string{"01", "yz"}, parts)
	})
	t.Run("UnsatisfiableRange", func(t *testing.T) {
		r := p.do("GET", path, acme.APIKey, nil, "Range", "bytes=100-200")
		require.Equal(t, http.StatusRequestedRangeNotSatisfiable, r.Status)
		require.Equal(t, "bytes */36", r.Header.Get("Content-Range"))
	})
	t.Run("IfNoneMatch", func(t *testing.T) {
		r := p.do("GET", path, acme.APIKey, nil, "If-None-Match", etag)
		require.Equal(t, http.StatusNotModified, r.Status)
		require.Empty(t, r.Body)
	})
	t.Run("IfModifiedSince", func(t *testing.T) {
		r := p.do("GET", path, acme.APIKey, nil, "If-Modified-Since", lastModified)
		require.Equal(t, http.StatusNotModified, r.Status)
	})
	t.Run("IfMatchMismatch", func(t *testing.T) {
		r := p.do("GET", path, acme.APIKey, nil, "If-Match", `"other"`)
		require.Equal(t, http.StatusPreconditionFailed, r.Status)
	})
	t.Run("IfRangeStale", func(t *testing.T) {
		r := p.do("GET", path, acme.APIKey, nil, "Range", "bytes=0-3", "If-Range", `"stale"`)
		require.Equal(t, http.StatusOK, r.Status, "a stale If-Range gets the whole file")
		require.Equal(t, content, r.Body)
	})
	t.Run("IfRangeCurrent", func(t *testing.T) {
		r := p.do("GET", path, acme.APIKey, nil, "Range", "bytes=0-3", "If-Range", etag)
		require.Equal(t, http.StatusPartialContent, r.Status)
		require.Equal(t, "0123", string(r.Body))
	})
}

func TestFiles_RejectsUnsafeNamesWithoutOrphans(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, map[string]string{"FILES_MAX_FILE_BYTES": "1000"})
	acme := p.tenant("Acme")

	for _, tc := range []struct {
		name, disposition, field string
		fields                   []string
	}{
		{"Traversal", `filename="../../etc/passwd"`, "filename", nil},
		{"Backslash", `filename*=UTF-8''..%5Cboot.ini`, "filename", nil},
		{"HeaderInjection", `filename*=UTF-8''a%0D%0AX-Injected%3A%201.txt`, "filename", nil},
		{"NulByte", `filename*=UTF-8''a%00.txt`, "filename", nil},
		{"EmptyName", `filename=""`, "filename", nil},
		{"NameFieldInjection", `filename="ok.txt"`, "name", []string{"name", "x\r\nSet-Cookie: a=b"}},
		{"UnknownFolder", `filename="ok.txt"`, "folder_id", []string{"folder_id", "fld_missing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := multipartBody(t, tc.disposition, []byte("data"), tc.fields...)
			res := p.do("POST", "/api/files/files", acme.APIKey, body, "Content-Type", ct)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
			require.Equal(t, tc.field, res.problemField(t))
		})
	}

	t.Run("TooLarge", func(t *testing.T) {
		res := p.upload(acme.APIKey, "big.bin", bytes.Repeat([]byte("x"), 1001))
		require.Equal(t, http.StatusRequestEntityTooLarge, res.Status, "body: %s", res.Body)
	})
	t.Run("NotMultipart", func(t *testing.T) {
		res := p.do("POST", "/api/files/files", acme.APIKey, `{"name":"x"}`)
		require.Equal(t, http.StatusUnsupportedMediaType, res.Status)
	})

	rows := countTenantRows(t, p, acme.ID, `SELECT count(*) FROM files`)
	require.Zero(t, rows, "no metadata is left behind")
	require.Empty(t, tenantBlobs(t, p, acme.ID), "no blob is left behind")
}

func countTenantRows(t *testing.T, p *testPlatform, tenantID, query string, args ...any) int {
	t.Helper()
	var n int
	err := postgres.InTenant(context.Background(), p.app.pool, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), query, args...).Scan(&n)
	})
	require.NoError(t, err)
	return n
}

func tenantBlobs(t *testing.T, p *testPlatform, tenantID string) []string {
	t.Helper()
	prefix := tenantID + "/"
	pager := p.app.files.Blob.ContainerClient(files.Container).NewListBlobsFlatPager(nil)
	var names []string
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		require.NoError(t, err)
		for _, b := range page.Segment.BlobItems {
			if strings.HasPrefix(*b.Name, prefix) {
				names = append(names, *b.Name)
			}
		}
	}
	return names
}

func TestFiles_OtherTenantNotFound(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, nil)
	acme, globex := p.tenant("Acme"), p.tenant("Globex")
	res := p.upload(acme.APIKey, "secret.txt", []byte("acme only"))
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	id := res.json(t)["id"].(string)

	for _, req := range []struct{ method, path, body string }{
		{"GET", "/api/files/files/" + id, ""},
		{"GET", "/api/files/files/" + id + "/content", ""},
		{"PATCH", "/api/files/files/" + id, `{"name":"mine.txt"}`},
		{"DELETE", "/api/files/files/" + id, ""},
		{"POST", "/api/files/files/" + id + "/shares", `{}`},
	} {
		var body any
		if req.body != "" {
			body = req.body
		}
		r := p.do(req.method, req.path, globex.APIKey, body)
		require.Equal(t, http.StatusNotFound, r.Status, "%s %s: %s", req.method, req.path, r.Body)
	}
	list := p.do("GET", "/api/files/files", globex.APIKey, nil)
	require.Equal(t, http.StatusOK, list.Status)
	require.Empty(t, list.json(t)["data"])
	require.Equal(t, http.StatusOK, p.do("GET", "/api/files/files/"+id, acme.APIKey, nil).Status)
}

func TestFiles_ShareLinks(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, nil)
	acme := p.tenant("Acme")
	content := []byte("shared content")
	res := p.upload(acme.APIKey, "shared.txt", content)
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	id := res.json(t)["id"].(string)

	share := func(body string) (string, string) {
		t.Helper()
		r := p.do("POST", "/api/files/files/"+id+"/shares", acme.APIKey, body)
		require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
		m := r.json(t)
		require.Len(t, m["token"], 43, "256 bits in base64url")
		return m["url"].(string), m["id"].(string)
	}

	t.Run("PasswordAndCount", func(t *testing.T) {
		url, _ := share(`{"password":"correct horse","max_downloads":2}`)
		require.Equal(t, http.StatusUnauthorized, p.do("GET", url, "", nil).Status)
		require.Equal(t, http.StatusUnauthorized, p.do("GET", url, "", nil, files.PasswordHeader, "wrong").Status)
		for i := 0; i < 2; i++ {
			r := p.do("GET", url, "", nil, files.PasswordHeader, "correct horse")
			require.Equal(t, http.StatusOK, r.Status, "download %d: %s", i+1, r.Body)
			require.Equal(t, content, r.Body)
		}
		r := p.do("GET", url, "", nil, files.PasswordHeader, "correct horse")
		require.Equal(t, http.StatusGone, r.Status)
		require.Contains(t, r.json(t)["detail"], "download limit")
	})
	t.Run("Expiry", func(t *testing.T) {
		expires := p.clock().Add(time.Hour).Format(time.RFC3339)
		url, _ := share(`{"expires_at":"` + expires + `"}`)
		require.Equal(t, http.StatusOK, p.do("GET", url, "", nil).Status)
		p.advance(2 * time.Hour)
		r := p.do("GET", url, "", nil)
		require.Equal(t, http.StatusGone, r.Status)
		require.Contains(t, r.json(t)["detail"], "expired")
	})
	t.Run("Revocation", func(t *testing.T) {
		url, shareID := share(`{}`)
		require.Equal(t, http.StatusPartialContent, p.do("GET", url, "", nil, "Range", "bytes=0-5").Status)
		require.Equal(t, http.StatusNoContent, p.do("DELETE", "/api/files/files/"+id+"/shares/"+shareID, acme.APIKey, nil).Status)
		require.Equal(t, http.StatusNotFound, p.do("GET", url, "", nil).Status)
	})
	t.Run("WrongToken", func(t *testing.T) {
		url, _ := share(`{}`)
		unknown := url[:len(url)-4] + "AAAA"
		for _, u := range []string{unknown, "/api/files/shared/short", "/api/files/shared/" + strings.Repeat("A", 43)} {
			r := p.do("GET", u, "", nil)
			require.Equal(t, http.StatusNotFound, r.Status, u)
			require.Equal(t, "No share link matches this URL.", r.json(t)["detail"])
		}
	})
	t.Run("RangeThroughLink", func(t *testing.T) {
		url, _ := share(`{}`)
		r := p.do("GET", url, "", nil, "Range", "bytes=7-13")
		require.Equal(t, http.StatusPartialContent, r.Status)
		require.Equal(t, "content", string(r.Body))
	})
	t.Run("InvalidRequest", func(t *testing.T) {
		r := p.do("POST", "/api/files/files/"+id+"/shares", acme.APIKey, `{"max_downloads":0}`)
		require.Equal(t, http.StatusUnprocessableEntity, r.Status)
		require.Equal(t, "max_downloads", r.problemField(t))
	})
}

func TestFiles_DeletedFileLinksStop(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, nil)
	acme := p.tenant("Acme")
	res := p.upload(acme.APIKey, "gone.txt", []byte("soon gone"))
	require.Equal(t, http.StatusCreated, res.Status)
	id := res.json(t)["id"].(string)
	r := p.do("POST", "/api/files/files/"+id+"/shares", acme.APIKey, `{}`)
	url := r.json(t)["url"].(string)

	require.Equal(t, http.StatusNoContent, p.do("DELETE", "/api/files/files/"+id, acme.APIKey, nil).Status)
	require.Equal(t, http.StatusNotFound, p.do("GET", url, "", nil).Status)
	require.Equal(t, http.StatusNotFound, p.do("GET", "/api/files/files/"+id, acme.APIKey, nil).Status)
	require.Equal(t, 1, countTenantRows(t, p, acme.ID, `SELECT count(*) FROM events WHERE type = 'file.deleted' AND data->>'file_id' = $1`, id))

	p.advance(p.app.cfg.FilesDeletedRetention + time.Minute)
	out, err := p.app.files.Cleanup(context.Background())
	require.NoError(t, err)
	require.GreaterOrEqual(t, out.DeletedFiles, 1)
	require.Zero(t, countTenantRows(t, p, acme.ID, `SELECT count(*) FROM files WHERE id = $1`, id))
	require.Empty(t, tenantBlobs(t, p, acme.ID))
}

func TestFiles_TwoStepUpload(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, nil)
	acme := p.tenant("Acme")
	content := make([]byte, files.UploadBlockSize+1000)
	rng := rand.NewChaCha8([32]byte{1})
	_, _ = rng.Read(content)

	res := p.do("POST", "/api/files/uploads", acme.APIKey, map[string]any{"name": "big.bin", "size": len(content)})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	session := res.json(t)
	require.EqualValues(t, 2, session["block_count"])
	blockURL := strings.Replace(session["block_url"].(string), "{index}", "%d", 1)
	complete := "/api/files/uploads/" + session["id"].(string) + "/complete"

	short := p.do("PUT", fmt.Sprintf(blockURL, 1), acme.APIKey, "too short", "Content-Type", "application/octet-stream")
	require.Equal(t, http.StatusUnprocessableEntity, short.Status)
	require.Equal(t, "Content-Length", short.problemField(t))

	put := p.do("PUT", fmt.Sprintf(blockURL, 1), acme.APIKey, string(content[files.UploadBlockSize:]), "Content-Type", "application/octet-stream")
	require.Equal(t, http.StatusNoContent, put.Status, "body: %s", put.Body)
	missing := p.do("POST", complete, acme.APIKey, nil)
	require.Equal(t, http.StatusConflict, missing.Status)
	require.Contains(t, missing.json(t)["detail"], "[0]")

	put = p.do("PUT", fmt.Sprintf(blockURL, 0), acme.APIKey, string(content[:files.UploadBlockSize]), "Content-Type", "application/octet-stream")
	require.Equal(t, http.StatusNoContent, put.Status, "body: %s", put.Body)
	done := p.do("POST", complete, acme.APIKey, nil)
	require.Equal(t, http.StatusCreated, done.Status, "body: %s", done.Body)
	f := done.json(t)
	require.EqualValues(t, len(content), f["size"])

	dl := p.do("GET", "/api/files/files/"+f["id"].(string)+"/content", acme.APIKey, nil)
	require.Equal(t, http.StatusOK, dl.Status)
	require.True(t, bytes.Equal(content, dl.Body), "downloaded bytes equal the uploaded ones")
	require.Equal(t, http.StatusNotFound, p.do("POST", complete, acme.APIKey, nil).Status, "the session is gone")
}

// TestFiles_UploadStreamsToStorage shows that an upload reaches Blob Storage
// while the request body is still arriving: blocks are staged before the
// client has sent the end of the body, so the file is never held whole in
// memory.
func TestFiles_UploadStreamsToStorage(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, nil)
	acme := p.tenant("Acme")

	const chunk = 1 << 20
	const total = 24 * chunk
	rng := rand.NewChaCha8([32]byte{2})
	hash := sha256.New()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	resume := make(chan struct{})
	go func() {
		part, _ := mw.CreateFormFile("file", "stream.bin")
		buf := make([]byte, chunk)
		for sent := 0; sent < total; sent += chunk {
			if sent == total/2 {
				<-resume
			}
			_, _ = rng.Read(buf)
			hash.Write(buf)
			if _, err := part.Write(buf); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		_ = mw.Close()
		_ = pw.Close()
	}()

	req, err := http.NewRequest("POST", p.srv.URL+"/api/files/files", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+acme.APIKey)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	type result struct {
		res *http.Response
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		done <- result{res, err}
	}()

	// Wait until storage holds staged blocks of the half-sent upload.
	var fileID string
	deadline := time.Now().Add(60 * time.Second)
	for staged := 0; staged == 0; {
		require.True(t, time.Now().Before(deadline), "no block reached storage while the body was half sent")
		time.Sleep(50 * time.Millisecond)
		if fileID == "" {
			_ = postgres.InTenant(context.Background(), p.app.pool, acme.ID, func(tx pgx.Tx) error {
				return tx.QueryRow(context.Background(), `SELECT id FROM files WHERE status = 'uploading'`).Scan(&fileID)
			})
			continue
		}
		blocks, err := p.app.files.Blob.UncommittedBlocks(context.Background(), files.Container, files.BlobName(acme.ID, fileID))
		require.NoError(t, err)
		staged = len(blocks)
	}
	close(resume)

	out := <-done
	require.NoError(t, out.err)
	defer out.res.Body.Close()
	body, _ := io.ReadAll(out.res.Body)
	require.Equal(t, http.StatusCreated, out.res.StatusCode, "body: %s", body)
	var f map[string]any
	require.NoError(t, json.Unmarshal(body, &f))
	require.Equal(t, fileID, f["id"])
	require.EqualValues(t, total, f["size"])
	require.Equal(t, fmt.Sprintf("%x", hash.Sum(nil)), f["sha256"])
}

func TestFiles_FoldersBrowseAndSearch(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, nil)
	acme := p.tenant("Acme")

	mk := func(name, parent string) string {
		t.Helper()
		body := map[string]any{"name": name}
		if parent != "" {
			body["parent_id"] = parent
		}
		r := p.do("POST", "/api/files/folders", acme.APIKey, body)
		require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
		return r.json(t)["id"].(string)
	}
	reports := mk("reports", "")
	y2026 := mk("2026", reports)
	archive := mk("archive", "")
	require.Equal(t, http.StatusConflict, p.do("POST", "/api/files/folders", acme.APIKey, map[string]any{"name": "reports"}).Status)

	for i, name := range []string{"b-report.txt", "a-report.txt", "c-notes.md"} {
		r := p.upload(acme.APIKey, name, bytes.Repeat([]byte("x"), i+1), "folder_id", y2026)
		require.Equal(t, http.StatusCreated, r.Status, "body: %s", r.Body)
		require.Equal(t, "/reports/2026", r.json(t)["folder_path"])
	}
	require.Equal(t, http.StatusCreated, p.upload(acme.APIKey, "root.txt", []byte("r")).Status)

	names := func(path string) []string {
		t.Helper()
		r := p.do("GET", path, acme.APIKey, nil)
		require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
		var out []string
		for _, f := range r.json(t)["data"].([]any) {
			out = append(out, f.(map[string]any)["name"].(string))
		}
		return out
	}
	require.Equal(t, []string{"a-report.txt", "b-report.txt", "c-notes.md"}, names("/api/files/files?folder_id="+y2026))
	require.Equal(t, []string{"c-notes.md", "a-report.txt", "b-report.txt"}, names("/api/files/files?folder_id="+y2026+"&sort=-size"))
	require.Equal(t, []string{"root.txt"}, names("/api/files/files?folder_id=root"))
	require.Equal(t, []string{"a-report.txt", "b-report.txt"}, names("/api/files/files?q=REPORT"))
	require.Equal(t, []string{"c-notes.md"}, names("/api/files/files?type=text/markdown"))
	require.Empty(t, names("/api/files/files?q=%25"), "a % in the search matches literally")

	page1 := p.do("GET", "/api/files/files?limit=2&sort=name", acme.APIKey, nil).json(t)
	require.Equal(t, true, page1["has_more"])
	page2 := p.do("GET", "/api/files/files?limit=2&sort=name&cursor="+page1["next_cursor"].(string), acme.APIKey, nil).json(t)
	require.Len(t, page2["data"], 2)
	require.Equal(t, "c-notes.md", page2["data"].([]any)[0].(map[string]any)["name"])
	bad := p.do("GET", "/api/files/files?limit=2&sort=size&cursor="+page1["next_cursor"].(string), acme.APIKey, nil)
	require.Equal(t, http.StatusBadRequest, bad.Status, "a cursor only works with its own sort")

	// Move reports under archive: every path below it follows.
	r := p.do("PATCH", "/api/files/folders/"+reports, acme.APIKey, map[string]any{"parent_id": archive, "name": "old reports"})
	require.Equal(t, http.StatusOK, r.Status, "body: %s", r.Body)
	require.Equal(t, "/archive/old reports", r.json(t)["path"])
	require.Equal(t, "/archive/old reports/2026", p.do("GET", "/api/files/folders/"+y2026, acme.APIKey, nil).json(t)["path"])
	cycle := p.do("PATCH", "/api/files/folders/"+archive, acme.APIKey, map[string]any{"parent_id": y2026})
	require.Equal(t, http.StatusUnprocessableEntity, cycle.Status)
	require.Equal(t, "parent_id", cycle.problemField(t))

	// Delete archive recursively through the background job.
	del := p.do("DELETE", "/api/files/folders/"+archive, acme.APIKey, nil)
	require.Equal(t, http.StatusAccepted, del.Status, "body: %s", del.Body)
	require.Equal(t, http.StatusNotFound, p.do("GET", "/api/files/folders/"+y2026, acme.APIKey, nil).Status)
	invokeQueued(t, p, "delete-"+archive)
	require.Equal(t, []string{"root.txt"}, names("/api/files/files"))
	require.Equal(t, 3, countTenantRows(t, p, acme.ID, `SELECT count(*) FROM events WHERE type = 'file.deleted'`))
	require.Zero(t, countTenantRows(t, p, acme.ID, `SELECT count(*) FROM file_folders`))
}

// invokeQueued posts the queued file-processing message with messageID to
// the handler the way the Functions host does.
func invokeQueued(t *testing.T, p *testPlatform, messageID string) map[string]any {
	t.Helper()
	var body []byte
	err := p.app.pool.QueryRow(context.Background(),
		`SELECT body FROM queue_messages WHERE queue = $1 AND message_id = $2`, files.ProcessingQueue, messageID).Scan(&body)
	require.NoError(t, err)
	payload := map[string]any{
		"Data": map[string]any{"message": string(body)},
		"Metadata": map[string]any{"MessageId": `"` + messageID + `"`, "DeliveryCount": "1",
			"sys": map[string]any{"MethodName": "file-processing", "UtcNow": "2026-06-01T12:00:00Z", "RandGuid": "5f1c7a8e-3b2d-4e6f-9a0b-1c2d3e4f5a6b"}},
	}
	raw, err := json.Marshal(payload)
	require.NoError(t, err)
	res, err := http.Post(p.srv.URL+"/file-processing", "application/json", bytes.NewReader(raw))
	require.NoError(t, err)
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", out)
	var m map[string]any
	require.NoError(t, json.Unmarshal(out, &m))
	return m
}

func TestFiles_ProcessingThroughQueue(t *testing.T) {
	t.Parallel()
	p := newFilesPlatform(t, nil)
	acme := p.tenant("Acme")
	res := p.upload(acme.APIKey, "notes.md", []byte("# Plan\n\nShip the files plugin.\n"), "embed", "true")
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	id := res.json(t)["id"].(string)
	require.Equal(t, http.StatusNotFound, p.do("GET", "/api/files/files/"+id+"/text", acme.APIKey, nil).Status)

	invokeQueued(t, p, "process-"+id)
	f := p.do("GET", "/api/files/files/"+id, acme.APIKey, nil).json(t)
	require.Equal(t, "ready", f["status"])
	require.Equal(t, true, f["embed"])
	text := p.do("GET", "/api/files/files/"+id+"/text", acme.APIKey, nil)
	require.Equal(t, http.StatusOK, text.Status)
	require.Contains(t, text.json(t)["text"], "Ship the files plugin.")
	require.Equal(t, 1, countTenantRows(t, p, acme.ID, `SELECT count(*) FROM events WHERE type = 'file.uploaded' AND data->>'file_id' = $1`, id))
	require.Equal(t, 1, countTenantRows(t, p, acme.ID, `SELECT count(*) FROM events WHERE type = 'file.processed' AND data->>'file_id' = $1`, id))
}

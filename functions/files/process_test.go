package files

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/booga-enterprise/functions/infra/blob"
	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/infra/postgres/pgtest"
	"github.com/booga-enterprise/functions/shared/ids"
)

// newTestService returns a Service on its own database and the local
// Azurite, with one tenant.
func newTestService(t *testing.T) (*Service, string) {
	t.Helper()
	requireAzurite(t)
	pool, dbURL := pgtest.NewPool(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer admin.Close(ctx)
	tenantID := ids.New("ten")
	_, err = admin.Exec(ctx, `INSERT INTO tenants (id, name, type, rate_limit_per_minute, rate_limit_per_hour) VALUES ($1, 'Acme', 'corporate', 600, 20000)`, tenantID)
	require.NoError(t, err)

	client, err := blob.Open(blob.Options{Local: true})
	require.NoError(t, err)
	s := &Service{Pool: pool, Blob: client, MaxFileBytes: 1 << 30, TenantQuota: 1 << 32,
		DeletedRetention: time.Hour, UploadTTL: time.Hour, PasswordIterations: 1000, CreateContainers: true}
	require.NoError(t, s.storage(ctx))
	return s, tenantID
}

func requireAzurite(t *testing.T) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:10000", time.Second)
	if err != nil {
		t.Fatalf("Azurite is not reachable on 127.0.0.1:10000 (%v); start it with: bash -c 'source scripts/lib/services.sh; ensure_azurite'", err)
	}
	_ = conn.Close()
}

// storeProcessing writes content as a blob and a file row in status processing.
func storeProcessing(t *testing.T, s *Service, tenantID, name string, content []byte) string {
	t.Helper()
	ctx := context.Background()
	id := ids.New("fil")
	_, err := s.Blob.UploadStream(ctx, Container, BlobName(tenantID, id), bytes.NewReader(content), "application/octet-stream")
	require.NoError(t, err)
	err = postgres.InTenant(ctx, s.Pool, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO files (id, tenant_id, name, size, content_type, status, uploaded_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, 'application/octet-stream', 'processing', 'key_test', now(), now())`, id, tenantID, name, len(content))
		return err
	})
	require.NoError(t, err)
	return id
}

type fileState struct {
	Status, Reason, ContentType string
	SHA256                      *string
	Text                        *string
	Events                      int
}

func loadState(t *testing.T, s *Service, tenantID, id string) fileState {
	t.Helper()
	ctx := context.Background()
	var st fileState
	err := postgres.InTenant(ctx, s.Pool, tenantID, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT status, status_reason, content_type, sha256 FROM files WHERE id = $1`, id).
			Scan(&st.Status, &st.Reason, &st.ContentType, &st.SHA256); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT text FROM file_texts WHERE file_id = $1`, id).Scan(&st.Text)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM events WHERE type = 'file.processed' AND data->>'file_id' = $1`, id).Scan(&st.Events)
	})
	require.NoError(t, err)
	return st
}

func TestService_ProcessCrashLeavesFileRetryable(t *testing.T) {
	t.Parallel()
	s, tenantID := newTestService(t)
	id := storeProcessing(t, s, tenantID, "notes.md", []byte("# Title\n\nSome *markdown* text.\n"))

	s.beforeProcessCommit = func(string) error { return errors.New("simulated crash before commit") }
	_, err := s.Process(context.Background(), tenantID, id)
	require.Error(t, err)
	st := loadState(t, s, tenantID, id)
	require.Equal(t, StatusProcessing, st.Status, "the file stays retryable")
	require.Nil(t, st.SHA256, "no checksum is half-written")
	require.Nil(t, st.Text, "no text is half-written")
	require.Zero(t, st.Events, "no event for an uncommitted result")

	s.beforeProcessCommit = func(string) error { panic("simulated crash") }
	require.Panics(t, func() { _, _ = s.Process(context.Background(), tenantID, id) })
	require.Equal(t, StatusProcessing, loadState(t, s, tenantID, id).Status)

	s.beforeProcessCommit = nil
	status, err := s.Process(context.Background(), tenantID, id)
	require.NoError(t, err)
	require.Equal(t, StatusReady, status)
	st = loadState(t, s, tenantID, id)
	require.Equal(t, StatusReady, st.Status)
	require.Equal(t, "text/markdown; charset=utf-8", st.ContentType)
	require.NotNil(t, st.SHA256)
	require.Len(t, *st.SHA256, 64)
	require.NotNil(t, st.Text)
	require.Contains(t, *st.Text, "Some *markdown* text.")
	require.Equal(t, 1, st.Events)

	status, err = s.Process(context.Background(), tenantID, id)
	require.NoError(t, err, "a redelivered message is a no-op")
	require.Equal(t, StatusReady, status)
	require.Equal(t, 1, loadState(t, s, tenantID, id).Events, "no second file.processed event")
}

func TestService_ProcessExtractsText(t *testing.T) {
	t.Parallel()
	s, tenantID := newTestService(t)
	cases := []struct {
		name, content, wantType, wantText string
		notText                           string
	}{
		{name: "a.txt", content: "plain words here", wantType: "text/plain; charset=utf-8", wantText: "plain words here"},
		{name: "b.csv", content: "city,people\nOslo,700000\n", wantType: "text/csv; charset=utf-8", wantText: "Oslo,700000"},
		{name: "c.json", content: `{"greeting":"hello json"}`, wantType: "application/json", wantText: "hello json"},
		{name: "d.html", content: "<html><head><style>p{color:red}</style><script>var secret=1</script></head><body><h1>Heading</h1><p>Body text</p></body></html>",
			wantType: "text/html; charset=utf-8", wantText: "Body text", notText: "secret"},
		{name: "e.pdf", content: string(minimalPDF("Hello from PDF")), wantType: "application/pdf", wantText: "Hello from PDF"},
	}
	for _, tc := range cases {
		t.Run(strings.ToUpper(tc.name[:1])+tc.name[1:], func(t *testing.T) {
			id := storeProcessing(t, s, tenantID, tc.name, []byte(tc.content))
			status, err := s.Process(context.Background(), tenantID, id)
			require.NoError(t, err)
			st := loadState(t, s, tenantID, id)
			require.Equal(t, StatusReady, status, "reason: %s", st.Reason)
			require.Equal(t, tc.wantType, st.ContentType)
			require.NotNil(t, st.Text)
			require.Contains(t, *st.Text, tc.wantText)
			if tc.notText != "" {
				require.NotContains(t, *st.Text, tc.notText)
			}
		})
	}
}

func TestService_ProcessCorruptPDFFails(t *testing.T) {
	t.Parallel()
	s, tenantID := newTestService(t)
	id := storeProcessing(t, s, tenantID, "broken.pdf", []byte("%PDF-1.4\nthis is not a real PDF body\n"))
	status, err := s.Process(context.Background(), tenantID, id)
	require.NoError(t, err)
	require.Equal(t, StatusFailed, status)
	st := loadState(t, s, tenantID, id)
	require.Contains(t, st.Reason, "PDF")
	require.Equal(t, 1, st.Events, "a failed result is reported too")
}

func TestService_ProcessLastDeliveryMarksFailed(t *testing.T) {
	t.Parallel()
	s, tenantID := newTestService(t)
	id := storeProcessing(t, s, tenantID, "x.txt", []byte("text"))
	s.beforeProcessCommit = func(string) error { return errors.New("storage keeps failing") }
	body := []byte(fmt.Sprintf(`{"kind":"process","tenant_id":%q,"file_id":%q}`, tenantID, id))

	_, err := s.HandleJob(context.Background(), body, 1)
	require.Error(t, err, "an early delivery fails so the message is retried")
	require.Equal(t, StatusProcessing, loadState(t, s, tenantID, id).Status)

	res, err := s.HandleJob(context.Background(), body, 10)
	require.NoError(t, err)
	require.Equal(t, StatusFailed, res.Status)
	st := loadState(t, s, tenantID, id)
	require.Equal(t, StatusFailed, st.Status)
	require.Contains(t, st.Reason, "after 10 attempts")
}

// minimalPDF builds a one-page PDF showing text in Helvetica, with a correct
// cross-reference table.
func minimalPDF(text string) []byte {
	stream := fmt.Sprintf("BT /F1 24 Tf 72 700 Td (%s) Tj ET", text)
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

package files

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/blob"
	"github.com/booga-enterprise/functions/shared/problem"
)

// download serves a file's content. It is a streaming route: the metadata is
// read in a short transaction of its own, then the blob is streamed without
// buffering and without a transaction open.
func (s *Service) download(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.storage(ctx); err != nil {
		return err
	}
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	var f File
	if err := s.inTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		f, err = getFile(ctx, tx, id, false)
		return err
	}); err != nil {
		return err
	}
	disposition, err := dispositionParam(r)
	if err != nil {
		return err
	}
	return s.serveFile(w, r, p.TenantID, f, disposition)
}

func dispositionParam(r *http.Request) (string, error) {
	switch d := r.URL.Query().Get("disposition"); d {
	case "", "attachment":
		return "attachment", nil
	case "inline":
		return "inline", nil
	default:
		return "", problem.Invalid(problem.FieldError{Field: "disposition", Code: "enum", Message: fmt.Sprintf("must be attachment or inline, got %q", d)})
	}
}

// serveFile writes the blob with http.ServeContent, which implements Range
// (single and multiple ranges), If-Range, If-Match, If-None-Match,
// If-Modified-Since and If-Unmodified-Since against the ETag and
// Last-Modified set here. Files are immutable, so the creation time is the
// modification time.
func (s *Service) serveFile(w http.ResponseWriter, r *http.Request, tenantID string, f File, disposition string) error {
	h := w.Header()
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Disposition", ContentDisposition(disposition, f.Name))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "private, no-cache")
	if disposition == "inline" {
		// An uploaded HTML or SVG file must not run script on our origin.
		h.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
	}
	if f.blobETag != "" {
		h.Set("ETag", `"`+f.blobETag+`"`)
	}

	content := &blobReadSeeker{ctx: r.Context(), blob: s.Blob, name: BlobName(tenantID, f.ID), size: f.Size}
	defer func() { _ = content.Close() }()
	http.ServeContent(&preconditionWriter{ResponseWriter: w, r: r}, r, "", f.CreatedAt, content)
	if content.err != nil && !errors.Is(content.err, context.Canceled) {
		// The status line is already sent; the client receives a short body.
		return fmt.Errorf("stream file %s: %w", f.ID, content.err)
	}
	return nil
}

// blobReadSeeker is an io.ReadSeeker over a blob that opens one ranged
// download from the current offset on the first Read after a Seek, so
// http.ServeContent can serve ranges without the file being buffered.
type blobReadSeeker struct {
	ctx  context.Context
	blob *blob.Client
	name string
	size int64

	off  int64
	body io.ReadCloser
	err  error
}

func (b *blobReadSeeker) Read(p []byte) (int, error) {
	if b.off >= b.size {
		return 0, io.EOF
	}
	if b.body == nil {
		body, err := b.blob.Download(b.ctx, Container, b.name, b.off, 0)
		if err != nil {
			b.err = err
			return 0, err
		}
		b.body = body
	}
	n, err := b.body.Read(p)
	b.off += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	if errors.Is(err, io.EOF) && b.off < b.size {
		b.err = io.ErrUnexpectedEOF
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *blobReadSeeker) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = b.off + offset
	case io.SeekEnd:
		abs = b.size + offset
	default:
		return 0, errors.New("blob seek: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("blob seek: negative position")
	}
	if abs != b.off && b.body != nil {
		_ = b.body.Close()
		b.body = nil
	}
	b.off = abs
	return abs, nil
}

func (b *blobReadSeeker) Close() error {
	if b.body != nil {
		return b.body.Close()
	}
	return nil
}

// preconditionWriter replaces the bare 412 that http.ServeContent sends for
// a failed If-Match or If-Unmodified-Since with a problem document, as the
// API documents for every error status.
type preconditionWriter struct {
	http.ResponseWriter
	r       *http.Request
	replied bool
}

func (w *preconditionWriter) WriteHeader(status int) {
	if status != http.StatusPreconditionFailed {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.replied = true
	for _, name := range []string{"Content-Type", "Content-Disposition", "Content-Security-Policy"} {
		w.Header().Del(name)
	}
	problem.Write(w.ResponseWriter, w.r, problem.New(problem.CodePrecondition,
		"The file does not match the request's If-Match or If-Unmodified-Since condition."))
}

func (w *preconditionWriter) Write(b []byte) (int, error) {
	if w.replied {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/queue"
)

// maxFieldBytes caps the small form fields that precede the file part.
const maxFieldBytes = 1024

// sniffBytes is how much http.DetectContentType reads.
const sniffBytes = 512

// errTooLarge is returned by limitReader past its limit.
var errTooLarge = errors.New("upload exceeds the size limit")

// UploadForm documents the multipart/form-data body of uploadFile for the
// OpenAPI document. The handler streams the parts in this order and never
// decodes a body into this type.
type UploadForm struct {
	Name     string `json:"name,omitempty" doc:"File name, one path segment; the file part's filename when absent." example:"report.csv"`
	FolderID string `json:"folder_id,omitempty" doc:"Target folder; absent or empty for the root."`
	Embed    bool   `json:"embed,omitempty" doc:"true to mark the file for the knowledge base."`
	File     []byte `json:"file" format:"binary" doc:"The content, as the last part."`
}

// uploadForm contains the form fields that precede the file part of a
// multipart upload.
type uploadForm struct {
	folderID *string
	embed    bool
	name     string // from the "name" field; the part's filename otherwise
}

// upload streams a multipart/form-data upload to Blob Storage: the form
// fields first, then the "file" part, which is never held in memory beyond
// the SDK's bounded block buffers.
//
// The file row is written first, committed, with status uploading, so a
// process that dies mid-stream leaves a row the clean-up timer finds and
// removes with its blob. A rejected or interrupted upload removes both at
// once.
func (s *Service) upload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.storage(ctx); err != nil {
		return err
	}
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return problem.New(problem.CodeUnsupportedMedia, "Content-Type must be multipart/form-data with a boundary, got %q.", r.Header.Get("Content-Type"))
	}

	form, part, err := readUploadForm(mr)
	if err != nil {
		return err
	}
	defer func() { _ = part.Close() }()

	var f File
	var limit int64
	err = s.inTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		folderID, err := resolveFolder(ctx, tx, "folder_id", form.folderID)
		if err != nil {
			return err
		}
		q, err := s.loadQuota(ctx, tx, p.TenantID)
		if err != nil {
			return err
		}
		limit = q.available()
		if limit <= 0 {
			return tooLarge(limit, q)
		}
		f, err = s.insertUploading(ctx, tx, p.TenantID, p.ID, folderID, form.name, form.embed, part.Header.Get("Content-Type"))
		return err
	})
	if err != nil {
		return err
	}

	stored, err := s.streamToBlob(ctx, p.TenantID, f, part, limit)
	if err != nil {
		s.discardUpload(ctx, p.TenantID, f.ID)
		return err
	}
	f, err = s.finishUpload(ctx, p.TenantID, f, stored)
	if err != nil {
		s.discardUpload(ctx, p.TenantID, f.ID)
		return err
	}
	w.Header().Set("Location", "/api/files/files/"+f.ID)
	httpx.WriteJSON(w, http.StatusCreated, f)
	return nil
}

// readUploadForm reads the optional name, folder_id and embed fields and
// returns the "file" part, positioned at its first byte.
func readUploadForm(mr *multipart.Reader) (uploadForm, *multipart.Part, error) {
	var form uploadForm
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return form, nil, problem.Invalid(problem.FieldError{Field: "file", Code: "required",
				Message: "the multipart body has no part named file; send the content as a part named file, after the other fields"})
		}
		if err != nil {
			return form, nil, problem.New(problem.CodeBadRequest, "The multipart body could not be read: %v.", err)
		}
		field := part.FormName()
		if field == "file" {
			if form.name == "" {
				// Part.FileName would strip directories silently; the raw
				// parameter is validated instead, so "../x" is rejected.
				_, params, _ := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
				form.name = params["filename"]
				if err := ValidateName("filename", form.name); err != nil {
					_ = part.Close()
					return form, nil, err
				}
			}
			return form, part, nil
		}
		raw, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		_ = part.Close()
		if err != nil {
			return form, nil, problem.New(problem.CodeBadRequest, "The multipart field %q could not be read: %v.", field, err)
		}
		if len(raw) > maxFieldBytes {
			return form, nil, problem.Invalid(problem.FieldError{Field: field, Code: "too_long", Message: fmt.Sprintf("must be at most %d bytes", maxFieldBytes)})
		}
		value := string(raw)
		switch field {
		case "name":
			if err := ValidateName("name", value); err != nil {
				return form, nil, err
			}
			form.name = value
		case "folder_id":
			form.folderID = &value
		case "embed":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return form, nil, problem.Invalid(problem.FieldError{Field: "embed", Code: "type", Message: fmt.Sprintf("must be true or false, got %q", value)})
			}
			form.embed = b
		default:
			return form, nil, problem.Invalid(problem.FieldError{Field: field, Code: "unknown",
				Message: "unknown multipart field; the fields are name, folder_id, embed and file"})
		}
	}
}

func (s *Service) insertUploading(ctx context.Context, tx pgx.Tx, tenantID, uploader string, folderID *string, name string, embed bool, declared string) (File, error) {
	now := s.now()
	f := File{ID: ids.New("fil"), Name: name, FolderID: folderID, Status: StatusUploading, Embed: embed,
		UploadedBy: uploader, CreatedAt: now, UpdatedAt: now, ContentType: "application/octet-stream"}
	_, err := tx.Exec(ctx, `
		INSERT INTO files (id, tenant_id, folder_id, name, content_type, declared_type, status, embed, uploaded_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`,
		f.ID, tenantID, folderID, name, f.ContentType, truncate(declared, 255), StatusUploading, embed, uploader, now)
	if postgres.IsUniqueViolation(err, "files_name_key") {
		return File{}, nameConflict(name)
	}
	if err != nil {
		return File{}, fmt.Errorf("insert uploading file: %w", err)
	}
	return f, nil
}

func nameConflict(name string) error {
	return &problem.Error{Code: problem.CodeConflict,
		Detail: fmt.Sprintf("A file named %q already exists in this folder. Choose another name or delete that file first.", name),
		Fields: []problem.FieldError{{Field: "name", Code: "conflict", Message: "already exists in this folder"}}}
}

// storedBlob is the result of streaming the content to a blob.
type storedBlob struct {
	size        int64
	sha256      string
	contentType string
	etag        string
}

// streamToBlob sniffs the first bytes, then streams everything through a
// SHA-256 hash and a size limit into the blob.
func (s *Service) streamToBlob(ctx context.Context, tenantID string, f File, body io.Reader, limit int64) (storedBlob, error) {
	head := make([]byte, sniffBytes)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return storedBlob{}, readProblem(err)
	}
	head = head[:n]
	contentType := SniffContentType(head, f.Name)

	h := sha256.New()
	lr := &limitReader{r: io.MultiReader(bytes.NewReader(head), body), limit: limit}
	up, err := s.Blob.UploadStream(ctx, Container, BlobName(tenantID, f.ID), io.TeeReader(lr, h), contentType)
	if err != nil {
		switch {
		case errors.Is(err, errTooLarge):
			return storedBlob{}, problem.New(problem.CodeTooLarge, "The file is larger than the %d bytes this tenant may still store in one file.", limit)
		case lr.readErr != nil:
			return storedBlob{}, readProblem(lr.readErr)
		}
		return storedBlob{}, problem.Wrap(err, "stream upload to blob")
	}
	return storedBlob{size: lr.n, sha256: hex.EncodeToString(h.Sum(nil)), contentType: contentType, etag: up.ETag}, nil
}

func readProblem(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return problem.New(problem.CodeBadRequest, "The upload was interrupted before the multipart body ended: %v. Nothing was stored; upload the file again.", err)
}

// finishUpload marks the file processing, checks the quota again under a
// lock (concurrent uploads of one tenant each saw the old total), emits
// file.uploaded and queues processing, all in one transaction.
func (s *Service) finishUpload(ctx context.Context, tenantID string, f File, b storedBlob) (File, error) {
	var out File
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if err := lockQuota(ctx, tx, tenantID); err != nil {
			return err
		}
		q, err := s.loadQuota(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		if q.UsedBytes+b.size > q.QuotaBytes {
			return tooLarge(q.QuotaBytes-q.UsedBytes, q)
		}
		_, err = tx.Exec(ctx, `
			UPDATE files SET status = $2, size = $3, sha256 = $4, content_type = $5, blob_etag = $6, updated_at = $7
			WHERE id = $1 AND status = 'uploading'`,
			f.ID, StatusProcessing, b.size, b.sha256, b.contentType, b.etag, s.now())
		if err != nil {
			return fmt.Errorf("mark file uploaded: %w", err)
		}
		out, err = getFile(ctx, tx, f.ID, false)
		if err != nil {
			return err
		}
		return s.announceUpload(ctx, tx, tenantID, out)
	})
	return out, err
}

// announceUpload emits file.uploaded and queues the processing message.
func (s *Service) announceUpload(ctx context.Context, tx pgx.Tx, tenantID string, f File) error {
	if _, err := events.Emit(ctx, tx, tenantID, EventUploaded, eventData(f)); err != nil {
		return err
	}
	body, err := json.Marshal(jobMessage{Kind: jobProcess, TenantID: tenantID, FileID: f.ID})
	if err != nil {
		return fmt.Errorf("encode processing message: %w", err)
	}
	if err := queue.PublishTx(ctx, tx, ProcessingQueue, queue.Message{ID: "process-" + f.ID, Body: body}); err != nil {
		return fmt.Errorf("queue processing of %s: %w", f.ID, err)
	}
	return nil
}

// discardUpload removes the blob and the row of an upload that failed. It
// runs after the request may have been canceled, so it does not use its
// context's cancellation; if it fails too, the clean-up timer retries.
func (s *Service) discardUpload(ctx context.Context, tenantID, fileID string) {
	ctx = context.WithoutCancel(ctx)
	if err := s.Blob.Delete(ctx, Container, BlobName(tenantID, fileID)); err != nil {
		s.logger().WarnContext(ctx, "delete blob of failed upload failed; the clean-up timer retries", "tenant_id", tenantID, "file_id", fileID, "error", err)
		return
	}
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM files WHERE id = $1 AND status = 'uploading'`, fileID)
		return err
	})
	if err != nil {
		s.logger().WarnContext(ctx, "delete row of failed upload failed; the clean-up timer retries", "tenant_id", tenantID, "file_id", fileID, "error", err)
	}
}

// eventData is the payload of file events.
func eventData(f File) events.FileData {
	return events.FileData{FileID: f.ID, Name: f.Name, FolderID: f.FolderID, Size: f.Size,
		ContentType: f.ContentType, SHA256: f.SHA256, Status: f.Status}
}

// limitReader counts bytes and fails with errTooLarge past limit. It keeps
// the source's own error so the caller can tell a client that went away from
// a storage failure.
type limitReader struct {
	r       io.Reader
	limit   int64
	n       int64
	readErr error
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.limit {
		return n, errTooLarge
	}
	if err != nil && !errors.Is(err, io.EOF) {
		l.readErr = err
	}
	return n, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

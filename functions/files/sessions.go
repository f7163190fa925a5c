package files

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// UploadBlockSize is the size of every block of a two-step upload except the
// last. The API holds one block in memory while it stages it, so this bounds
// the memory of each block request.
const UploadBlockSize = 8 << 20

// MaxUploadBlocks is Azure Blob Storage's limit on blocks per blob.
const MaxUploadBlocks = 50_000

// CreateUploadRequest opens a two-step upload.
type CreateUploadRequest struct {
	Name        string  `json:"name" doc:"File name; one path segment." example:"dataset.csv"`
	FolderID    *string `json:"folder_id,omitempty" doc:"Target folder; absent or empty for the root."`
	Size        int64   `json:"size" doc:"Exact size of the file in bytes." example:"12"`
	ContentType string  `json:"content_type,omitempty" doc:"The client's idea of the media type; recorded, but the stored type is sniffed from the content."`
	Embed       bool    `json:"embed,omitempty" doc:"Mark the file for the knowledge base."`
}

// UploadSession is an open two-step upload.
type UploadSession struct {
	ID         string    `json:"id" example:"ups_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	FileID     string    `json:"file_id" doc:"The id the file gets when the session completes."`
	Name       string    `json:"name"`
	FolderID   *string   `json:"folder_id"`
	Size       int64     `json:"size"`
	BlockSize  int64     `json:"block_size" doc:"Send blocks 0 to block_count-1 of exactly this size; only the last may be shorter."`
	BlockCount int64     `json:"block_count"`
	BlockURL   string    `json:"block_url" doc:"PUT each block here with {index} replaced by its number." example:"/api/files/uploads/ups_01jd8x3k6m4v0q9s7t2w5y8z1a/blocks/{index}"`
	ExpiresAt  time.Time `json:"expires_at"`
	CreatedAt  time.Time `json:"created_at"`

	tenantID    string
	declared    string
	sniffedType string
	embed       bool
}

func (u *UploadSession) blockLength(index int64) int64 {
	if index == u.BlockCount-1 {
		return u.Size - index*u.BlockSize
	}
	return u.BlockSize
}

func blockID(index int64) string {
	return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("block-%08d", index)))
}

func (s *Service) createUpload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	var req CreateUploadRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := ValidateName("name", req.Name); err != nil {
		return err
	}
	if req.Size < 1 {
		return problem.Invalid(problem.FieldError{Field: "size", Code: "range", Message: fmt.Sprintf("must be at least 1, got %d", req.Size)})
	}
	if blocks := (req.Size + UploadBlockSize - 1) / UploadBlockSize; blocks > MaxUploadBlocks {
		return problem.Invalid(problem.FieldError{Field: "size", Code: "range", Message: fmt.Sprintf("must be at most %d bytes", int64(MaxUploadBlocks)*UploadBlockSize)})
	}

	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	folderID, err := resolveFolder(ctx, tx, "folder_id", req.FolderID)
	if err != nil {
		return err
	}
	q, err := s.loadQuota(ctx, tx, p.TenantID)
	if err != nil {
		return err
	}
	if limit := q.available(); req.Size > limit {
		return tooLarge(limit, q)
	}
	var taken bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM files WHERE coalesce(folder_id, '') = coalesce($1, '') AND name = $2 AND status <> 'deleted')`,
		folderID, req.Name).Scan(&taken); err != nil {
		return fmt.Errorf("check file name: %w", err)
	}
	if taken {
		return nameConflict(req.Name)
	}

	now := s.now()
	u := UploadSession{ID: ids.New("ups"), FileID: ids.New("fil"), Name: req.Name, FolderID: folderID, Size: req.Size,
		BlockSize: UploadBlockSize, ExpiresAt: now.Add(s.UploadTTL), CreatedAt: now}
	u.BlockCount = (u.Size + u.BlockSize - 1) / u.BlockSize
	u.BlockURL = "/api/files/uploads/" + u.ID + "/blocks/{index}"
	_, err = tx.Exec(ctx, `
		INSERT INTO file_upload_sessions (id, tenant_id, file_id, folder_id, name, size, block_size, declared_type, embed, created_by, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		u.ID, p.TenantID, u.FileID, folderID, u.Name, u.Size, u.BlockSize, truncate(req.ContentType, 255), req.Embed, p.ID, now, u.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert upload session: %w", err)
	}
	httpx.WriteJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Service) loadSession(ctx context.Context, tx pgx.Tx, id string, forUpdate bool) (UploadSession, error) {
	q := `SELECT id, tenant_id, file_id, folder_id, name, size, block_size, declared_type, sniffed_type, embed, created_at, expires_at
		FROM file_upload_sessions WHERE id = $1`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	var u UploadSession
	err := tx.QueryRow(ctx, q, id).Scan(&u.ID, &u.tenantID, &u.FileID, &u.FolderID, &u.Name, &u.Size, &u.BlockSize,
		&u.declared, &u.sniffedType, &u.embed, &u.CreatedAt, &u.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, problem.NotFound("upload session", id)
	}
	if err != nil {
		return u, fmt.Errorf("load upload session %s: %w", id, err)
	}
	if !s.now().Before(u.ExpiresAt) {
		return u, problem.New(problem.CodeGone, "The upload session %s expired at %s. Start a new upload.", id, u.ExpiresAt.Format(time.RFC3339))
	}
	u.BlockCount = (u.Size + u.BlockSize - 1) / u.BlockSize
	u.BlockURL = "/api/files/uploads/" + u.ID + "/blocks/{index}"
	return u, nil
}

// putBlock stages one block, whose body must have exactly the block's length.
// The block is held in memory (at most UploadBlockSize bytes) because the
// SDK needs a seekable body to retry the request.
func (s *Service) putBlock(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.storage(ctx); err != nil {
		return err
	}
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	var u UploadSession
	if err := s.inTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		u, err = s.loadSession(ctx, tx, mux.Vars(r)["id"], false)
		return err
	}); err != nil {
		return err
	}

	raw := mux.Vars(r)["index"]
	index, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || index < 0 || index >= u.BlockCount {
		return problem.Invalid(problem.FieldError{Field: "index", Code: "range",
			Message: fmt.Sprintf("must be a whole number from 0 to %d, got %q", u.BlockCount-1, raw)})
	}
	want := u.blockLength(index)
	if r.ContentLength != want {
		return problem.Invalid(problem.FieldError{Field: "Content-Length", Code: "range",
			Message: fmt.Sprintf("block %d must be exactly %d bytes, got %d", index, want, r.ContentLength)})
	}

	buf := make([]byte, want)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return readProblem(err)
	}
	if err := s.Blob.StageBlock(ctx, Container, BlobName(p.TenantID, u.FileID), blockID(index), nopCloser{bytes.NewReader(buf)}); err != nil {
		return problem.Wrap(err, "stage block %d of upload %s", index, u.ID)
	}

	if index == 0 {
		sniffed := SniffContentType(buf[:min(len(buf), sniffBytes)], u.Name)
		if err := s.inTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE file_upload_sessions SET sniffed_type = $2 WHERE id = $1`, u.ID, sniffed)
			return err
		}); err != nil {
			return fmt.Errorf("record sniffed type: %w", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// completeUpload commits the staged blocks as the file's blob and creates the
// file row. The blob is committed first: if the transaction then fails, the
// session row still exists, a retry of complete finds the blob already
// committed, and an abandoned session's blob is deleted by the clean-up
// timer.
func (s *Service) completeUpload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.storage(ctx); err != nil {
		return err
	}
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	u, err := s.loadSession(ctx, tx, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}
	name := BlobName(p.TenantID, u.FileID)

	etag, err := s.commitBlocks(ctx, u, name)
	if err != nil {
		return err
	}

	if err := lockQuota(ctx, tx, p.TenantID); err != nil {
		return err
	}
	q, err := s.loadQuota(ctx, tx, p.TenantID)
	if err != nil {
		return err
	}
	if q.UsedBytes+u.Size > q.QuotaBytes {
		return tooLarge(q.QuotaBytes-q.UsedBytes, q)
	}
	contentType := u.sniffedType
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	now := s.now()
	_, err = tx.Exec(ctx, `
		INSERT INTO files (id, tenant_id, folder_id, name, size, content_type, declared_type, blob_etag, status, embed, uploaded_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)`,
		u.FileID, p.TenantID, u.FolderID, u.Name, u.Size, contentType, u.declared, etag, StatusProcessing, u.embed, p.ID, now)
	if isNameConflict(err) {
		return nameConflict(u.Name)
	}
	if err != nil {
		return fmt.Errorf("insert file from upload session: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM file_upload_sessions WHERE id = $1`, u.ID); err != nil {
		return fmt.Errorf("delete upload session: %w", err)
	}
	f, err := getFile(ctx, tx, u.FileID, false)
	if err != nil {
		return err
	}
	if err := s.announceUpload(ctx, tx, p.TenantID, f); err != nil {
		return err
	}
	w.Header().Set("Location", "/api/files/files/"+f.ID)
	httpx.WriteJSON(w, http.StatusCreated, f)
	return nil
}

// commitBlocks checks that every block is staged with its exact length and
// commits them. A blob already committed with the session's size (a retried
// complete) is accepted as it is.
func (s *Service) commitBlocks(ctx context.Context, u UploadSession, name string) (string, error) {
	staged, err := s.Blob.UncommittedBlocks(ctx, Container, name)
	if err != nil {
		return "", problem.Wrap(err, "list staged blocks of upload %s", u.ID)
	}
	if len(staged) == 0 {
		if size, err := s.Blob.Size(ctx, Container, name); err == nil && size == u.Size {
			return "", nil
		}
	}

	idList := make([]string, u.BlockCount)
	var missing []int64
	for i := int64(0); i < u.BlockCount; i++ {
		idList[i] = blockID(i)
		if staged[idList[i]] != u.blockLength(i) {
			missing = append(missing, i)
		}
	}

	if len(missing) > 0 {
		shown := missing[:min(len(missing), 20)]
		return "", problem.New(problem.CodeConflict, "The upload is incomplete: blocks %v (of 0 to %d) are missing. PUT them, then complete again.", shown, u.BlockCount-1)
	}
	contentType := u.sniffedType
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	up, err := s.Blob.CommitBlocks(ctx, Container, name, idList, contentType)
	if err != nil {
		return "", problem.Wrap(err, "commit blocks of upload %s", u.ID)
	}
	return up.ETag, nil
}

// abortUpload deletes a session and whatever blob it committed. Staged
// blocks of a blob that was never committed cannot be deleted through the
// API; Azure Storage discards them after seven days.
func (s *Service) abortUpload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.storage(ctx); err != nil {
		return err
	}
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	id := mux.Vars(r)["id"]
	var fileID string
	err = tx.QueryRow(ctx, `DELETE FROM file_upload_sessions WHERE id = $1 RETURNING file_id`, id).Scan(&fileID)
	if errors.Is(err, pgx.ErrNoRows) {
		return problem.NotFound("upload session", id)
	}
	if err != nil {
		return fmt.Errorf("delete upload session: %w", err)
	}
	if err := s.Blob.Delete(ctx, Container, BlobName(p.TenantID, fileID)); err != nil {
		return problem.Wrap(err, "delete blob of upload %s", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func isNameConflict(err error) bool {
	return err != nil && postgres.IsUniqueViolation(err, "files_name_key")
}

package files

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// sortSpec is one supported order of the file list: its key expression as
// text that sorts like the column, and the direction.
type sortSpec struct {
	key  string
	desc bool
}

// fileSorts are the values of the sort parameter. Every key is cast to text
// so one keyset condition works for all: timestamps in a fixed-width UTC
// form, sizes zero-padded, names in the "C" collation (byte order).
var fileSorts = map[string]sortSpec{
	"name":        {`f.name COLLATE "C"`, false},
	"-name":       {`f.name COLLATE "C"`, true},
	"created_at":  {`to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`, false},
	"-created_at": {`to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')`, true},
	"size":        {`lpad(f.size::text, 20, '0')`, false},
	"-size":       {`lpad(f.size::text, 20, '0')`, true},
}

// fileListSQL contains one fixed statement per sort order, built once at start-up
// from the constants above; request values only ever travel as parameters.
var fileListSQL = func() map[string]string {
	out := map[string]string{}
	for name, spec := range fileSorts {
		cmp, dir := ">", "ASC"
		if spec.desc {
			cmp, dir = "<", "DESC"
		}
		out[name] = `SELECT ` + fileColumns + `, ` + spec.key + fileFrom + `
			WHERE f.status NOT IN ('uploading', 'deleted')
			  AND ($1::boolean = false OR coalesce(f.folder_id, '') = $2)
			  AND ($3 = '' OR f.name ILIKE '%' || $3 || '%' ESCAPE '\')
			  AND ($4 = '' OR f.content_type = $4 OR f.content_type LIKE $4 || ';%' OR ($5 AND f.content_type LIKE $4 || '%'))
			  AND ($6::timestamptz IS NULL OR f.created_at >= $6)
			  AND ($7::timestamptz IS NULL OR f.created_at < $7)
			  AND ($8 = '' OR f.status = $8)
			  AND ($9 = '' OR (` + spec.key + `, f.id COLLATE "C") ` + cmp + ` ($9, $10 COLLATE "C"))
			ORDER BY ` + spec.key + ` ` + dir + `, f.id COLLATE "C" ` + dir + `
			LIMIT $11`
	}
	return out
}()

type fileCursor struct {
	Sort string `json:"s"`
	Key  string `json:"k"`
	ID   string `json:"i"`
}

// listFiles lists, filters, sorts and searches files with keyset pagination.
func (s *Service) listFiles(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	page, err := httpx.ParsePage(r)
	if err != nil && q.Get("cursor") == "" {
		return err
	}
	limit := page.Limit

	sort := q.Get("sort")
	if sort == "" {
		sort = "name"
	}
	query, ok := fileListSQL[sort]
	if !ok {
		return problem.Invalid(problem.FieldError{Field: "sort", Code: "enum", Message: fmt.Sprintf("must be one of name, -name, created_at, -created_at, size, -size; got %q", sort)})
	}
	var cur fileCursor
	if raw := q.Get("cursor"); raw != "" {
		if cur, err = decodeCursor(raw, sort); err != nil {
			return err
		}
	}

	folderFilter, folderID := false, ""
	if v, ok := q["folder_id"]; ok {
		folderFilter = true
		if v[0] != "root" {
			folderID = v[0]
		}
	}
	typeFilter := q.Get("type")
	typePrefix := strings.HasSuffix(typeFilter, "/")
	after, err := timeParam(q.Get("created_after"), "created_after")
	if err != nil {
		return err
	}
	before, err := timeParam(q.Get("created_before"), "created_before")
	if err != nil {
		return err
	}
	status := q.Get("status")
	switch status {
	case "", StatusProcessing, StatusReady, StatusFailed:
	default:
		return problem.Invalid(problem.FieldError{Field: "status", Code: "enum", Message: fmt.Sprintf("must be processing, ready or failed, got %q", status)})
	}

	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, query, folderFilter, folderID, escapeLike(q.Get("q")), typeFilter, typePrefix,
		after, before, status, cur.Key, cur.ID, limit+1)
	if err != nil {
		return fmt.Errorf("list files: %w", err)
	}
	defer rows.Close()
	var out []File
	var keys []string
	for rows.Next() {
		var f File
		var key string
		if err := rows.Scan(&f.ID, &f.Name, &f.FolderID, &f.FolderPath, &f.Size, &f.ContentType, &f.SHA256,
			&f.Status, &f.StatusReason, &f.Embed, &f.UploadedBy, &f.CreatedAt, &f.UpdatedAt, &f.ProcessedAt,
			&f.DeletedAt, &f.blobETag, &key); err != nil {
			return fmt.Errorf("scan file: %w", err)
		}
		out = append(out, f)
		keys = append(keys, key)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list files: %w", err)
	}

	res := httpx.Page[File]{Data: out}
	if res.Data == nil {
		res.Data = []File{}
	}
	if len(out) > limit {
		res.Data = out[:limit]
		res.HasMore = true
		res.NextCursor = encodeCursor(fileCursor{Sort: sort, Key: keys[limit-1], ID: out[limit-1].ID})
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

func timeParam(raw, field string) (*time.Time, error) {
	if raw == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return nil, problem.Invalid(problem.FieldError{Field: field, Code: "format", Message: fmt.Sprintf("must be an RFC 3339 date-time such as 2026-06-01T00:00:00Z, got %q", raw)})
	}
	return &t, nil
}

// escapeLike escapes the LIKE wildcards so q matches literally.
func escapeLike(q string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
}

func (s *Service) getFile(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	f, err := getFile(r.Context(), tx, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, f)
	return nil
}

// FileText is the text extracted from a file for indexing.
type FileText struct {
	FileID      string    `json:"file_id"`
	Text        string    `json:"text"`
	Truncated   bool      `json:"truncated" doc:"The text was cut at the extraction limit."`
	ExtractedAt time.Time `json:"extracted_at"`
}

func (s *Service) getText(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	f, err := getFile(ctx, tx, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	t := FileText{FileID: f.ID}
	err = tx.QueryRow(ctx, `SELECT text, truncated, extracted_at FROM file_texts WHERE file_id = $1`, f.ID).Scan(&t.Text, &t.Truncated, &t.ExtractedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return problem.New(problem.CodeNotFound, "File %s has no extracted text: its status is %s and its type %s.", f.ID, f.Status, f.ContentType)
	}
	if err != nil {
		return fmt.Errorf("load file text: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, t)
	return nil
}

// UpdateFileRequest renames, moves or (un)marks a file for the knowledge
// base. Absent fields stay as they are.
type UpdateFileRequest struct {
	Name     *string `json:"name,omitempty"`
	FolderID *string `json:"folder_id,omitempty" doc:"Target folder; empty string for the root."`
	Embed    *bool   `json:"embed,omitempty" doc:"Mark the file for the knowledge base."`
}

func (s *Service) updateFile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req UpdateFileRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Name != nil {
		if err := ValidateName("name", *req.Name); err != nil {
			return err
		}
	}

	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	f, err := getFile(ctx, tx, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}

	name, folderID, embed := f.Name, f.FolderID, f.Embed
	if req.Name != nil {
		name = *req.Name
	}
	if req.FolderID != nil {
		if folderID, err = resolveFolder(ctx, tx, "folder_id", req.FolderID); err != nil {
			return err
		}
	}
	if req.Embed != nil {
		embed = *req.Embed
	}

	_, err = tx.Exec(ctx, `UPDATE files SET name = $2, folder_id = $3, embed = $4, updated_at = $5 WHERE id = $1`,
		f.ID, name, folderID, embed, s.now())
	if isNameConflict(err) {
		return nameConflict(name)
	}
	if err != nil {
		return fmt.Errorf("update file: %w", err)
	}
	f, err = getFile(ctx, tx, f.ID, false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, f)
	return nil
}

// deleteFile soft-deletes a file: it disappears from every listing and
// download at once, share links stop working, and the clean-up timer removes
// the blob after the retention period.
func (s *Service) deleteFile(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	f, err := getFile(ctx, tx, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}
	if err := softDelete(ctx, tx, p.TenantID, f, s.now()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func softDelete(ctx context.Context, tx pgx.Tx, tenantID string, f File, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE files SET status = 'deleted', deleted_at = $2, updated_at = $2 WHERE id = $1`, f.ID, now); err != nil {
		return fmt.Errorf("soft-delete file %s: %w", f.ID, err)
	}
	f.Status = StatusDeleted
	if _, err := events.Emit(ctx, tx, tenantID, EventDeleted, eventData(f)); err != nil {
		return err
	}
	return nil
}

// Quota is the tenant's storage use and limits.
type Quota struct {
	UsedBytes    int64 `json:"used_bytes" doc:"Bytes of stored files, soft-deleted files included until they are removed."`
	QuotaBytes   int64 `json:"quota_bytes"`
	MaxFileBytes int64 `json:"max_file_bytes" doc:"Largest single file."`
}

func (s *Service) getQuota(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	q, err := s.loadQuota(ctx, tx, p.TenantID)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, Quota{UsedBytes: q.UsedBytes, QuotaBytes: q.QuotaBytes, MaxFileBytes: q.MaxFileBytes})
	return nil
}

func encodeCursor(c fileCursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses a next_cursor and checks it was made for sort.
func decodeCursor(raw, sort string) (fileCursor, error) {
	var c fileCursor
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" || c.Sort != sort {
		return c, &problem.Error{Code: problem.CodeBadRequest, Detail: "cursor: invalid; pass the next_cursor of the previous page unchanged, with the same sort.",
			Fields: []problem.FieldError{{Field: "cursor", Code: "invalid", Message: "pass the next_cursor of the previous page unchanged, with the same sort"}}}
	}
	return c, nil
}

package files

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/problem"
)

// File is a file's metadata.
type File struct {
	ID           string     `json:"id" example:"fil_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Name         string     `json:"name" example:"Quarterly report.pdf"`
	FolderID     *string    `json:"folder_id" doc:"The folder, or null at the root."`
	FolderPath   string     `json:"folder_path" doc:"The folder's full path; \"/\" at the root." example:"/reports/2026"`
	Size         int64      `json:"size" doc:"Size in bytes."`
	ContentType  string     `json:"content_type" doc:"Media type sniffed from the content; the uploader's declared type is not trusted."`
	SHA256       *string    `json:"sha256" doc:"Hex SHA-256 of the content; null until computed."`
	Status       string     `json:"status" enum:"processing,ready,failed,deleted"`
	StatusReason string     `json:"status_reason,omitempty" doc:"Why processing failed."`
	Embed        bool       `json:"embed" doc:"Marked for the knowledge base, which indexes the extracted text."`
	UploadedBy   string     `json:"uploaded_by" doc:"Id of the key or user that uploaded the file."`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	ProcessedAt  *time.Time `json:"processed_at"`
	DeletedAt    *time.Time `json:"deleted_at,omitempty"`

	blobETag string
}

const fileColumns = `f.id, f.name, f.folder_id, coalesce(d.path, '/'), f.size, f.content_type, f.sha256,
	f.status, f.status_reason, f.embed, f.uploaded_by, f.created_at, f.updated_at, f.processed_at,
	f.deleted_at, f.blob_etag`

const fileFrom = ` FROM files f LEFT JOIN file_folders d ON d.id = f.folder_id`

func scanFile(row pgx.Row) (File, error) {
	var f File
	err := row.Scan(&f.ID, &f.Name, &f.FolderID, &f.FolderPath, &f.Size, &f.ContentType, &f.SHA256,
		&f.Status, &f.StatusReason, &f.Embed, &f.UploadedBy, &f.CreatedAt, &f.UpdatedAt, &f.ProcessedAt,
		&f.DeletedAt, &f.blobETag)
	return f, err
}

// getFile returns a visible file: not deleted, not still uploading. Another
// tenant's file is not found because row-level security hides it.
func getFile(ctx context.Context, tx pgx.Tx, id string, forUpdate bool) (File, error) {
	q := `SELECT ` + fileColumns + fileFrom + ` WHERE f.id = $1 AND f.status NOT IN ('uploading', 'deleted')`
	if forUpdate {
		q += ` FOR UPDATE OF f`
	}
	f, err := scanFile(tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return File{}, problem.NotFound("file", id)
	}
	if err != nil {
		return File{}, fmt.Errorf("load file %s: %w", id, err)
	}
	return f, nil
}

// Folder is one folder of the tenant's tree.
type Folder struct {
	ID        string    `json:"id" example:"fld_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	Name      string    `json:"name" example:"2026"`
	ParentID  *string   `json:"parent_id" doc:"The parent folder, or null at the root."`
	Path      string    `json:"path" doc:"Full path from the root." example:"/reports/2026"`
	Status    string    `json:"status" enum:"active,deleting" doc:"deleting while the background job removes the folder and its contents."`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

const folderColumns = `id, name, parent_id, path, status, created_by, created_at, updated_at`

func scanFolder(row pgx.Row) (Folder, error) {
	var f Folder
	err := row.Scan(&f.ID, &f.Name, &f.ParentID, &f.Path, &f.Status, &f.CreatedBy, &f.CreatedAt, &f.UpdatedAt)
	return f, err
}

// getFolder returns an active folder, or a 404 naming field.
func getFolder(ctx context.Context, tx pgx.Tx, id string, forUpdate bool) (Folder, error) {
	q := `SELECT ` + folderColumns + ` FROM file_folders WHERE id = $1 AND status = 'active'`
	if forUpdate {
		q += ` FOR UPDATE`
	}
	f, err := scanFolder(tx.QueryRow(ctx, q, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Folder{}, problem.NotFound("folder", id)
	}
	if err != nil {
		return Folder{}, fmt.Errorf("load folder %s: %w", id, err)
	}
	return f, nil
}

// resolveFolder checks an optional folder id from a request field. Nil or
// empty means the root. An unknown id is a 422 naming field, because the
// request, not the URL, is wrong.
func resolveFolder(ctx context.Context, tx pgx.Tx, field string, id *string) (*string, error) {
	if id == nil || *id == "" {
		return nil, nil
	}
	if _, err := getFolder(ctx, tx, *id, false); err != nil {
		if problem.As(err).Code == problem.CodeNotFound {
			return nil, problem.Invalid(problem.FieldError{Field: field, Code: "not_found",
				Message: fmt.Sprintf("no folder with id %q exists", *id)})
		}
		return nil, err
	}
	return id, nil
}

package files

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/queue"
	"github.com/booga-enterprise/functions/shared/request"
)

// CreateFolderRequest creates a folder.
type CreateFolderRequest struct {
	Name     string  `json:"name" example:"2026"`
	ParentID *string `json:"parent_id,omitempty" doc:"Parent folder; absent or empty for the root."`
}

// UpdateFolderRequest renames or moves a folder. Absent fields stay.
type UpdateFolderRequest struct {
	Name     *string `json:"name,omitempty"`
	ParentID *string `json:"parent_id,omitempty" doc:"New parent; empty string for the root."`
}

func childPath(parent *Folder, name string) string {
	if parent == nil {
		return "/" + name
	}
	return parent.Path + "/" + name
}

func folderConflict(path string) error {
	return &problem.Error{Code: problem.CodeConflict, Detail: fmt.Sprintf("A folder %q already exists.", path),
		Fields: []problem.FieldError{{Field: "name", Code: "conflict", Message: "a folder with this name already exists in the parent"}}}
}

func (s *Service) createFolder(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	var req CreateFolderRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := ValidateName("name", req.Name); err != nil {
		return err
	}

	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	parent, err := s.parentFolder(ctx, tx, req.ParentID)
	if err != nil {
		return err
	}

	now := s.now()
	f := Folder{ID: ids.New("fld"), Name: req.Name, Path: childPath(parent, req.Name), Status: "active",
		CreatedBy: p.ID, CreatedAt: now, UpdatedAt: now}
	if parent != nil {
		f.ParentID = &parent.ID
	}

	_, err = tx.Exec(ctx, `
		INSERT INTO file_folders (id, tenant_id, parent_id, name, path, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, f.ID, p.TenantID, f.ParentID, f.Name, f.Path, f.CreatedBy, now)
	if postgres.IsUniqueViolation(err, "file_folders_path_key") {
		return folderConflict(f.Path)
	}
	if err != nil {
		return fmt.Errorf("insert folder: %w", err)
	}
	w.Header().Set("Location", "/api/files/folders/"+f.ID)
	httpx.WriteJSON(w, http.StatusCreated, f)
	return nil
}

// parentFolder resolves a parent_id field: nil for the root.
func (s *Service) parentFolder(ctx context.Context, tx pgx.Tx, id *string) (*Folder, error) {
	if id == nil || *id == "" {
		return nil, nil
	}
	f, err := getFolder(ctx, tx, *id, false)
	if err != nil {
		if problem.As(err).Code == problem.CodeNotFound {
			return nil, problem.Invalid(problem.FieldError{Field: "parent_id", Code: "not_found", Message: fmt.Sprintf("no folder with id %q exists", *id)})
		}
		return nil, err
	}
	return &f, nil
}

func (s *Service) getFolder(w http.ResponseWriter, r *http.Request) error {
	tx, err := request.Tx(r.Context())
	if err != nil {
		return err
	}
	f, err := getFolder(r.Context(), tx, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, f)
	return nil
}

// listFolders lists the subfolders of parent_id (the root when absent), by
// name, with cursor pagination.
func (s *Service) listFolders(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()
	page, err := httpx.ParsePage(r)
	if err != nil && q.Get("cursor") == "" {
		return err
	}
	var cur fileCursor
	if raw := q.Get("cursor"); raw != "" {
		if cur, err = decodeCursor(raw, "folders"); err != nil {
			return err
		}
	}

	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT `+folderColumns+` FROM file_folders
		WHERE status = 'active' AND coalesce(parent_id, '') = $1
		  AND ($2 = '' OR (name COLLATE "C", id COLLATE "C") > ($2, $3 COLLATE "C"))
		ORDER BY name COLLATE "C", id COLLATE "C" LIMIT $4`, q.Get("parent_id"), cur.Key, cur.ID, page.Limit+1)
	if err != nil {
		return fmt.Errorf("list folders: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Folder, error) { return scanFolder(row) })
	if err != nil {
		return fmt.Errorf("list folders: %w", err)
	}

	res := httpx.Page[Folder]{Data: out}
	if res.Data == nil {
		res.Data = []Folder{}
	}
	if len(out) > page.Limit {
		res.Data = out[:page.Limit]
		res.HasMore = true
		last := res.Data[page.Limit-1]
		res.NextCursor = encodeCursor(fileCursor{Sort: "folders", Key: last.Name, ID: last.ID})
	}
	httpx.WriteJSON(w, http.StatusOK, res)
	return nil
}

// updateFolder renames or moves a folder and rewrites the paths of all its
// descendants in the same statement.
func (s *Service) updateFolder(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	var req UpdateFolderRequest
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
	f, err := getFolder(ctx, tx, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}

	name := f.Name
	if req.Name != nil {
		name = *req.Name
	}
	var parent *Folder
	if req.ParentID != nil {
		if parent, err = s.parentFolder(ctx, tx, req.ParentID); err != nil {
			return err
		}
		if parent != nil && (parent.ID == f.ID || strings.HasPrefix(parent.Path+"/", f.Path+"/")) {
			return problem.Invalid(problem.FieldError{Field: "parent_id", Code: "cycle", Message: "must not be the folder itself or one of its subfolders"})
		}
	} else if f.ParentID != nil {
		if parent, err = s.parentFolder(ctx, tx, f.ParentID); err != nil {
			return err
		}
	}

	newPath := childPath(parent, name)
	var parentID *string
	if parent != nil {
		parentID = &parent.ID
	}

	_, err = tx.Exec(ctx, `
		UPDATE file_folders SET
			path = $2 || substr(path, length($3) + 1),
			name = CASE WHEN id = $1 THEN $4 ELSE name END,
			parent_id = CASE WHEN id = $1 THEN $5 ELSE parent_id END,
			updated_at = $6
		WHERE status = 'active' AND (id = $1 OR left(path, length($3) + 1) = $3 || '/')`,
		f.ID, newPath, f.Path, name, parentID, s.now())
	if postgres.IsUniqueViolation(err, "file_folders_path_key") {
		return folderConflict(newPath)
	}
	if err != nil {
		return fmt.Errorf("update folder: %w", err)
	}
	f, err = getFolder(ctx, tx, f.ID, false)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, f)
	return nil
}

// deleteFolder marks the folder and its subtree deleting, which frees their
// names at once, and queues the background job that soft-deletes the files
// and removes the folders.
func (s *Service) deleteFolder(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	f, err := getFolder(ctx, tx, mux.Vars(r)["id"], true)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE file_folders SET status = 'deleting', updated_at = $3
		WHERE status = 'active' AND (id = $1 OR left(path, length($2) + 1) = $2 || '/')`, f.ID, f.Path, s.now())
	if err != nil {
		return fmt.Errorf("mark folder deleting: %w", err)
	}
	body, err := json.Marshal(jobMessage{Kind: jobDeleteFolder, TenantID: p.TenantID, FolderID: f.ID})
	if err != nil {
		return fmt.Errorf("encode folder deletion: %w", err)
	}
	if err := queue.PublishTx(ctx, tx, ProcessingQueue, queue.Message{ID: "delete-" + f.ID, Body: body}); err != nil {
		return fmt.Errorf("queue folder deletion: %w", err)
	}
	f.Status = "deleting"
	httpx.WriteJSON(w, http.StatusAccepted, f)
	return nil
}

// deleteFolderBatch is how many files one transaction of the deletion job
// soft-deletes.
const deleteFolderBatch = 500

// runDeleteFolder soft-deletes every file under a deleting folder, batch by
// batch, then removes the folder rows. Every step can repeat, so a redelivered
// message finishes the work.
func (s *Service) runDeleteFolder(ctx context.Context, tenantID, folderID string) error {
	const subtree = `WITH RECURSIVE tree AS (
			SELECT id FROM file_folders WHERE id = $1 AND status = 'deleting'
			UNION ALL
			SELECT c.id FROM file_folders c JOIN tree t ON c.parent_id = t.id)`
	for {
		n := 0
		err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, subtree+` SELECT `+fileColumns+fileFrom+`
				WHERE f.folder_id IN (SELECT id FROM tree) AND f.status <> 'deleted'
				ORDER BY f.id LIMIT $2 FOR UPDATE OF f`, folderID, deleteFolderBatch)
			if err != nil {
				return fmt.Errorf("select files of deleted folder: %w", err)
			}
			batch, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (File, error) { return scanFile(row) })
			if err != nil {
				return fmt.Errorf("select files of deleted folder: %w", err)
			}
			for _, f := range batch {
				if err := softDelete(ctx, tx, tenantID, f, s.now()); err != nil {
					return err
				}
			}
			n = len(batch)
			return nil
		})
		if err != nil {
			return err
		}
		if n < deleteFolderBatch {
			break
		}
	}
	return s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		// Soft-deleted files keep no folder; ON DELETE SET NULL clears it.
		_, err := tx.Exec(ctx, subtree+` DELETE FROM file_folders WHERE id IN (SELECT id FROM tree)`, folderID)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("delete folders: %w", err)
		}
		return nil
	})
}

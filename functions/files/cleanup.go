package files

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/customhandler"
)

// ShareRetention is the time an expired or revoked share link is kept before
// the clean-up timer deletes it. Until then its holder gets 410 or 404 with a
// reason. After that its token is unknown and gets a plain 404.
const ShareRetention = 7 * 24 * time.Hour

// cleanupBatch bounds the rows one clean-up step handles per tenant.
const cleanupBatch = 500

// CleanupResult counts what one clean-up run removed.
type CleanupResult struct {
	Tenants        int `json:"tenants"`
	ShareLinks     int `json:"share_links"`
	DeletedFiles   int `json:"deleted_files"`
	AbandonedFiles int `json:"abandoned_files"`
	UploadSessions int `json:"upload_sessions"`
}

// CleanupFunction handles the files-cleanup timer.
func (s *Service) CleanupFunction() customhandler.FunctionFunc {
	return func(ctx context.Context, _ customhandler.Invocation) (any, error) {
		return s.Cleanup(ctx)
	}
}

// Cleanup removes the following in every tenant:
//   - share links expired or revoked more than ShareRetention ago;
//   - soft-deleted files older than DeletedRetention (blob, then row);
//   - multipart uploads still in status uploading after UploadTTL, which a
//     crashed process left behind;
//   - expired upload sessions, with any blob they committed.
//
// Blobs go before rows, so a failure in between leaves a row that the next
// run finds again. Each tenant's failure is logged and the run goes on, and
// the first error is returned after all tenants.
func (s *Service) Cleanup(ctx context.Context) (CleanupResult, error) {
	var res CleanupResult
	if err := s.storage(ctx); err != nil {
		return res, err
	}
	rows, err := s.Pool.Query(ctx, `SELECT id FROM admin_list_tenants()`)
	if err != nil {
		return res, fmt.Errorf("list tenants: %w", err)
	}
	tenants, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return res, fmt.Errorf("list tenants: %w", err)
	}
	var errs []error
	for _, tenantID := range tenants {
		res.Tenants++
		if err := s.cleanupTenant(ctx, tenantID, &res); err != nil {
			s.logger().ErrorContext(ctx, "files clean-up failed for tenant", "tenant_id", tenantID, "error", err)
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

func (s *Service) cleanupTenant(ctx context.Context, tenantID string, res *CleanupResult) error {
	now := s.now()
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM file_share_links WHERE expires_at < $1 OR revoked_at < $1`, now.Add(-ShareRetention))
		res.ShareLinks += int(tag.RowsAffected())
		return err
	})
	if err != nil {
		return fmt.Errorf("delete old share links: %w", err)
	}

	n, err := s.removeFiles(ctx, tenantID, `SELECT id FROM files WHERE status = 'deleted' AND deleted_at < $1 ORDER BY id LIMIT $2`,
		now.Add(-s.DeletedRetention))
	res.DeletedFiles += n
	if err != nil {
		return err
	}
	n, err = s.removeFiles(ctx, tenantID, `SELECT id FROM files WHERE status = 'uploading' AND updated_at < $1 ORDER BY id LIMIT $2`,
		now.Add(-s.UploadTTL))
	res.AbandonedFiles += n
	if err != nil {
		return err
	}

	var sessions []string
	err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT file_id FROM file_upload_sessions WHERE expires_at < $1 ORDER BY id LIMIT $2`, now, cleanupBatch)
		if err != nil {
			return err
		}
		sessions, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return fmt.Errorf("select expired upload sessions: %w", err)
	}
	for _, fileID := range sessions {
		if err := s.Blob.Delete(ctx, Container, BlobName(tenantID, fileID)); err != nil {
			return err
		}
		err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM file_upload_sessions WHERE file_id = $1`, fileID)
			return err
		})
		if err != nil {
			return fmt.Errorf("delete expired upload session: %w", err)
		}
		res.UploadSessions++
	}
	return nil
}

// removeFiles deletes the blob and then the row of each file the query
// selects (parameters: cut-off time, batch size).
func (s *Service) removeFiles(ctx context.Context, tenantID, query string, cutoff time.Time) (int, error) {
	var fileIDs []string
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query, cutoff, cleanupBatch)
		if err != nil {
			return err
		}
		fileIDs, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("select files to remove: %w", err)
	}
	removed := 0
	for _, id := range fileIDs {
		if err := s.Blob.Delete(ctx, Container, BlobName(tenantID, id)); err != nil {
			return removed, err
		}
		err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `DELETE FROM files WHERE id = $1 AND status IN ('deleted', 'uploading')`, id)
			return err
		})
		if err != nil {
			return removed, fmt.Errorf("delete file row %s: %w", id, err)
		}
		removed++
	}
	return removed, nil
}

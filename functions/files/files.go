// Package files is the files plugin: uploads streamed to Blob Storage,
// downloads with range and conditional requests, folders, search, share
// links, the processing worker (checksum, content-type check, text
// extraction) and the clean-up timer.
//
// Metadata lives in PostgreSQL under row-level security; each blob is
// <tenant_id>/<file_id> in the "files" container, so one tenant's blobs never
// share a name with another's.
package files

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/infra/blob"
	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// Plugin is the plugin name, the first segment of every route.
const Plugin = "files"

// Capabilities the routes require.
const (
	CapRead  = "files:read"
	CapWrite = "files:write"
	CapShare = "files:share"
)

// Event types written to the outbox.
const (
	EventUploaded  = "file.uploaded"
	EventProcessed = "file.processed"
	EventDeleted   = "file.deleted"
)

// Container is the blob container of every file.
const Container = "files"

// ProcessingQueue is the queue the processing worker consumes; the
// file-processing function's function.json names it.
const ProcessingQueue = "file-processing"

// File statuses.
const (
	StatusUploading  = "uploading"
	StatusProcessing = "processing"
	StatusReady      = "ready"
	StatusFailed     = "failed"
	StatusDeleted    = "deleted"
)

// Service contains the plugin's dependencies and limits. Handlers, the
// processing worker and the clean-up timer are its methods.
type Service struct {
	Pool *pgxpool.Pool
	Blob *blob.Client

	// MaxFileBytes and TenantQuota are the defaults a tenant's file_quotas
	// row overrides.
	MaxFileBytes int64
	TenantQuota  int64
	// DeletedRetention is how long soft-deleted files are kept.
	DeletedRetention time.Duration
	// UploadTTL is how long an upload session stays open and how long a
	// multipart upload may stay unfinished.
	UploadTTL time.Duration
	// PasswordIterations is the PBKDF2-HMAC-SHA256 work factor for share-link
	// passwords.
	PasswordIterations int

	// CreateContainers makes the first use of storage create the blob
	// containers, for local mode and tests; Bicep creates them in Azure.
	CreateContainers bool
	// BlobErr is the error that kept Blob from opening. While it is set, every
	// operation that needs storage fails with 503 and logs this cause.
	BlobErr error

	Now    func() time.Time
	Logger *slog.Logger

	containersOnce sync.Once
	containersErr  error

	// beforeProcessCommit, when set, runs before the processing worker
	// commits its result; tests use it to simulate a crash at that point.
	beforeProcessCommit func(fileID string) error
}

// storage returns nil when blob storage can be used, creating the containers
// on first use when CreateContainers is set.
func (s *Service) storage(ctx context.Context) error {
	if s.Blob == nil {
		err := s.BlobErr
		if err == nil {
			err = errors.New("no blob client configured")
		}
		return &problem.Error{Code: problem.CodeUnavailable, RetryAfter: 30 * time.Second,
			Detail: "File storage is unavailable. Retry later.", Err: err}
	}
	if s.CreateContainers {
		s.containersOnce.Do(func() { s.containersErr = s.Blob.EnsureContainers(context.WithoutCancel(ctx)) })
		if s.containersErr != nil {
			return &problem.Error{Code: problem.CodeUnavailable, RetryAfter: 30 * time.Second,
				Detail: "File storage is unavailable. Retry later.", Err: s.containersErr}
		}
	}
	return nil
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now().UTC()
	}
	return s.Now().UTC()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// BlobName returns the blob name of a file: <tenant_id>/<file_id>.
func BlobName(tenantID, fileID string) string { return tenantID + "/" + fileID }

// principal returns the caller; the pipeline guarantees one on key routes.
func principal(ctx context.Context) (*request.Principal, error) {
	p := request.PrincipalFrom(ctx)
	if p == nil {
		return nil, problem.New(problem.CodeUnauthenticated, "No credential was sent.")
	}
	return p, nil
}

// inTenant runs fn in its own short tenant transaction. Streaming routes use
// it instead of the request transaction, which would otherwise stay open
// for the whole transfer.
func (s *Service) inTenant(ctx context.Context, tenantID string, fn func(pgx.Tx) error) error {
	if err := postgres.InTenant(ctx, s.Pool, tenantID, fn); err != nil {
		return err
	}
	return nil
}

// quota is the tenant's effective limits.
type quota struct {
	MaxFileBytes int64
	QuotaBytes   int64
	UsedBytes    int64
}

// available returns the most bytes one new file may have.
func (q quota) available() int64 {
	return min(q.MaxFileBytes, q.QuotaBytes-q.UsedBytes)
}

func (s *Service) loadQuota(ctx context.Context, tx pgx.Tx, tenantID string) (quota, error) {
	q := quota{MaxFileBytes: s.MaxFileBytes, QuotaBytes: s.TenantQuota}
	var maxFile, quotaBytes *int64
	err := tx.QueryRow(ctx, `SELECT max_file_bytes, quota_bytes FROM file_quotas WHERE tenant_id = $1`, tenantID).Scan(&maxFile, &quotaBytes)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return q, fmt.Errorf("load file quota: %w", err)
	}
	if maxFile != nil {
		q.MaxFileBytes = *maxFile
	}
	if quotaBytes != nil {
		q.QuotaBytes = *quotaBytes
	}
	if err := tx.QueryRow(ctx, `SELECT coalesce(sum(size), 0) FROM files WHERE tenant_id = $1`, tenantID).Scan(&q.UsedBytes); err != nil {
		return q, fmt.Errorf("sum stored bytes: %w", err)
	}
	return q, nil
}

// lockQuota serialises the final quota check of concurrent uploads of one
// tenant until tx ends.
func lockQuota(ctx context.Context, tx pgx.Tx, tenantID string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('files_quota:' || $1))`, tenantID); err != nil {
		return fmt.Errorf("lock file quota: %w", err)
	}
	return nil
}

func tooLarge(limit int64, q quota) error {
	if q.QuotaBytes-q.UsedBytes < q.MaxFileBytes {
		return problem.New(problem.CodeTooLarge, "The file does not fit in the tenant's storage quota: %d of %d bytes are used, so at most %d bytes remain. Delete files or ask for a larger quota.",
			q.UsedBytes, q.QuotaBytes, max(limit, 0))
	}
	return problem.New(problem.CodeTooLarge, "The file is larger than the tenant's limit of %d bytes per file.", q.MaxFileBytes)
}

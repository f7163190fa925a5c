package main

import (
	"time"

	"github.com/booga-enterprise/functions/functions/files"
	"github.com/booga-enterprise/functions/infra/blob"
	"github.com/booga-enterprise/functions/shared/azure"
	"github.com/booga-enterprise/functions/shared/config"
)

// registerFiles builds the files plugin and adds its routes. Opening the blob
// client does no I/O. When opening fails, the plugin's storage operations
// respond with 503 and the cause is logged.
func (a *app) registerFiles(now func() time.Time) {
	local := a.cfg.Env == config.EnvLocal
	opts := blob.Options{AccountURL: a.cfg.BlobAccountURL, Local: local}
	svc := &files.Service{
		Pool: a.pool, MaxFileBytes: a.cfg.FilesMaxFileBytes, TenantQuota: a.cfg.FilesTenantQuota,
		DeletedRetention: a.cfg.FilesDeletedRetention, UploadTTL: a.cfg.FilesUploadTTL,
		PasswordIterations: a.cfg.PBKDF2Iterations, CreateContainers: local, Now: now, Logger: a.logger,
	}
	if !local || a.cfg.BlobAccountURL != "" {
		cred, err := azure.NewCredential(azure.CredentialOptions{ClientID: a.cfg.AzureClientID})
		if err != nil {
			svc.BlobErr = err
		}
		opts.Credential = cred
	}
	if svc.BlobErr == nil {
		svc.Blob, svc.BlobErr = blob.Open(opts)
	}
	if svc.BlobErr != nil {
		a.logger.Error("open blob storage failed, so file storage operations respond with 503", "error", svc.BlobErr)
	}
	a.files = svc
	svc.Register(a.registry)
}

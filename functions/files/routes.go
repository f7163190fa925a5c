package files

import (
	"net/http"

	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/registry"
)

func intPtr(v int) *int { return &v }

var (
	fileIDParam = registry.Param{Name: "id", In: "path", Required: true, Type: "string",
		Description: "The file's id.", Example: "fil_01jd8x3k6m4v0q9s7t2w5y8z1a"}
	folderIDParam = registry.Param{Name: "id", In: "path", Required: true, Type: "string",
		Description: "The folder's id.", Example: "fld_01jd8x3k6m4v0q9s7t2w5y8z1a"}
	uploadIDParam = registry.Param{Name: "id", In: "path", Required: true, Type: "string",
		Description: "The upload session's id.", Example: "ups_01jd8x3k6m4v0q9s7t2w5y8z1a"}
	limitParam = registry.Param{Name: "limit", In: "query", Type: "integer", Description: "Page size.",
		Minimum: intPtr(1), Maximum: intPtr(httpx.MaxLimit), Default: httpx.DefaultLimit}
	cursorParam = registry.Param{Name: "cursor", In: "query", Type: "string", Description: "The next_cursor of the previous page."}
)

// Register adds the files routes to the registry.
func (s *Service) Register(reg *registry.Registry) {
	s.registerFiles(reg)
	s.registerUploads(reg)
	s.registerFolders(reg)
	s.registerShares(reg)
}

func (s *Service) registerFiles(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/files/files", OperationID: "uploadFile", Capability: CapWrite,
		Summary: "Upload a file",
		Description: "Streams a multipart/form-data body to storage. Optional fields name (else the file part's filename), folder_id and embed must come before the part named file. " +
			"The content type is sniffed from the content; the name is validated as one path segment without control characters. The file is then processed in the background (status processing, then ready or failed). " +
			"A rejected or interrupted upload stores nothing. For files above a few hundred megabytes use the two-step upload at /files/uploads.",
		RequestBody: &registry.RequestBody{ContentType: registry.ContentTypeMultipart, Form: UploadForm{},
			Description: "The optional fields name, folder_id and embed, then the file part last."},
		Responses: map[int]registry.Response{http.StatusCreated: {Description: "The stored file, status processing.", Body: File{}}},
		Errors:    []int{http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType},
		Handler:   s.upload,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/files/files", OperationID: "listFiles", Capability: CapRead,
		Summary:     "List and search files",
		Description: "Lists files with cursor pagination, sorted by name (default), created_at or size, descending with a leading minus. Filters combine: folder, name substring, media type, creation time, status.",
		Params: []registry.Param{
			{Name: "folder_id", In: "query", Type: "string", Description: "Only files directly in this folder; root for the top level. Absent: every folder."},
			{Name: "q", In: "query", Type: "string", Description: "Case-insensitive substring of the name."},
			{Name: "type", In: "query", Type: "string", Description: "Media type, such as application/pdf, or a prefix ending in /, such as image/.", Example: "image/"},
			{Name: "created_after", In: "query", Type: "string", Format: "date-time", Description: "Only files created at or after this time."},
			{Name: "created_before", In: "query", Type: "string", Format: "date-time", Description: "Only files created before this time."},
			{Name: "status", In: "query", Type: "string", Enum: []string{StatusProcessing, StatusReady, StatusFailed}, Description: "Only files in this processing status."},
			{Name: "sort", In: "query", Type: "string", Enum: []string{"name", "-name", "created_at", "-created_at", "size", "-size"}, Default: "name", Description: "Sort order; the cursor is valid only with the same sort."},
			limitParam, cursorParam,
		},
		Responses: map[int]registry.Response{http.StatusOK: {Description: "A page of files.", Body: httpx.Page[File]{}}},
		Handler:   s.listFiles,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/files/quota", OperationID: "getFileQuota", Capability: CapRead,
		Summary:     "Get the storage quota",
		Description: "Returns the tenant's stored bytes, its quota and the largest file it may upload.",
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "Use and limits.", Body: Quota{}}},
		Handler:     s.getQuota,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/files/files/{id}", OperationID: "getFile", Capability: CapRead,
		Summary:     "Get a file's metadata",
		Description: "Returns a file's metadata. Another tenant's file is not found.",
		Params:      []registry.Param{fileIDParam},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The file.", Body: File{}}},
		Handler:     s.getFile,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPatch, Path: "/files/files/{id}", OperationID: "updateFile", Capability: CapWrite,
		Summary:     "Rename, move or mark a file",
		Description: "Changes the name, folder or embed flag; absent fields stay. Marking embed puts the extracted text in the knowledge base's queue.",
		Params:      []registry.Param{fileIDParam},
		Request:     UpdateFileRequest{},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The updated file.", Body: File{}}},
		Errors:      []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:     s.updateFile,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodDelete, Path: "/files/files/{id}", OperationID: "deleteFile", Capability: CapWrite,
		Summary:     "Delete a file",
		Description: "Soft-deletes the file: it disappears from listings, downloads and share links at once; its content is removed after the retention period.",
		Params:      []registry.Param{fileIDParam},
		Responses:   map[int]registry.Response{http.StatusNoContent: {Description: "The file is deleted."}},
		Handler:     s.deleteFile,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/files/files/{id}/content", OperationID: "downloadFile", Capability: CapRead,
		Summary: "Download a file",
		Description: "Streams the content with Content-Type, Content-Length, ETag, Last-Modified and a Content-Disposition safe for any name. " +
			"Supports Range (206, multipart/byteranges for several ranges, 416), If-Range, If-Match, If-None-Match (304), If-Modified-Since and If-Unmodified-Since (412).",
		Params: []registry.Param{fileIDParam,
			{Name: "disposition", In: "query", Type: "string", Enum: []string{"attachment", "inline"}, Default: "attachment", Description: "attachment to save, inline to display; inline responses carry a sandboxing Content-Security-Policy."}},
		Responses: map[int]registry.Response{
			http.StatusOK:             {Description: "The whole file, as its stored media type.", ContentType: "*/*"},
			http.StatusPartialContent: {Description: "The requested range, or multipart/byteranges for several ranges.", ContentType: "*/*"},
			http.StatusNotModified:    {Description: "The client's copy is current."},
		},
		Errors:    []int{http.StatusPreconditionFailed},
		Streaming: true,
		Handler:   s.download,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/files/files/{id}/text", OperationID: "getFileText", Capability: CapRead,
		Summary:     "Get a file's extracted text",
		Description: "Returns the text the processing worker extracted from a text, Markdown, HTML, CSV, JSON or PDF file, up to 1 MiB.",
		Params:      []registry.Param{fileIDParam},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The text.", Body: FileText{}}},
		Handler:     s.getText,
	})
}

func (s *Service) registerUploads(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/files/uploads", OperationID: "createUploadSession", Capability: CapWrite,
		Summary: "Start a two-step upload",
		Description: "Opens an upload session for a large file of a known size. PUT its blocks to block_url, then POST complete. " +
			"The session expires after FILES_UPLOAD_TTL; nothing is stored as a file until it completes.",
		Request:   CreateUploadRequest{},
		Responses: map[int]registry.Response{http.StatusCreated: {Description: "The session.", Body: UploadSession{}}},
		Errors:    []int{http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType},
		Handler:   s.createUpload,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPut, Path: "/files/uploads/{id}/blocks/{index}", OperationID: "putUploadBlock", Capability: CapWrite,
		Summary:     "Upload one block",
		Description: "Stages block index (0 to block_count-1) with exactly its length as the raw body. Blocks may be sent in any order and in parallel; sending a block again replaces it.",
		Params: []registry.Param{uploadIDParam,
			{Name: "index", In: "path", Required: true, Type: "integer", Description: "The block number, from 0.", Example: 0}},
		RequestBody: &registry.RequestBody{ContentType: registry.ContentTypeBinary, Example: "id,name\n1,a\n",
			Description: "The block's bytes, exactly its length: block_size, or the rest of the file for the last block."},
		Responses: map[int]registry.Response{http.StatusNoContent: {Description: "The block is staged."}},
		Errors:    []int{http.StatusGone},
		Handler:   s.putBlock,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/files/uploads/{id}/complete", OperationID: "completeUploadSession", Capability: CapWrite,
		Summary:     "Complete a two-step upload",
		Description: "Checks every block is staged with its exact length, commits them as the file and queues processing. Missing blocks are a 409 that lists them.",
		Params:      []registry.Param{uploadIDParam},
		Responses:   map[int]registry.Response{http.StatusCreated: {Description: "The stored file, status processing.", Body: File{}}},
		Errors:      []int{http.StatusConflict, http.StatusGone, http.StatusRequestEntityTooLarge},
		Handler:     s.completeUpload,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodDelete, Path: "/files/uploads/{id}", OperationID: "abortUploadSession", Capability: CapWrite,
		Summary:     "Abort a two-step upload",
		Description: "Deletes the session; its staged blocks are discarded by the storage service.",
		Params:      []registry.Param{uploadIDParam},
		Responses:   map[int]registry.Response{http.StatusNoContent: {Description: "The session is gone."}},
		Handler:     s.abortUpload,
	})
}

func (s *Service) registerFolders(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/files/folders", OperationID: "createFolder", Capability: CapWrite,
		Summary:     "Create a folder",
		Description: "Creates a folder under parent_id, or at the root. Names are unique within a parent.",
		Request:     CreateFolderRequest{},
		Responses:   map[int]registry.Response{http.StatusCreated: {Description: "The folder.", Body: Folder{}}},
		Errors:      []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:     s.createFolder,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/files/folders", OperationID: "listFolders", Capability: CapRead,
		Summary:     "List folders",
		Description: "Lists the subfolders of parent_id (the root when absent) by name, with cursor pagination.",
		Params: []registry.Param{{Name: "parent_id", In: "query", Type: "string", Description: "The parent folder; absent for the root."},
			limitParam, cursorParam},
		Responses: map[int]registry.Response{http.StatusOK: {Description: "A page of folders.", Body: httpx.Page[Folder]{}}},
		Handler:   s.listFolders,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/files/folders/{id}", OperationID: "getFolder", Capability: CapRead,
		Summary:     "Get a folder",
		Description: "Returns a folder with its full path.",
		Params:      []registry.Param{folderIDParam},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The folder.", Body: Folder{}}},
		Handler:     s.getFolder,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPatch, Path: "/files/folders/{id}", OperationID: "updateFolder", Capability: CapWrite,
		Summary:     "Rename or move a folder",
		Description: "Renames the folder or moves it under another parent (empty parent_id for the root), with all it contains. A folder cannot move into itself or its subfolders.",
		Params:      []registry.Param{folderIDParam},
		Request:     UpdateFolderRequest{},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "The folder.", Body: Folder{}}},
		Errors:      []int{http.StatusConflict, http.StatusUnsupportedMediaType},
		Handler:     s.updateFolder,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodDelete, Path: "/files/folders/{id}", OperationID: "deleteFolder", Capability: CapWrite,
		Summary:     "Delete a folder recursively",
		Description: "Removes the folder and its subfolders from view at once and queues a background job that deletes every file in them (each emits file.deleted).",
		Params:      []registry.Param{folderIDParam},
		Responses:   map[int]registry.Response{http.StatusAccepted: {Description: "The folder, status deleting.", Body: Folder{}}},
		Handler:     s.deleteFolder,
	})
}

func (s *Service) registerShares(reg *registry.Registry) {
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodPost, Path: "/files/files/{id}/shares", OperationID: "createShareLink", Capability: CapShare,
		Summary:     "Create a share link",
		Description: "Creates a public download link with an optional expiry, password and download limit. The token (256 random bits) is shown only in this response.",
		Params:      []registry.Param{fileIDParam},
		Request:     CreateShareRequest{},
		Responses:   map[int]registry.Response{http.StatusCreated: {Description: "The link with its token.", Body: ShareLink{}}},
		Errors:      []int{http.StatusUnsupportedMediaType},
		Handler:     s.createShare,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/files/files/{id}/shares", OperationID: "listShareLinks", Capability: CapShare,
		Summary:     "List a file's share links",
		Description: "Lists the file's links, newest first, with their download counts; tokens are never shown again.",
		Params:      []registry.Param{fileIDParam, limitParam, cursorParam},
		Responses:   map[int]registry.Response{http.StatusOK: {Description: "A page of links.", Body: httpx.Page[ShareLink]{}}},
		Handler:     s.listShares,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodDelete, Path: "/files/files/{id}/shares/{share_id}", OperationID: "revokeShareLink", Capability: CapShare,
		Summary:     "Revoke a share link",
		Description: "Stops the link at once. Revoking a revoked link succeeds.",
		Params: []registry.Param{fileIDParam,
			{Name: "share_id", In: "path", Required: true, Type: "string", Description: "The link's id.", Example: "shr_01jd8x3k6m4v0q9s7t2w5y8z1a"}},
		Responses: map[int]registry.Response{http.StatusNoContent: {Description: "The link is revoked."}},
		Handler:   s.revokeShare,
	})
	reg.Add(registry.Route{
		Plugin: Plugin, Method: http.MethodGet, Path: "/files/shared/{token}", OperationID: "downloadSharedFile", Auth: registry.AuthPublic,
		Summary: "Download through a share link",
		Description: "Public: the link's token is the only credential, with the password in X-Share-Password when the link has one. Supports the same Range and conditional requests as downloadFile. " +
			"An unknown, revoked or deleted-file link is 404 (no way to tell which); an expired or used-up link is 410; a missing or wrong password is 401. Each admitted request counts as one download.",
		Params: []registry.Param{
			{Name: "token", In: "path", Required: true, Type: "string", Description: "The share link's token."},
			{Name: PasswordHeader, In: "header", Type: "string", Description: "The link's password, when it has one."},
		},
		Responses: map[int]registry.Response{
			http.StatusOK:             {Description: "The whole file, as its stored media type.", ContentType: "*/*"},
			http.StatusPartialContent: {Description: "The requested range, or multipart/byteranges for several ranges.", ContentType: "*/*"},
			http.StatusNotModified:    {Description: "The client's copy is current."},
		},
		Errors:    []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusGone, http.StatusPreconditionFailed},
		Streaming: true,
		Handler:   s.sharedDownload,
	})
}

package files

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/shared/httpx"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/problem"
	"github.com/booga-enterprise/functions/shared/request"
)

// PasswordHeader carries a share link's password on the public download.
const PasswordHeader = "X-Share-Password"

// tokenBytes is the share-link token's entropy: 256 bits.
const tokenBytes = 32

// MaxPasswordBytes bounds the PBKDF2 input.
const MaxPasswordBytes = 1024

// CreateShareRequest creates a share link.
type CreateShareRequest struct {
	ExpiresAt    *time.Time `json:"expires_at,omitempty" doc:"When the link stops working; absent for never."`
	Password     string     `json:"password,omitempty" doc:"Optional password the downloader sends in the X-Share-Password header. Stored only as a PBKDF2 hash."`
	MaxDownloads *int       `json:"max_downloads,omitempty" doc:"How many downloads the link allows; absent for no limit."`
}

// ShareLink is a share link. Token and URL are returned only on creation.
type ShareLink struct {
	ID            string     `json:"id" example:"shr_01jd8x3k6m4v0q9s7t2w5y8z1a"`
	FileID        string     `json:"file_id"`
	Token         string     `json:"token,omitempty" doc:"The link's secret; shown only in the create response."`
	URL           string     `json:"url,omitempty" doc:"Public download path; shown only in the create response." example:"/api/files/shared/3q2-7w..."`
	HasPassword   bool       `json:"has_password"`
	ExpiresAt     *time.Time `json:"expires_at"`
	MaxDownloads  *int       `json:"max_downloads"`
	DownloadCount int        `json:"download_count"`
	RevokedAt     *time.Time `json:"revoked_at"`
	CreatedBy     string     `json:"created_by"`
	CreatedAt     time.Time  `json:"created_at"`
}

func hashToken(token []byte) []byte {
	sum := sha256.Sum256(token)
	return sum[:]
}

func (s *Service) createShare(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	var req CreateShareRequest
	if err := httpx.DecodeJSON(w, r, &req); err != nil {
		return err
	}
	now := s.now()
	var fields []problem.FieldError
	if req.ExpiresAt != nil && !req.ExpiresAt.After(now) {
		fields = append(fields, problem.FieldError{Field: "expires_at", Code: "range", Message: "must be in the future"})
	}
	if req.MaxDownloads != nil && *req.MaxDownloads < 1 {
		fields = append(fields, problem.FieldError{Field: "max_downloads", Code: "range", Message: fmt.Sprintf("must be at least 1, got %d", *req.MaxDownloads)})
	}
	if len(req.Password) > MaxPasswordBytes {
		fields = append(fields, problem.FieldError{Field: "password", Code: "too_long", Message: fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes)})
	}
	if len(fields) > 0 {
		return problem.Invalid(fields...)
	}

	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	f, err := getFile(ctx, tx, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}

	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("generate share token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	var pwHash, pwSalt []byte
	var iterations *int
	if req.Password != "" {
		pwSalt = make([]byte, 16)
		if _, err := rand.Read(pwSalt); err != nil {
			return fmt.Errorf("generate password salt: %w", err)
		}
		if pwHash, err = pbkdf2.Key(sha256.New, req.Password, pwSalt, s.PasswordIterations, 32); err != nil {
			return fmt.Errorf("hash share password: %w", err)
		}
		iterations = &s.PasswordIterations
	}
	link := ShareLink{ID: ids.New("shr"), FileID: f.ID, Token: token, URL: "/api/files/shared/" + token,
		HasPassword: req.Password != "", ExpiresAt: req.ExpiresAt, MaxDownloads: req.MaxDownloads, CreatedBy: p.ID, CreatedAt: now}
	_, err = tx.Exec(ctx, `
		INSERT INTO file_share_links (id, tenant_id, file_id, token_hash, password_hash, password_salt, password_iterations,
			expires_at, max_downloads, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		link.ID, p.TenantID, f.ID, hashToken([]byte(token)), pwHash, pwSalt, iterations, req.ExpiresAt, req.MaxDownloads, p.ID, now)
	if err != nil {
		return fmt.Errorf("insert share link: %w", err)
	}
	httpx.WriteJSON(w, http.StatusCreated, link)
	return nil
}

const shareColumns = `id, file_id, password_hash IS NOT NULL, expires_at, max_downloads, download_count, revoked_at, created_by, created_at`

func scanShare(row pgx.Row) (ShareLink, error) {
	var l ShareLink
	err := row.Scan(&l.ID, &l.FileID, &l.HasPassword, &l.ExpiresAt, &l.MaxDownloads, &l.DownloadCount, &l.RevokedAt, &l.CreatedBy, &l.CreatedAt)
	return l, err
}

func (s *Service) listShares(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	page, err := httpx.ParsePage(r)
	if err != nil {
		return err
	}
	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	f, err := getFile(ctx, tx, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT `+shareColumns+` FROM file_share_links
		WHERE file_id = $1 AND ($2 = '' OR id < $2) ORDER BY id DESC LIMIT $3`, f.ID, page.After, page.Limit+1)
	if err != nil {
		return fmt.Errorf("list share links: %w", err)
	}
	links, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ShareLink, error) { return scanShare(row) })
	if err != nil {
		return fmt.Errorf("list share links: %w", err)
	}
	httpx.WriteJSON(w, http.StatusOK, httpx.NewPage(links, page, func(l ShareLink) string { return l.ID }))
	return nil
}

// revokeShare revokes a link at once. Revoking a revoked link succeeds.
func (s *Service) revokeShare(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	tx, err := request.Tx(ctx)
	if err != nil {
		return err
	}
	f, err := getFile(ctx, tx, mux.Vars(r)["id"], false)
	if err != nil {
		return err
	}
	id := mux.Vars(r)["share_id"]
	tag, err := tx.Exec(ctx, `UPDATE file_share_links SET revoked_at = coalesce(revoked_at, $3) WHERE id = $1 AND file_id = $2`, id, f.ID, s.now())
	if err != nil {
		return fmt.Errorf("revoke share link: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return problem.NotFound("share link", id)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// errShareNotFound is the one error for an unknown, malformed or revoked
// token and for a link whose file was deleted, so a caller cannot tell which.
var errShareNotFound = problem.New(problem.CodeNotFound, "No share link matches this URL.")

// sharedDownload is the public download: the token is the only credential.
// Unknown, revoked and deleted-file links get the same 404. An expired link
// or one whose download limit is used up gets 410, so a holder of a real
// link learns why it stopped working. A missing or wrong password gets 401.
// Each request that passes these checks counts as one download.
func (s *Service) sharedDownload(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := s.storage(ctx); err != nil {
		return err
	}
	raw, err := base64.RawURLEncoding.DecodeString(mux.Vars(r)["token"])
	if err != nil || len(raw) != tokenBytes {
		return errShareNotFound
	}
	token := []byte(mux.Vars(r)["token"])
	want := hashToken(token)

	var linkID, tenantID string
	var stored []byte
	err = s.Pool.QueryRow(ctx, `SELECT id, tenant_id, token_hash FROM files_find_share_link($1)`, want).Scan(&linkID, &tenantID, &stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return errShareNotFound
	}
	if err != nil {
		return fmt.Errorf("find share link: %w", err)
	}
	if subtle.ConstantTimeCompare(stored, want) != 1 {
		return errShareNotFound
	}

	var f File
	err = s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		f, err = s.admitShare(r, tx, linkID)
		return err
	})
	if err != nil {
		return err
	}
	return s.serveFile(w, r, tenantID, f, "attachment")
}

// admitShare checks the link in the tenant's transaction and counts the
// download. The row lock makes the count limit exact under concurrency.
func (s *Service) admitShare(r *http.Request, tx pgx.Tx, linkID string) (File, error) {
	ctx := r.Context()
	var fileID string
	var pwHash, pwSalt []byte
	var iterations *int
	var expiresAt, revokedAt *time.Time
	var maxDownloads *int
	var count int
	err := tx.QueryRow(ctx, `
		SELECT file_id, password_hash, password_salt, password_iterations, expires_at, revoked_at, max_downloads, download_count
		FROM file_share_links WHERE id = $1 FOR UPDATE`, linkID).
		Scan(&fileID, &pwHash, &pwSalt, &iterations, &expiresAt, &revokedAt, &maxDownloads, &count)
	if errors.Is(err, pgx.ErrNoRows) {
		return File{}, errShareNotFound
	}
	if err != nil {
		return File{}, fmt.Errorf("load share link: %w", err)
	}

	if revokedAt != nil {
		return File{}, errShareNotFound
	}
	f, err := getFile(ctx, tx, fileID, false)
	if err != nil {
		return File{}, errShareNotFound
	}
	now := s.now()
	if expiresAt != nil && !now.Before(*expiresAt) {
		return File{}, problem.New(problem.CodeGone, "This share link expired at %s.", expiresAt.UTC().Format(time.RFC3339))
	}
	if maxDownloads != nil && count >= *maxDownloads {
		return File{}, problem.New(problem.CodeGone, "This share link's download limit of %d is used up.", *maxDownloads)
	}

	if pwHash != nil {
		// NOTE: wrong passwords are not throttled per link. The 256-bit token
		// must be known first, but with a leaked token a weak password can be
		// guessed at the speed PBKDF2 allows.
		given := r.Header.Get(PasswordHeader)
		if given == "" || len(given) > MaxPasswordBytes {
			return File{}, problem.New(problem.CodeUnauthenticated, "This share link needs a password: send it in the %s header.", PasswordHeader)
		}
		got, err := pbkdf2.Key(sha256.New, given, pwSalt, *iterations, len(pwHash))
		if err != nil {
			return File{}, fmt.Errorf("hash share password: %w", err)
		}
		if subtle.ConstantTimeCompare(got, pwHash) != 1 {
			return File{}, problem.New(problem.CodeUnauthenticated, "The password in %s is wrong.", PasswordHeader)
		}
	}

	if _, err := tx.Exec(ctx, `UPDATE file_share_links SET download_count = download_count + 1 WHERE id = $1`, linkID); err != nil {
		return File{}, fmt.Errorf("count share download: %w", err)
	}
	return f, nil
}

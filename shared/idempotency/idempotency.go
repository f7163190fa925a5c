// Package idempotency makes POST requests that carry an Idempotency-Key safe
// to retry. The first request with a key runs, and a repeat with the same
// body gets the stored response. A repeat with another body is 422, and a
// repeat while the first is still running is 409.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/problem"
)

// Header is the request header that carries the key.
const Header = "Idempotency-Key"

// MaxKeyLength is the longest accepted key.
const MaxKeyLength = 255

// StaleAfter is how long a "running" record blocks repeats. A process that
// died mid-request leaves such a record; after StaleAfter a repeat takes it
// over and runs the request again.
const StaleAfter = 2 * time.Minute

// Store reads and writes idempotency records.
type Store struct {
	Pool      *pgxpool.Pool
	Retention time.Duration
	Now       func() time.Time
}

// Scope identifies whose key it is: keys are per caller, not global.
type Scope struct {
	TenantID    string
	PrincipalID string
	Key         string
}

// Stored is a completed response.
type Stored struct {
	Status int
	Header http.Header
	Body   []byte
}

// ValidateKey checks the header value.
func ValidateKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLength {
		return invalidKey(fmt.Sprintf("must be 1 to %d characters", MaxKeyLength))
	}
	for _, c := range []byte(key) {
		if c < 0x21 || c > 0x7e {
			return invalidKey("must contain only printable ASCII characters without spaces")
		}
	}
	return nil
}

func invalidKey(msg string) error {
	return &problem.Error{Code: problem.CodeBadRequest, Detail: Header + ": " + msg + ". Use a UUID per logical operation.",
		Fields: []problem.FieldError{{Field: Header, Code: "invalid", Message: msg}}}
}

// RequestHash fingerprints what must match for a repeat to be a replay.
func RequestHash(method, path string, body []byte) []byte {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(body)
	return h.Sum(nil)
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Begin claims the key for this request. It returns a stored response to
// replay, or nil when the caller should run the request and then call
// Complete in the request's transaction (or Release if it fails).
func (s *Store) Begin(ctx context.Context, sc Scope, method, path string, hash []byte) (*Stored, error) {
	var replay *Stored
	err := postgres.InTenant(ctx, s.Pool, sc.TenantID, func(tx pgx.Tx) error {
		now := s.now()
		tag, err := tx.Exec(ctx, `
			INSERT INTO idempotency_records (tenant_id, principal_id, idempotency_key, method, path, request_hash, state, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, $8)
			ON CONFLICT (tenant_id, principal_id, idempotency_key) DO NOTHING`,
			sc.TenantID, sc.PrincipalID, sc.Key, method, path, hash, now, now.Add(s.Retention))
		if err != nil {
			return fmt.Errorf("insert idempotency record: %w", err)
		}
		if tag.RowsAffected() == 1 {
			return nil
		}

		var (
			storedHash []byte
			state      string
			status     *int
			header     []byte
			body       []byte
			createdAt  time.Time
			expiresAt  time.Time
		)
		err = tx.QueryRow(ctx, `
			SELECT request_hash, state, response_status, response_header, response_body, created_at, expires_at
			FROM idempotency_records
			WHERE tenant_id = $1 AND principal_id = $2 AND idempotency_key = $3
			FOR UPDATE`, sc.TenantID, sc.PrincipalID, sc.Key).
			Scan(&storedHash, &state, &status, &header, &body, &createdAt, &expiresAt)
		if err != nil {
			return fmt.Errorf("read idempotency record: %w", err)
		}

		expired := !now.Before(expiresAt)
		abandoned := state == "running" && now.Sub(createdAt) > StaleAfter
		if expired || abandoned {
			_, err := tx.Exec(ctx, `
				UPDATE idempotency_records SET method = $4, path = $5, request_hash = $6, state = 'running',
					response_status = NULL, response_header = NULL, response_body = NULL, created_at = $7, expires_at = $8
				WHERE tenant_id = $1 AND principal_id = $2 AND idempotency_key = $3`,
				sc.TenantID, sc.PrincipalID, sc.Key, method, path, hash, now, now.Add(s.Retention))
			if err != nil {
				return fmt.Errorf("take over idempotency record: %w", err)
			}
			return nil
		}
		if string(storedHash) != string(hash) {
			return problem.New(problem.CodeIdempotencyReuse,
				"Idempotency-Key %q was already used with a different request. Use a new key for a new request.", sc.Key)
		}
		if state == "running" {
			return &problem.Error{Code: problem.CodeConflict, RetryAfter: time.Second,
				Detail: "A request with this Idempotency-Key is still being processed. Retry after it finishes."}
		}
		h := http.Header{}
		if len(header) > 0 {
			if err := json.Unmarshal(header, &h); err != nil {
				return fmt.Errorf("decode stored headers: %w", err)
			}
		}
		replay = &Stored{Status: *status, Header: h, Body: body}
		return nil
	})
	return replay, err
}

// Complete stores the response in tx, the request's own transaction, so the
// record commits exactly when the change does.
func (s *Store) Complete(ctx context.Context, tx pgx.Tx, sc Scope, resp Stored) error {
	header, err := json.Marshal(resp.Header)
	if err != nil {
		return fmt.Errorf("encode response headers: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		UPDATE idempotency_records SET state = 'completed', response_status = $4, response_header = $5, response_body = $6
		WHERE tenant_id = $1 AND principal_id = $2 AND idempotency_key = $3 AND state = 'running'`,
		sc.TenantID, sc.PrincipalID, sc.Key, resp.Status, header, resp.Body)
	if err != nil {
		return fmt.Errorf("complete idempotency record: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return errors.New("complete idempotency record: the record is no longer running")
	}
	return nil
}

// Release deletes the claim of a request that failed, so the client may retry it.
func (s *Store) Release(ctx context.Context, sc Scope) error {
	return postgres.InTenant(ctx, s.Pool, sc.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			DELETE FROM idempotency_records
			WHERE tenant_id = $1 AND principal_id = $2 AND idempotency_key = $3 AND state = 'running'`,
			sc.TenantID, sc.PrincipalID, sc.Key)
		return err
	})
}

// DeleteExpired removes records past retention for one tenant; the clean-up
// timer calls it per tenant.
func (s *Store) DeleteExpired(ctx context.Context, tx pgx.Tx) (int64, error) {
	tag, err := tx.Exec(ctx, `DELETE FROM idempotency_records WHERE expires_at < $1`, s.now())
	if err != nil {
		return 0, fmt.Errorf("delete expired idempotency records: %w", err)
	}
	return tag.RowsAffected(), nil
}

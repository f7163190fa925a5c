// Package tenancy creates and lists tenants. Everything else about a tenant
// (its rows, its isolation) is enforced by row-level security in PostgreSQL.
package tenancy

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/apikeys"
	"github.com/booga-enterprise/functions/shared/ids"
	"github.com/booga-enterprise/functions/shared/request"
)

// Tenant is a customer of the platform.
type Tenant struct {
	ID                 string    `json:"id"`
	Name               string    `json:"name"`
	Type               string    `json:"type"`
	RateLimitPerMinute int       `json:"rate_limit_per_minute"`
	RateLimitPerHour   int       `json:"rate_limit_per_hour"`
	CreatedAt          time.Time `json:"created_at"`
}

// Created is a new tenant with its first credential: a corporate tenant's
// admin key, or a developer tenant's first user.
type Created struct {
	Tenant
	// TenantID repeats Tenant.ID under an explicit name for scripts.
	TenantID string `json:"tenant_id"`
	APIKey   string `json:"api_key,omitempty"`
	KeyID    string `json:"key_id,omitempty"`
	UserID   string `json:"user_id,omitempty"`
	Email    string `json:"email,omitempty"`
}

// CreateRequest describes a new tenant.
type CreateRequest struct {
	Name               string
	Type               request.TenantType
	OwnerEmail         string // developer tenants: the first user's address
	RateLimitPerMinute int
	RateLimitPerHour   int
}

// Create makes a tenant in one transaction: a corporate tenant with an admin
// key holding every capability, or a developer tenant with its first user and
// no key.
func Create(ctx context.Context, pool *pgxpool.Pool, keys *apikeys.Service, req CreateRequest) (Created, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" || len(name) > 200 {
		return Created{}, fmt.Errorf("--name must be 1 to 200 characters")
	}
	if req.Type != request.Corporate && req.Type != request.Developer {
		return Created{}, fmt.Errorf("--type must be corporate or developer, got %q", req.Type)
	}
	email := strings.TrimSpace(req.OwnerEmail)
	if req.Type == request.Developer {
		if email == "" {
			email = "owner@example.com"
		}
		if _, err := mail.ParseAddress(email); err != nil {
			return Created{}, fmt.Errorf("--email %q is not a valid email address", email)
		}
	}

	out := Created{Tenant: Tenant{ID: ids.New(ids.Tenant), Name: name, Type: string(req.Type),
		RateLimitPerMinute: req.RateLimitPerMinute, RateLimitPerHour: req.RateLimitPerHour}}
	out.TenantID = out.ID
	err := postgres.InTenant(ctx, pool, out.ID, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO tenants (id, name, type, rate_limit_per_minute, rate_limit_per_hour)
			VALUES ($1, $2, $3, $4, $5) RETURNING created_at`,
			out.ID, out.Name, out.Type, out.RateLimitPerMinute, out.RateLimitPerHour).Scan(&out.CreatedAt)
		if err != nil {
			return fmt.Errorf("insert tenant: %w", err)
		}
		if req.Type == request.Developer {
			out.UserID, out.Email = ids.New(ids.User), email
			_, err := tx.Exec(ctx, `INSERT INTO users (id, tenant_id, email, display_name, status) VALUES ($1, $2, $3, $4, 'active')`,
				out.UserID, out.ID, email, "Owner")
			if err != nil {
				return fmt.Errorf("insert first user: %w", err)
			}
			return nil
		}
		k, err := keys.CreateAdmin(ctx, tx, out.ID, "Admin key")
		if err != nil {
			return err
		}
		out.APIKey, out.KeyID = k.APIKey, k.ID
		return nil
	})
	return out, err
}

// List returns every tenant, for the operator command line.
func List(ctx context.Context, pool *pgxpool.Pool) ([]Tenant, error) {
	rows, err := pool.Query(ctx, `SELECT id, name, type, created_at FROM admin_list_tenants()`)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	defer rows.Close()
	var out []Tenant
	for rows.Next() {
		var t Tenant
		if err := rows.Scan(&t.ID, &t.Name, &t.Type, &t.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan tenant: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

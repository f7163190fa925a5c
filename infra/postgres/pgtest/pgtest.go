// Package pgtest gives each test its own migrated PostgreSQL database.
//
// The first caller in a run migrates a template database named after the
// migrations' checksum; every test then clones it with CREATE DATABASE ...
// TEMPLATE, which takes tens of milliseconds, and drops its clone at cleanup.
package pgtest

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/booga-enterprise/functions/infra/postgres"
)

// AdminURL is the server the tests use: TEST_DATABASE_URL, else the local
// server on 127.0.0.1 as user postgres.
func AdminURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

var counter atomic.Int64

// NewDatabase creates a fresh migrated database and returns its URL. The
// database is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("connect to PostgreSQL at %s: %v (start it or set TEST_DATABASE_URL)", AdminURL(), err)
	}
	defer admin.Close(ctx)

	template, err := ensureTemplate(ctx, admin)
	if err != nil {
		t.Fatalf("prepare template database: %v", err)
	}
	name := fmt.Sprintf("booga_t_%d_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000, counter.Add(1))
	// CREATE DATABASE ... TEMPLATE fails while another session is connected to
	// the template, so clones are serialised with the same advisory lock.
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(727001)"); err != nil {
		t.Fatalf("lock template: %v", err)
	}
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template)
	_, _ = admin.Exec(ctx, "SELECT pg_advisory_unlock(727001)")
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(AdminURL(), name)
}

// NewPool creates a fresh database and a pool on it that runs as the
// application role, as the server does.
func NewPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	dbURL := NewDatabase(t)
	pool, err := postgres.Open(context.Background(), dbURL, postgres.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, dbURL
}

func ensureTemplate(ctx context.Context, admin *pgx.Conn) (string, error) {
	sum, err := postgres.MigrationsChecksum()
	if err != nil {
		return "", err
	}
	name := "booga_tpl_" + hex.EncodeToString(sum[:6])
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock(727001)"); err != nil {
		return "", err
	}
	defer func() { _, _ = admin.Exec(context.Background(), "SELECT pg_advisory_unlock(727001)") }()

	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_build"
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	if err := postgres.Migrate(ctx, withDatabase(AdminURL(), building)); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + strings.TrimPrefix(name, "/")
	return u.String()
}

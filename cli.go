package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/request"
	"github.com/booga-enterprise/functions/shared/tenancy"
)

func migrate(ctx context.Context, cfg config.Config) error {
	return postgres.Migrate(ctx, cfg.DatabaseURL)
}

// runCLI serves the operator commands. Their output is one JSON document on
// stdout, so scripts can read it.
func runCLI(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()

	sub := ""
	if len(args) > 1 {
		sub = args[1]
	}
	switch args[0] + " " + sub {
	case "tenants create":
		return createTenant(ctx, a, args[2:], stdout)
	case "tenants list":
		list, err := tenancy.List(ctx, a.pool)
		if err != nil {
			return err
		}
		if list == nil {
			list = []tenancy.Tenant{}
		}
		return writeJSON(stdout, list)
	case "keys create":
		return createKey(ctx, a, args[2:], stdout)
	}
	return fmt.Errorf("%w: unknown command %q; run 'handler help'", errUsage, strings.Join(args, " "))
}

func createTenant(ctx context.Context, a *app, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tenants create", flag.ContinueOnError)
	name := fs.String("name", "", "tenant name (required)")
	kind := fs.String("type", "corporate", "tenant type: corporate or developer")
	email := fs.String("email", "", "developer tenants: the first user's email address")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	created, err := tenancy.Create(ctx, a.pool, a.keys, tenancy.CreateRequest{
		Name: *name, Type: request.TenantType(*kind), OwnerEmail: *email,
		RateLimitPerMinute: a.cfg.RateLimitPerMinute, RateLimitPerHour: a.cfg.RateLimitPerHour,
	})
	if err != nil {
		return err
	}
	return writeJSON(stdout, created)
}

func createKey(ctx context.Context, a *app, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	tenant := fs.String("tenant", "", "tenant id (required)")
	name := fs.String("name", "", "key name (required)")
	scopes := fs.String("scopes", "", "comma-separated capabilities; default: every capability")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *tenant == "" || *name == "" {
		return fmt.Errorf("%w: --tenant and --name are required", errUsage)
	}

	// The operator acts with every capability, so any scope may be granted.
	operator := &request.Principal{Kind: request.KindAPIKey, ID: "cli", TenantID: *tenant, Scopes: a.registry.Capabilities()}
	requested := operator.Scopes
	if *scopes != "" {
		requested = strings.Split(*scopes, ",")
	}

	var out any
	err := postgres.InTenant(ctx, a.pool, *tenant, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)`, *tenant).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("no tenant with id %q exists; list them with 'handler tenants list'", *tenant)
		}
		k, err := a.keys.Create(ctx, tx, operator, apiKeyRequest(*name, requested))
		out = k
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(stdout, out)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

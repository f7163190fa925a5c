package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/discovery"
	"github.com/booga-enterprise/functions/shared/events"
	"github.com/booga-enterprise/functions/shared/openapi"
	"github.com/booga-enterprise/functions/shared/registry"
)

// publish writes the OpenAPI documents or an SDK. It needs no database or
// Redis: the registry only records the handlers, which never run here.
func publish(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	a := &app{cfg: cfg, logger: slog.Default(), registry: registry.New()}
	a.registerRoutes(time.Now)
	return discovery.CommandWith(ctx, a.registry, openapi.Options{Events: events.OpenAPITypes()}, args, stdout)
}

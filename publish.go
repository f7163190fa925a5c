package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/discovery"
	"github.com/booga-enterprise/functions/shared/registry"
)

// publish writes the OpenAPI documents or an SDK. It needs no database or
// Redis: the registry only records the handlers, which never run here.
func publish(ctx context.Context, cfg config.Config, args []string, stdout io.Writer) error {
	a := &app{cfg: cfg, logger: slog.Default(), registry: registry.New()}
	a.registerRoutes(time.Now)
	return discovery.Command(ctx, a.registry, args, stdout)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"time"

	"github.com/booga-enterprise/functions/functions"
	"github.com/booga-enterprise/functions/functions/organizations"
	"github.com/booga-enterprise/functions/infra/postgres"
	"github.com/booga-enterprise/functions/shared/cleanup"
	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/customhandler"
	"github.com/booga-enterprise/functions/shared/localrt"
	"github.com/booga-enterprise/functions/shared/queue"
	"github.com/booga-enterprise/functions/shared/usage"
)

// shutdownTimeout bounds how long in-flight requests may finish after
// SIGINT or SIGTERM.
const shutdownTimeout = 25 * time.Second

// serveHost is the mode the Functions host starts: it listens on
// FUNCTIONS_CUSTOMHANDLER_PORT and does no migrations or timers itself.
func serveHost(ctx context.Context, cfg config.Config, logger *slog.Logger) error {
	if cfg.Port == "" {
		return errors.New("FUNCTIONS_CUSTOMHANDLER_PORT is not set: the Functions host sets it; for local mode run 'handler dev'")
	}
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	a.background(ctx)
	return listenAndServe(ctx, "127.0.0.1:"+cfg.Port, a.handler(), logger)
}

// serveLocal is local mode: it applies migrations, serves the API and runs
// the timer and queue triggers that the Functions host would run in Azure.
func serveLocal(ctx context.Context, cfg config.Config, logger *slog.Logger, stdout io.Writer) error {
	port := cfg.Port
	if port == "" {
		port = "7071"
	}
	if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	a, err := newApp(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.close()
	a.background(ctx)

	defs, err := functions.Definitions()
	if err != nil {
		return fmt.Errorf("read function definitions: %w", err)
	}
	handler := a.handler()
	rt, err := localrt.New(localrt.Options{Handler: handler, Functions: defs, Queue: queue.NewStore(a.pool), Logger: logger})
	if err != nil {
		return fmt.Errorf("start local runtime: %w", err)
	}
	runtimeDone := make(chan error, 1)
	go func() { runtimeDone <- rt.Run(ctx) }()

	fmt.Fprintf(stdout, "serving http://localhost:%s/api/ (local mode); Ctrl-C stops\n", port)
	serveErr := listenAndServe(ctx, "127.0.0.1:"+port, handler, logger)
	if err := <-runtimeDone; err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("local runtime stopped with an error", "error", err)
	}
	return serveErr
}

// invocationHandler serves the non-HTTP functions: POST /{FunctionName}.
func (a *app) invocationHandler() http.Handler {
	funcs := map[string]customhandler.FunctionFunc{
		"file-processing": a.files.ProcessingFunction(), "files-cleanup": a.files.CleanupFunction(),
		"usage-drain": func(ctx context.Context, _ customhandler.Invocation) (any, error) {
			res, err := usage.Drain(ctx, a.pool, a.rdb, usage.DrainOptions{Logger: a.logger,
				Stream: a.redisPrefix + usage.DefaultStream})
			return res, err
		},
	}
	funcs["queue-relay"] = func(ctx context.Context, _ customhandler.Invocation) (any, error) {
		// Locally the runtime consumes queue_messages itself; in Azure the
		// rows written by queue.PublishTx go on to Service Bus from here.
		if a.cfg.ServiceBusNamespace == "" {
			return queue.ForwardResult{}, nil
		}
		fw := &queue.Forwarder{Pool: a.pool, Publisher: a.integrations.Publisher, Logger: a.logger}
		return fw.Forward(ctx)
	}
	funcs["cleanup"] = func(ctx context.Context, _ customhandler.Invocation) (any, error) {
		return cleanup.Run(ctx, a.pool, a.now())
	}
	funcs["org-unit-deletion"] = (&organizations.UnitDeletionJob{Pool: a.pool, Logger: a.logger, Now: a.now}).Function()
	maps.Copy(funcs, a.integrations.Functions())
	return customhandler.NewHandler(funcs, a.logger)
}

// listenAndServe serves until ctx ends, then shuts down gracefully.
func listenAndServe(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	logger.Info("listening", "address", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	logger.Info("stopped")
	return nil
}

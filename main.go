// Command handler is the Booga Enterprise Functions custom handler: the one
// binary the Azure Functions host starts, and the local mode and operator
// command line.
//
//	handler                 serve the Functions host on FUNCTIONS_CUSTOMHANDLER_PORT
//	handler dev             local mode: migrate, serve on :7071, run timers and the queue
//	handler migrate         apply database migrations
//	handler tenants create  --name NAME --type corporate|developer [--email ADDRESS]
//	handler tenants list
//	handler keys create     --tenant ID --name NAME [--scopes a:b,c:d]
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/booga-enterprise/functions/shared/config"
	"github.com/booga-enterprise/functions/shared/logging"
)

// defaultGCPercent replaces Go's default GOGC of 100 unless GOGC is set. The
// request path allocates about 12 KB per request over a live heap of a few
// megabytes, so at 100 the collector ran many times a second. At 400 the
// heap may grow to five times the live data. That costs tens of megabytes;
// A/B runs with wrk showed a few percent more throughput, within run-to-run
// noise on the two-core benchmark machine.
const defaultGCPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usageText = `usage: handler [command]

Commands:
  (none)            serve the Azure Functions host on FUNCTIONS_CUSTOMHANDLER_PORT
  dev               local mode: migrate, serve on port 7071 (or FUNCTIONS_CUSTOMHANDLER_PORT),
                    fire timer functions and drain the local queue
  migrate           apply pending database migrations
  tenants create    --name NAME --type corporate|developer [--email ADDRESS]
  tenants list
  keys create       --tenant ID --name NAME [--scopes CAPABILITY,...]
  openapi           [--plugin NAME] [--format json|yaml] [--out DIR]
  sdk LANGUAGE      [--out DIR]

Configuration comes from environment variables; see README.md.
`

// run loads the configuration and dispatches the command.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, cfgErr := config.Load()
	logger := logging.New(stderr, cfg.LogLevel)
	slog.SetDefault(logger)

	command := ""
	if len(args) > 0 {
		command = args[0]
	}
	if command == "help" || command == "-h" || command == "--help" {
		fmt.Fprint(stdout, usageText)
		return nil
	}
	if command == "openapi" || command == "sdk" {
		err := publish(ctx, cfg, args, stdout)
		if err != nil {
			logger.Error("command failed", "command", command, "error", err)
		}
		return err
	}
	if cfgErr != nil {
		logger.Error("invalid configuration", "error", cfgErr)
		return cfgErr
	}

	var err error
	switch command {
	case "":
		err = serveHost(ctx, cfg, logger)
	case "dev":
		err = serveLocal(ctx, cfg, logger, stdout)
	case "migrate":
		err = migrate(ctx, cfg)
	case "tenants", "keys":
		err = runCLI(ctx, cfg, args, stdout)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", command, usageText)
		return errUsage
	}
	if err != nil && !errors.Is(err, errUsage) {
		logger.Error("command failed", "command", command, "error", err)
	}
	return err
}

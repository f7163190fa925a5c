package discovery

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/booga-enterprise/functions/shared/openapi"
	"github.com/booga-enterprise/functions/shared/registry"
	"github.com/booga-enterprise/functions/shared/sdkgen"
)

// Command runs a publishing subcommand with default OpenAPI options:
//
//	openapi [--plugin P] [--format json|yaml] [--out DIR]
//	sdk LANGUAGE [--out DIR]
//
// Without --out the one document or SDK goes to stdout. With --out, openapi
// writes openapi.json and openapi.yaml (or only --format) for the combined
// document, or openapi-<plugin>.<format> with --plugin, and sdk writes the
// SDK's file name into DIR. Output is byte-identical for the same code.
func Command(ctx context.Context, reg *registry.Registry, args []string, stdout io.Writer) error {
	return CommandWith(ctx, reg, openapi.Options{}, args, stdout)
}

// CommandWith is Command with OpenAPI options, such as the webhook events
// and the production server URLs.
func CommandWith(ctx context.Context, reg *registry.Registry, opts openapi.Options, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("missing subcommand: use openapi or sdk")
	}
	switch args[0] {
	case "openapi":
		return openapiCommand(reg, opts, args[1:], stdout)
	case "sdk":
		return sdkCommand(reg, opts, args[1:], stdout)
	}
	return fmt.Errorf("unknown subcommand %q: use openapi or sdk", args[0])
}

func openapiCommand(reg *registry.Registry, opts openapi.Options, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("openapi", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	pluginName := fs.String("plugin", "", "write only this plugin's document (default: the combined document)")
	format := fs.String("format", "", "json or yaml (default: json on stdout, both with --out)")
	out := fs.String("out", "", "folder to write the files into (default: stdout)")

	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("openapi: %w; usage: openapi [--plugin P] [--format json|yaml] [--out DIR]", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("openapi: unexpected argument %q", fs.Arg(0))
	}

	formats := []openapi.Format{openapi.FormatJSON, openapi.FormatYAML}
	if *format != "" {
		f, err := openapi.ParseFormat(*format)
		if err != nil {
			return fmt.Errorf("openapi: %w", err)
		}
		formats = []openapi.Format{f}
	} else if *out == "" {
		formats = formats[:1]
	}

	opts.Plugin = *pluginName
	doc, err := openapi.Generate(reg, opts)
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}

	for _, f := range formats {
		body, err := openapi.Encode(doc, f)
		if err != nil {
			return fmt.Errorf("openapi: %w", err)
		}
		if *out == "" {
			_, err := stdout.Write(body)
			return err
		}
		name := "openapi." + string(f)
		if *pluginName != "" {
			name = "openapi-" + *pluginName + "." + string(f)
		}
		if err := writeFile(*out, name, body, stdout); err != nil {
			return err
		}
	}
	return nil
}

func sdkCommand(reg *registry.Registry, opts openapi.Options, args []string, stdout io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("sdk: missing LANGUAGE; use one of %s", strings.Join(sdkgen.LanguageNames(), ", "))
	}
	lang, err := sdkgen.ParseLanguage(args[0])
	if err != nil {
		return fmt.Errorf("sdk: %w", err)
	}
	fs := flag.NewFlagSet("sdk", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "folder to write the SDK file into (default: stdout)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("sdk: %w; usage: sdk LANGUAGE [--out DIR]", err)
	}
	opts.Plugin = ""
	doc, err := openapi.Generate(reg, opts)
	if err != nil {
		return fmt.Errorf("sdk: %w", err)
	}
	f, err := sdkgen.Generate(doc, lang)
	if err != nil {
		return fmt.Errorf("sdk: %w", err)
	}
	if *out == "" {
		_, err := stdout.Write(f.Content)
		return err
	}
	return writeFile(*out, f.Name, f.Content, stdout)
}

func writeFile(dir, name string, body []byte, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create output folder: %w", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, body, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err := fmt.Fprintf(stdout, "wrote %s (%d bytes)\n", path, len(body))
	return err
}

package main

import (
	"context"
	"errors"
	"io"
)

// publish writes the OpenAPI documents or an SDK for publishing.
func (a *app) publish(ctx context.Context, args []string, stdout io.Writer) error {
	return errors.New("openapi and sdk commands are not built yet")
}

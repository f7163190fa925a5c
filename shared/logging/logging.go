// Package logging builds the process's slog logger: JSON lines on stderr,
// with the request id, tenant id and key id of the request (from the
// request package's state) added to every line logged with its context.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/booga-enterprise/functions/shared/request"
)

type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	requestID, tenantID, principalID := request.LogAttrs(ctx)
	if requestID != "" {
		r.AddAttrs(slog.String("request_id", requestID))
	}
	if tenantID != "" {
		idKey := "key_id"
		if strings.HasPrefix(principalID, "usr_") {
			idKey = "user_id"
		}
		r.AddAttrs(slog.String("tenant_id", tenantID), slog.String(idKey, principalID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

// New returns a JSON logger writing to w at the given minimum level.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(contextHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}
